"""`pick_place`: carry one of three coloured blocks onto one of three pads (a long-horizon
manipulation family in plain JAX).

A gripper moves over the table (velocity control) and closes or opens. Closing within
`grasp_radius` of a block picks it up; the block then moves with the gripper until it opens.
The task id names (colour, pad), 9 combinations: carry the block of that colour onto that
pad and let go. An episode is a sequence of phases (reach, close, carry, release), each of
which must land within a few millimetres, so small action errors compound: close a little
early and the grasp misses, let go a little early and the block lies beside the pad. The
expert recovers from both (it reopens an empty gripper, lets go of a wrong block, picks a
dropped block up again); clean demonstrations never visit those states, so a cloned policy
has not seen what to do there, and DAgger's labels show it.

Observations `{'state': float32[18], 'task_id': int32}` (+ image): the gripper's position,
whether it is closed, which block it holds (one-hot), every block's and every pad's position
(the state shows every block and pad, not which is wanted: a policy must read the task id).
Action `[vx, vy, grip]` in [-1, 1]: velocity `speed * (vx, vy)`; grip > 0 closes. Some
(colour, pad) combinations can be held out of training: `mode='train'` never draws them and
`mode='held_out'` draws only them (novel-setting evaluation).
"""

from typing import Sequence, Tuple

import flax
import jax
from jax import numpy as jp
import numpy as np

from brax.envs.base import State

from imitation.envs import base as task_base
from imitation.envs import render

COLORS = ('red', 'green', 'blue')
NUM_PADS = 3
FACTOR_SIZES = (len(COLORS), NUM_PADS)
RGB = ((0.85, 0.15, 0.15), (0.15, 0.65, 0.25), (0.15, 0.3, 0.85))
TABLE = (0.9, 0.88, 0.82)
PAD = (0.7, 0.7, 0.7)
GRIPPER = (0.1, 0.1, 0.1)
NOTHING = -1  # `held` when the gripper holds no block


@flax.struct.dataclass
class Scene:
  gripper: jax.Array  # [2] position
  closed: jax.Array  # 1.0 while the gripper is closed
  held: jax.Array  # int32 index of the held block, NOTHING if none
  blocks: jax.Array  # [3, 2] per colour
  pads: jax.Array  # [3, 2] per pad
  task_id: jax.Array  # int32 flat (colour, pad) index


def task_id(color: int, pad: int) -> int:
  return int(np.ravel_multi_index((color, pad), FACTOR_SIZES))


def task_names() -> Tuple[str, ...]:
  """Each flat task id's task: the colour of the block it moves (pads are settings)."""
  return tuple(COLORS[np.unravel_index(i, FACTOR_SIZES)[0]]
               for i in range(int(np.prod(FACTOR_SIZES))))


def _combinations(tasks: Sequence[str], held_out: Sequence[Sequence[int]], mode: str):
  combinations = task_base.factor_combinations(tasks, COLORS, ('colour', 'pad'), FACTOR_SIZES,
                                               held_out, mode)
  return [task_id(*c) for c in combinations]


class PickPlace(task_base.JaxTask):
  """Carry the named block onto the named pad; observations `{'state': float32[18],
  'task_id': int32}` (+ image)."""

  def __init__(
      self,
      tasks: Sequence[str] = COLORS,
      held_out: Sequence[Sequence[int]] = (),
      mode: str = 'all',
      table_half_size: float = 0.25,
      speed: float = 0.5,
      step_time: float = 0.05,
      jitter: float = 0.03,
      start_half_size: Tuple[float, float] = (0.05, 0.2),
      grasp_radius: float = 0.012,
      success_radius: float = 0.015,
      expert_tolerance: float = 0.004,
      image_size: int = 0,
  ):
    """Args:
      tasks: which blocks (colours) episodes ask for (all by default; one for a single-task
        run; ids keep the family's numbering).
      held_out: (colour, pad) index pairs reserved for held-out evaluation.
      mode: 'all' draws any combination of `tasks`, 'train' never a held-out one,
        'held_out' only those.
      table_half_size: the table spans +-this (m); the image shows all of it.
      speed: gripper speed at action norm 1 (m/s) per axis.
      step_time: seconds per step.
      jitter: blocks and pads sit within +-this (m) of their place in the layout.
      start_half_size: the gripper starts uniformly within +-(x, y) of the table's centre.
      grasp_radius: closing picks up the nearest block if its centre is within this (m).
      success_radius: the block must end within this of the pad's centre, released (m).
      expert_tolerance: how close the expert comes before it closes or lets go (m).
      image_size: side of the top-down `image` observation in pixels; 0 leaves it out.
    """
    if not expert_tolerance < min(grasp_radius, success_radius):
      raise ValueError('the expert must close and let go within the grasp and success radii')
    self._ids = jp.asarray(_combinations(tuple(tasks), held_out, mode), jp.int32)
    self._half_size = table_half_size
    self._speed = speed
    self._dt = step_time
    self._jitter = jitter
    self._start_half_size = jp.asarray(start_half_size, jp.float32)
    self._grasp_radius = grasp_radius
    self._success_radius = success_radius
    self._tolerance = expert_tolerance
    self._image_size = image_size
    # Blocks stand in a column on the left (which colour where is shuffled per episode),
    # pads in a column on the right (pad k at place k).
    self._block_places = jp.array([[-0.15, -0.12], [-0.15, 0.0], [-0.15, 0.12]])
    self._pad_places = jp.array([[0.15, -0.12], [0.15, 0.0], [0.15, 0.12]])

  @property
  def action_size(self) -> int:
    return 3

  @property
  def dt(self) -> float:
    return self._dt

  @property
  def task_names(self) -> Tuple[str, ...]:
    return task_names()

  def reset(self, rng: jax.Array) -> State:
    rng_id, rng_perm, rng_block, rng_pad, rng_start = jax.random.split(rng, 5)
    flat_id = self._ids[jax.random.randint(rng_id, (), 0, len(self._ids))]
    places = self._block_places[jax.random.permutation(rng_perm, len(COLORS))]
    blocks = places + jax.random.uniform(rng_block, (3, 2), minval=-self._jitter,
                                         maxval=self._jitter)
    pads = self._pad_places + jax.random.uniform(rng_pad, (3, 2), minval=-self._jitter,
                                                 maxval=self._jitter)
    start = jax.random.uniform(rng_start, (2,), minval=-1.0, maxval=1.0) * self._start_half_size
    scene = Scene(start, jp.zeros(()), jp.array(NOTHING, jp.int32), blocks, pads, flat_id)
    metrics = self._metrics(scene)
    zero = jp.zeros(())
    return State(scene, self._observe(scene), metrics['success'] - metrics['distance'], zero,
                 metrics)

  def step(self, state: State, action: jax.Array) -> State:
    scene = state.pipeline_state
    action = jp.clip(action, -1.0, 1.0)
    closes = action[2] > 0
    # Closing an open gripper picks up the nearest block within reach; opening drops it.
    distances = jp.linalg.norm(scene.blocks - scene.gripper, axis=-1)
    nearest = jp.argmin(distances).astype(jp.int32)
    picks = closes & (scene.closed == 0) & (distances[nearest] < self._grasp_radius)
    held = jp.where(closes, jp.where(picks, nearest, scene.held), NOTHING).astype(jp.int32)
    move = self._speed * self._dt * action[:2]
    gripper = jp.clip(scene.gripper + move, -self._half_size, self._half_size)
    carried = (jp.arange(len(COLORS)) == held)[:, None]
    blocks = jp.where(carried, scene.blocks + (gripper - scene.gripper), scene.blocks)
    scene = scene.replace(gripper=gripper, closed=closes.astype(jp.float32), held=held,
                          blocks=blocks)
    metrics = self._metrics(scene)
    return state.replace(pipeline_state=scene, obs=self._observe(scene),
                         reward=metrics['success'] - metrics['distance'], metrics=metrics)

  def _factors(self, scene: Scene):
    return scene.task_id // NUM_PADS, scene.task_id % NUM_PADS

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """Reach the block, close, carry it onto the pad, let go; from any state: an empty
    closed gripper or one holding the wrong block opens, a block off its pad is picked up
    again. Deterministic (`rng` is unused)."""
    del rng
    scene = state.pipeline_state
    color, pad = self._factors(scene)
    block, goal = scene.blocks[color], scene.pads[pad]
    to_goal, to_block = goal - block, block - scene.gripper
    holding = scene.held == color
    placed = jp.linalg.norm(to_goal) < self._success_radius
    at_block = jp.linalg.norm(to_block) < self._tolerance
    at_goal = jp.linalg.norm(to_goal) < self._tolerance
    free = (scene.closed == 0) & ~placed
    # (velocity target offset, grip) per phase, the first that applies.
    phases = [
        (holding & ~at_goal, to_goal, 1.0),  # carry
        (holding, jp.zeros(2), -1.0),  # let go on the pad
        (scene.closed > 0, jp.zeros(2), -1.0),  # empty or wrong block: open
        (free & at_block, jp.zeros(2), 1.0),  # close on the block
        (free, to_block, -1.0),  # reach
    ]
    offset, grip = jp.zeros(2), jp.asarray(-1.0)  # placed and released: wait
    for applies, phase_offset, phase_grip in reversed(phases):
      offset = jp.where(applies, phase_offset, offset)
      grip = jp.where(applies, phase_grip, grip)
    velocity = jp.clip(offset / (self._speed * self._dt), -1.0, 1.0)
    return jp.concatenate([velocity, grip[None]])

  def _metrics(self, scene: Scene):
    color, pad = self._factors(scene)
    distance = jp.linalg.norm(scene.blocks[color] - scene.pads[pad])
    success = (distance < self._success_radius) & (scene.held != color)
    return {'success': success.astype(jp.float32), 'distance': distance,
            'holding': (scene.held != NOTHING).astype(jp.float32)}

  def _observe(self, scene: Scene):
    held = (jp.arange(len(COLORS)) == scene.held).astype(jp.float32)
    state = jp.concatenate([scene.gripper, scene.closed[None], held, scene.blocks.reshape(-1),
                            scene.pads.reshape(-1)])
    obs = {'state': state.astype(jp.float32), 'task_id': scene.task_id.astype(jp.int32)}
    if self._image_size:
      obs['image'] = self.render_image(scene)
    return obs

  def render_image(self, scene: Scene) -> jax.Array:
    """Top-down: grey pads, the coloured blocks, the gripper as a dark ring (a filled disk
    while closed), uint8 [image_size, image_size, 3]."""
    camera = render.make_camera(self._image_size, jp.zeros(2), self._half_size)
    canvas = render.blank(self._image_size, TABLE)
    for k in range(NUM_PADS):
      canvas = render.circle(canvas, camera, scene.pads[k], 0.03, PAD)
    for c, rgb in enumerate(RGB):
      canvas = render.box(canvas, camera, scene.blocks[c], jp.array([0.015, 0.015]), 0.0, rgb)
    canvas = render.circle(canvas, camera, scene.gripper, 0.022, GRIPPER)
    inner = jp.where(scene.closed > 0, 0.0, 0.012)
    return render.to_uint8(render.circle(canvas, camera, scene.gripper, inner, TABLE))
