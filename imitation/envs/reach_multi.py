"""`reach_multi`: several coloured targets in one scene; `task_id` says which one to reach.

The same scene needs different actions for different tasks, so a policy must read
`obs['task_id']` (the state shows every target, not which one is wanted). Targets sit in
separate angular sectors around the shoulder, shuffled per episode, so a (task, sector)
pair is a combination that can be held out: `held_out` lists pairs that `mode='train'`
never produces and `mode='held_out'` produces exclusively.
"""

import itertools

import jax
from jax import numpy as jp

from brax.envs.base import State

from imitation.envs import base
from imitation.envs import reach

TARGET_COLORS = ((0.85, 0.15, 0.15), (0.15, 0.65, 0.25), (0.15, 0.3, 0.85), (0.9, 0.65, 0.1))


class ReachMulti(reach.Reach):
  """Multi-target reaching; observations `{'state': float32[8 + 2K], 'task_id': int32}`."""

  def __init__(
      self,
      num_targets: int = 3,
      held_out: tuple = (),
      mode: str = 'all',
      **kwargs,
  ):
    """Args:
      num_targets: targets (= tasks = sectors) per scene, at most 4.
      held_out: (task_id, sector) pairs reserved for novel-task evaluation.
      mode: 'all' draws any pair, 'train' never a held-out pair, 'held_out' only those.
      **kwargs: `Reach` arguments (target annulus, success radius, expert gains, ...).
    """
    if not 1 <= num_targets <= len(TARGET_COLORS):
      raise ValueError(f'num_targets must be in [1, {len(TARGET_COLORS)}]')
    pairs = list(itertools.product(range(num_targets), range(num_targets)))
    held_out = [tuple(p) for p in held_out]
    unknown = set(held_out) - set(pairs)
    if unknown:
      raise ValueError(f'held-out pairs {sorted(unknown)} are not (task, sector) pairs')
    pairs = base.select_combinations(pairs, held_out, mode)
    super().__init__(**kwargs)
    self._num_targets = num_targets
    self._pairs = jp.asarray(pairs, jp.int32)

  def reset(self, rng: jax.Array) -> State:
    rng_pair, rng_perm, rng_radius, rng_jitter, rng_rot, rng_arm = jax.random.split(rng, 6)
    task_id, sector = self._pairs[jax.random.randint(rng_pair, (), 0, len(self._pairs))]
    # A random sector per task, then swap so the drawn task gets the drawn sector.
    permutation = jax.random.permutation(rng_perm, self._num_targets)
    holder = jp.argmax(permutation == sector)
    sectors = permutation.at[holder].set(permutation[task_id]).at[task_id].set(sector)
    width = 2 * jp.pi / self._num_targets
    offset = jax.random.uniform(rng_rot, minval=0.0, maxval=width)  # rotate the layout
    angles = offset + sectors * width + jax.random.uniform(
        rng_jitter, (self._num_targets,), minval=0.15 * width, maxval=0.85 * width)
    radii = jax.random.uniform(
        rng_radius, (self._num_targets,), minval=self._target_radius[0],
        maxval=self._target_radius[1])
    targets = radii[:, None] * jp.stack([jp.cos(angles), jp.sin(angles)], -1)
    arm_limit = jp.array([jp.pi, self._init_elbow_max])
    arm = jax.random.uniform(rng_arm, (2,), minval=-arm_limit, maxval=arm_limit)
    # The simulator's target joints hold the wanted target, so Reach's expert applies.
    q = jp.concatenate([arm, targets[task_id]])
    pipeline_state = self.pipeline_init(q, jp.zeros(self.sys.qd_size()))
    info = {'targets': targets, 'task_id': task_id, 'sector': sector}
    obs, distance = self._observe(pipeline_state, info)
    metrics = {'success': self._success(distance), 'distance': distance}
    zero = jp.zeros(())
    return State(pipeline_state, obs, zero, zero, metrics, info)

  def _observe(self, pipeline_state, info):
    targets, task_id = info['targets'], info['task_id']
    q, qd = pipeline_state.q, pipeline_state.qd
    fingertip = self._fingertip(pipeline_state)
    state = jp.concatenate(
        [jp.cos(q[:2]), jp.sin(q[:2]), qd[:2], fingertip, targets.reshape(-1)]
    ).astype(jp.float32)
    obs = {'state': state, 'task_id': task_id.astype(jp.int32)}
    if self._image_size:
      obs['image'] = self.render_image(
          pipeline_state.x.pos[1, :2], fingertip, list(targets),
          TARGET_COLORS[: self._num_targets])
    return obs, jp.linalg.norm(targets[task_id] - fingertip)
