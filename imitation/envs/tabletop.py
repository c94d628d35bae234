"""`tabletop`: grasp, push and insert in one scene, one observation, one 4-D action.

The multi-task family of the reference design. The table holds three bars (the pegs), red,
green and blue, of different widths, and three pads, each with a slot at its own angle. The
task id names a combination of three factors, `(task, colour, pad)` in row-major order
(`np.ravel_multi_index` with `FACTOR_SIZES`):

* `grasp`: grasp the bar of that colour at its centre, aligned with it, the opening fitting
  its width (the pad factor plays no part).
* `push`: push the bar of that colour onto the pad: the action places the pusher behind the
  bar (x, y), aims it (angle) and sets how far it travels (width channel).
* `insert`: put the bar of that colour, held, into the pad's slot: the slot's position, its
  angle (tight: this is where the angle matters) and an opening that holds the bar.

Every task acts once (an episode is one step, like `grasp`). The action is
`[x, y, angle, width]` in [-1, 1]: x, y scaled to the table, angle to [-pi/2, pi/2] (bar and
slot angles are drawn inside that range, so the action never wraps), width to the gripper
opening (grasp, insert) or the push distance (push). The state shows every bar and every
pad, not which is wanted: a policy must read `obs['task_id']`. Some (task, colour, pad)
combinations can be held out of training: `mode='train'` never draws them and
`mode='held_out'` draws only them.
"""

from typing import Sequence, Tuple

import flax
import jax
from jax import numpy as jp
import numpy as np

from brax.envs.base import State

from imitation.envs import base as task_base
from imitation.envs import grasp
from imitation.envs import render

TASKS = ('grasp', 'push', 'insert')
COLORS = ('red', 'green', 'blue')
NUM_PADS = 3
FACTOR_SIZES = (len(TASKS), len(COLORS), NUM_PADS)
GRASP, PUSH, INSERT = range(3)

RGB = tuple(grasp.COLORS[c] for c in (grasp.RED, grasp.GREEN, grasp.BLUE))  # grasp's palette
TABLE = grasp.TABLE
PAD = (0.72, 0.72, 0.72)
SLOT = (0.25, 0.25, 0.25)


@flax.struct.dataclass
class Scene:
  bars: jax.Array  # [3, 3] per colour: x, y, yaw
  pads: jax.Array  # [3, 3] per pad: x, y, slot yaw
  task_id: jax.Array  # int32 flat (task, colour, pad) index


def task_id(task: int, color: int, pad: int) -> int:
  return int(np.ravel_multi_index((task, color, pad), FACTOR_SIZES))


def task_names() -> Tuple[str, ...]:
  """The task factor's name for each flat task id (what per-task results group by)."""
  return tuple(TASKS[np.unravel_index(i, FACTOR_SIZES)[0]]
               for i in range(int(np.prod(FACTOR_SIZES))))


def _combinations(tasks: Sequence[str], held_out: Sequence[Sequence[int]], mode: str):
  combinations = task_base.factor_combinations(tasks, TASKS, ('task', 'colour', 'pad'),
                                               FACTOR_SIZES, held_out, mode)
  return [task_id(*c) for c in combinations]


class Tabletop(task_base.JaxTask):
  """Grasp / push / insert; observations `{'state': float32[24], 'task_id': int32}` (+ image)."""

  def __init__(
      self,
      tasks: Sequence[str] = TASKS,
      held_out: Sequence[Sequence[int]] = (),
      mode: str = 'all',
      table_half_size: float = 0.2,
      bar_half_length: float = 0.035,
      bar_half_widths: Sequence[float] = (0.008, 0.012, 0.016),
      max_yaw: float = 1.2,
      jitter: float = 0.02,
      pad_radius: float = 0.035,
      grasp_tolerance: Tuple[float, float] = (0.012, 0.2),
      insert_tolerance: Tuple[float, float] = (0.01, 0.1),
      width_margin: Tuple[float, float] = (0.004, 0.02),
      max_width: float = 0.08,
      push_contact: Tuple[float, float, float] = (0.02, 0.08, 0.01),
      max_push: float = 0.5,
      image_size: int = 0,
  ):
    """Args:
      tasks: which tasks episodes draw (all three by default; one for a single-task run).
      held_out: (task, colour, pad) index triples reserved for held-out evaluation.
      mode: 'all' draws any combination of `tasks`, 'train' never a held-out one,
        'held_out' only those.
      table_half_size: the table spans +-this (m); actions x, y are scaled to it.
      bar_half_length: half length of every bar (m).
      bar_half_widths: half width of the red, green and blue bar (m).
      max_yaw: bar and slot angles are drawn in [-max_yaw, max_yaw] (rad, < pi/2).
      jitter: bars and pads sit within +-this (m) of their place in the layout.
      pad_radius: a pushed bar must stop within this of the pad centre (m).
      grasp_tolerance: (position m, angle rad) errors a grasp may make.
      insert_tolerance: (position m, angle rad) errors an insertion may make.
      width_margin: the opening must exceed the bar's width by between these (m).
      max_width: opening at width action +1 (m); -1 is closed.
      push_contact: (nearest, farthest) distance behind the bar the pusher may start, and
        how far off the bar's centre line it may be (m).
      max_push: push distance at width action +1 (m); -1 is 0.
      image_size: side of the top-down `image` observation in pixels; 0 leaves it out.
    """
    if not 0 < max_yaw < jp.pi / 2:
      raise ValueError(f'max_yaw must be in (0, pi/2) so angles never wrap, got {max_yaw}')
    if len(bar_half_widths) != len(COLORS):
      raise ValueError(f'bar_half_widths needs one width per colour {COLORS}')
    self._ids = jp.asarray(_combinations(tuple(tasks), held_out, mode), jp.int32)
    self._half_size = table_half_size
    self._bar_half_length = bar_half_length
    self._bar_half_widths = jp.asarray(bar_half_widths, jp.float32)
    self._max_yaw = max_yaw
    self._jitter = jitter
    self._pad_radius = pad_radius
    self._grasp_tolerance = grasp_tolerance
    self._insert_tolerance = insert_tolerance
    self._width_margin = width_margin
    self._max_width = max_width
    self._push_contact = push_contact
    self._max_push = max_push
    self._image_size = image_size
    # Bars stand in a column on the left, pads in a column on the right; which colour stands
    # in which bar place is shuffled per episode, pads keep their order (pad k is place k).
    self._bar_places = jp.array([[-0.1, -0.12], [-0.1, 0.0], [-0.1, 0.12]])
    self._pad_places = jp.array([[0.12, -0.12], [0.12, 0.0], [0.12, 0.12]])

  @property
  def action_size(self) -> int:
    return 4

  @property
  def table_half_size(self) -> float:
    """Actions x, y of +-1 reach +-this (m) on the table."""
    return self._half_size

  @property
  def dt(self) -> float:
    return 0.5  # one action; a pause between video frames

  @property
  def task_names(self) -> Tuple[str, ...]:
    return task_names()

  def reset(self, rng: jax.Array) -> State:
    rng_id, rng_perm, rng_bar, rng_pad, rng_yaw = jax.random.split(rng, 5)
    flat_id = self._ids[jax.random.randint(rng_id, (), 0, len(self._ids))]
    places = self._bar_places[jax.random.permutation(rng_perm, len(COLORS))]
    bar_xy = places + jax.random.uniform(rng_bar, (3, 2), minval=-self._jitter,
                                         maxval=self._jitter)
    pad_xy = self._pad_places + jax.random.uniform(rng_pad, (3, 2), minval=-self._jitter,
                                                   maxval=self._jitter)
    yaws = jax.random.uniform(rng_yaw, (2, 3), minval=-self._max_yaw, maxval=self._max_yaw)
    scene = Scene(jp.concatenate([bar_xy, yaws[0, :, None]], -1),
                  jp.concatenate([pad_xy, yaws[1, :, None]], -1), flat_id)
    zero = jp.zeros(())
    metrics = {'success': zero, 'position_error': zero}
    return State(scene, self._observe(scene), zero, zero, metrics)

  def step(self, state: State, action: jax.Array) -> State:
    scene = state.pipeline_state
    success, position_error = self._judge(scene, jp.clip(action, -1.0, 1.0))
    metrics = {'success': success, 'position_error': position_error}
    obs = self._observe(scene, gripper=jp.clip(action, -1.0, 1.0))
    return state.replace(obs=obs, reward=success, done=jp.ones(()), metrics=metrics)

  def _factors(self, scene: Scene):
    task = scene.task_id // (FACTOR_SIZES[1] * FACTOR_SIZES[2])
    color = (scene.task_id // FACTOR_SIZES[2]) % FACTOR_SIZES[1]
    return task, color, scene.task_id % FACTOR_SIZES[2]

  def _opening(self, color):
    """The expert's opening: the bar's width plus the middle of the allowed margin."""
    return 2.0 * self._bar_half_widths[color] + 0.5 * sum(self._width_margin)

  def _push_plan(self, bar, pad):
    """Direction angle, travel and pusher start of the push that moves `bar` onto `pad`."""
    offset = pad[:2] - bar[:2]
    angle = jp.arctan2(offset[1], offset[0])
    travel = jp.linalg.norm(offset)
    start = bar[:2] - 0.5 * sum(self._push_contact[:2]) * jp.array([jp.cos(angle), jp.sin(angle)])
    return angle, travel, start

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """The exact action of the task the id names (deterministic; `rng` is unused)."""
    del rng
    scene = state.pipeline_state
    task, color, pad = self._factors(scene)
    bar, slot = scene.bars[color], scene.pads[pad]
    opening = self._opening(color)
    push_angle, travel, start = self._push_plan(bar, slot)
    xy = jp.select([task == GRASP, task == PUSH], [bar[:2], start], slot[:2])
    angle = jp.select([task == GRASP, task == PUSH], [bar[2], push_angle], slot[2])
    width = jp.where(task == PUSH, 2.0 * travel / self._max_push - 1.0,
                     2.0 * opening / self._max_width - 1.0)
    return jp.concatenate([xy / self._half_size, jp.stack([angle / (jp.pi / 2), width])])

  def _judge(self, scene: Scene, action: jax.Array):
    task, color, pad = self._factors(scene)
    bar, slot = scene.bars[color], scene.pads[pad]
    xy = action[:2] * self._half_size
    angle = action[2] * jp.pi / 2
    room = (action[3] + 1.0) / 2.0 * self._max_width - 2.0 * self._bar_half_widths[color]
    holds = (room > self._width_margin[0]) & (room < self._width_margin[1])

    def aligned(target_xy, target_yaw, tolerance):
      error = jp.linalg.norm(xy - target_xy)
      turn = jp.abs((angle - target_yaw + jp.pi / 2) % jp.pi - jp.pi / 2)  # bars: period pi
      return (error < tolerance[0]) & (turn < tolerance[1]), error

    grasped, grasp_error = aligned(bar[:2], bar[2], self._grasp_tolerance)
    inserted, insert_error = aligned(slot[:2], slot[2], self._insert_tolerance)
    # Push: the pusher must start behind the bar on the line it pushes along.
    direction = jp.array([jp.cos(angle), jp.sin(angle)])
    rel = bar[:2] - xy
    behind, off_line = rel @ direction, jp.abs(rel @ jp.array([-direction[1], direction[0]]))
    contact = ((behind > self._push_contact[0]) & (behind < self._push_contact[1])
               & (off_line < self._push_contact[2]))
    travel = (action[3] + 1.0) / 2.0 * self._max_push
    push_error = jp.linalg.norm(bar[:2] + travel * direction - slot[:2])
    pushed = contact & (push_error < self._pad_radius)
    success = jp.select([task == GRASP, task == PUSH],
                        [grasped & holds, pushed], inserted & holds)
    error = jp.select([task == GRASP, task == PUSH], [grasp_error, push_error], insert_error)
    return success.astype(jp.float32), error

  def _observe(self, scene: Scene, gripper=None):
    def pose(rows):
      return jp.concatenate([rows[:, :2], jp.cos(rows[:, 2:]), jp.sin(rows[:, 2:])], -1)

    state = jp.concatenate([pose(scene.bars).reshape(-1), pose(scene.pads).reshape(-1)])
    obs = {'state': state.astype(jp.float32), 'task_id': scene.task_id.astype(jp.int32)}
    if self._image_size:
      obs['image'] = self.render_image(scene, gripper)
    return obs

  def render_image(self, scene: Scene, gripper=None) -> jax.Array:
    """Top-down view: grey pads with dark slots, the three coloured bars; `gripper` (the
    action) adds a black cross where the action acted."""
    size = self._image_size
    camera = render.make_camera(size, jp.zeros(2), self._half_size)
    canvas = render.blank(size, TABLE)
    for k in range(NUM_PADS):
      pad = scene.pads[k]
      canvas = render.circle(canvas, camera, pad[:2], self._pad_radius, PAD)
      canvas = render.box(canvas, camera, pad[:2],
                          jp.array([self._bar_half_length + 0.005, self._bar_half_widths[-1]]),
                          pad[2], SLOT)
    for c, rgb in enumerate(RGB):
      bar = scene.bars[c]
      canvas = render.box(canvas, camera, bar[:2],
                          jp.stack([jp.asarray(self._bar_half_length), self._bar_half_widths[c]]),
                          bar[2], rgb)
    if gripper is not None:
      point = gripper[:2] * self._half_size
      angle = gripper[2] * jp.pi / 2
      canvas = render.box(canvas, camera, point, jp.array([0.02, 0.003]), angle, (0, 0, 0))
      canvas = render.box(canvas, camera, point, jp.array([0.003, 0.02]), angle, (0, 0, 0))
    return render.to_uint8(canvas)
