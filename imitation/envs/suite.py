"""`suite`: different tasks (reach, push, drive, grasp) behind one padded interface.

A heterogeneous mixture for one multi-task policy. Each episode draws one member task
(`obs['task_id']` = its index in `tasks`); observations and actions are padded to the largest
member's sizes: `obs['state']` is the member's state followed by zeros, `obs['action_mask']`
(int32, one per action dimension) marks the member's real action dimensions, and a member
acts on the first `action_size` entries of the padded action. BC's loss counts only the
masked dimensions (agents/bc.py); the expert's padded dimensions are 0.

`tasks` picks which members episodes draw (one, for a single-task baseline) while sizes and
task ids stay the whole suite's, so single-member datasets mix into one.

Every member lives in the suite's state and steps every step (members cannot share a
vectorised batch otherwise), so a step costs the sum of the members' steps; only the drawn
member's observation, reward and success are seen. Each member keeps its own horizon: its
episode ends (`done`) after `horizons[i]` steps even though the rollout runs to the longest,
so the suite's episodes are the members' episodes. Members are built from the same settings
as the single tasks (configs/common.py), without actuator noise.
"""

from typing import Any, Mapping, Sequence, Tuple

import jax
from jax import numpy as jp

from brax.envs.base import Env, State

from imitation.envs import base as task_base
from imitation.envs import registry

_STEPS_KEY = 'suite_steps'


class Suite(task_base.JaxTask):
  """Observations `{'state': float32[max state], 'task_id': int32, 'action_mask': int32[A]}`."""

  def __init__(self, members: Sequence[Env], names: Sequence[str], horizons: Sequence[int],
               draw: Sequence[int] = ()):
    """Args:
      members: the member environments (unbatched), in task-id order.
      names: their names (`task_names`: what per-task results are keyed by).
      horizons: each member's episode length.
      draw: the task ids episodes draw (default: all). Sizes and ids stay the whole suite's,
        so datasets of single members mix into one suite dataset.
    """
    if not members or not len(members) == len(names) == len(horizons):
      raise ValueError('a suite needs one name and one horizon per member, and a member')
    draw = tuple(draw) or tuple(range(len(members)))
    if not set(draw) <= set(range(len(members))):
      raise ValueError(f'draw must list task ids of the {len(members)} members, got {draw}')
    self._draw = jp.asarray(draw, jp.int32)
    self._members = tuple(members)
    self._names = tuple(names)
    self._horizons = jp.asarray(horizons, jp.int32)
    specs = [task_base.observation_spec(m) for m in self._members]
    for name, spec in zip(names, specs):
      if set(spec) != {'state'}:
        raise ValueError(f'suite members must observe a state vector only; {name} has '
                         f'{sorted(spec)}')
    self._state_sizes = [spec['state'].shape[-1] for spec in specs]
    self._action_sizes = [m.action_size for m in self._members]
    self._state_size = max(self._state_sizes)
    self._action_size = max(self._action_sizes)

  @property
  def action_size(self) -> int:
    return self._action_size

  @property
  def dt(self) -> float:
    return float(self._members[0].dt)

  @property
  def task_names(self) -> Tuple[str, ...]:
    return self._names

  def _pad_state(self, states):
    return jp.stack([jp.pad(s.obs['state'], (0, self._state_size - s.obs['state'].shape[-1]))
                     for s in states])

  def _observe(self, members: Tuple[State, ...], task_id: jax.Array):
    mask = jp.asarray([[int(d < size) for d in range(self._action_size)]
                       for size in self._action_sizes], jp.int32)
    return {'state': self._pad_state(members)[task_id], 'task_id': task_id,
            'action_mask': mask[task_id]}

  def _pick(self, members: Tuple[State, ...], task_id: jax.Array, field):
    return jp.stack([jp.asarray(field(m), jp.float32) for m in members])[task_id]

  def reset(self, rng: jax.Array) -> State:
    rng_task, *rngs = jax.random.split(rng, len(self._members) + 1)
    task_id = self._draw[jax.random.randint(rng_task, (), 0, len(self._draw))]
    members = tuple(m.reset(r) for m, r in zip(self._members, rngs))
    zero = jp.zeros(())
    metrics = {'success': self._pick(members, task_id, lambda m: m.metrics['success'])}
    info = {_STEPS_KEY: jp.zeros((), jp.int32), 'task_id': task_id}
    return State(members, self._observe(members, task_id), zero, zero, metrics, info)

  def step(self, state: State, action: jax.Array) -> State:
    task_id = state.info['task_id']
    members = tuple(m.step(s, action[:size]) for m, s, size in
                    zip(self._members, state.pipeline_state, self._action_sizes))
    steps = state.info[_STEPS_KEY] + 1
    done = jp.maximum(self._pick(members, task_id, lambda m: m.done),
                      (steps >= self._horizons[task_id]).astype(jp.float32))
    metrics = {'success': self._pick(members, task_id, lambda m: m.metrics['success'])}
    return state.replace(
        pipeline_state=members, obs=self._observe(members, task_id),
        reward=self._pick(members, task_id, lambda m: m.reward), done=done, metrics=metrics,
        info={**state.info, _STEPS_KEY: steps})

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """The drawn member's expert, padded with zeros."""
    rngs = jax.random.split(rng, len(self._members))
    actions = [jp.pad(task_base.expert_fn(m)(s, r), (0, self._action_size - size))
               for m, s, r, size in
               zip(self._members, state.pipeline_state, rngs, self._action_sizes)]
    return jp.stack(actions)[state.info['task_id']]


def make_suite(members: Sequence[str], member_kwargs: Mapping[str, Mapping[str, Any]],
               horizons: Mapping[str, int], tasks: Sequence[str] = ()) -> Suite:
  """The suite of the registered tasks `members` (task ids in that order), each made with
  `member_kwargs[task]` and ending its episodes after `horizons[task]` steps (configs/common.py
  gives both); episodes draw the members named in `tasks` (default: all)."""
  missing = [t for t in members if t not in member_kwargs or t not in horizons]
  if missing:
    raise ValueError(f'suite members {missing} need member_kwargs and a horizon')
  unknown = [t for t in tasks if t not in members]
  if unknown:
    raise ValueError(f'tasks {unknown} are not suite members {tuple(members)}')
  envs = [registry.make(t, **dict(member_kwargs[t])) for t in members]
  return Suite(envs, members, [int(horizons[t]) for t in members],
               draw=[list(members).index(t) for t in tasks])
