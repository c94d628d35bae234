"""`grasp`: one step, a top-down view of an object on a table, action [x, y, angle, width].

Objects are bars or square blocks, coloured red, blue or green. A bar must be grasped near
one end, across its axis; a dark knob marks one end. Colour decides the end: red bars at
the knob end, blue bars at the plain end. Green bars carry knobs at both ends and either
end is correct: two equally valid grasps, a multimodal target whose average (the middle)
fails. Blocks are grasped at the centre, aligned with a face. The gripper opening must fit
the object with a little room.
"""

import flax
import jax
from jax import numpy as jp

from brax.envs.base import State

from imitation.envs import base as task_base
from imitation.envs import render

BAR, BLOCK = 0, 1
RED, BLUE, GREEN = 0, 1, 2
COLORS = ((0.85, 0.15, 0.15), (0.15, 0.3, 0.85), (0.15, 0.65, 0.25))
TABLE = (0.9, 0.88, 0.82)
KNOB = (0.1, 0.1, 0.1)
GRIPPER_OK = (0.2, 0.2, 0.2)
GRIPPER_FAIL = (0.6, 0.6, 0.6)


@flax.struct.dataclass
class Scene:
  position: jax.Array  # [2] object centre
  yaw: jax.Array  # object axis angle
  shape: jax.Array  # BAR or BLOCK
  color: jax.Array  # RED, BLUE or GREEN


def _wrap_period(angle, period):
  """Into [-period / 2, period / 2)."""
  return (angle + period / 2) % period - period / 2


class Grasp(task_base.JaxTask):
  """Top-down grasping; observations `{'state': float32[9]}` (+ image)."""

  def __init__(
      self,
      multimodal_fraction: float = 0.0,
      block_fraction: float = 0.3,
      table_half_size: float = 0.2,
      bar_half_length: float = 0.08,
      bar_half_width: float = 0.02,
      block_half_size: float = 0.025,
      grasp_offset: float = 0.055,
      position_tolerance: float = 0.02,
      angle_tolerance: float = 0.25,
      width_margin: tuple = (0.005, 0.04),
      max_width: float = 0.12,
      image_size: int = 0,
  ):
    """Args:
      multimodal_fraction: fraction of bars that are green (two valid grasps).
      block_fraction: fraction of objects that are blocks instead of bars.
      table_half_size: objects lie within +-this (m); actions x, y are scaled to it.
      bar_half_length: half length of a bar (m).
      bar_half_width: half width of a bar (m).
      block_half_size: half side of a block (m).
      grasp_offset: distance of a bar's grasp point from its centre, along its axis (m).
      position_tolerance: the gripper centre must be this close to the grasp point (m).
      angle_tolerance: allowed angle error (rad), modulo the object's symmetry.
      width_margin: the opening must exceed the object's width by between these (m).
      max_width: opening at width action +1 (m); -1 is closed.
      image_size: side of the top-down `image` observation in pixels; 0 leaves it out.
    """
    self._multimodal_fraction = multimodal_fraction
    self._block_fraction = block_fraction
    self._half_size = table_half_size
    self._bar = (bar_half_length, bar_half_width)
    self._block = block_half_size
    self._grasp_offset = grasp_offset
    self._position_tolerance = position_tolerance
    self._angle_tolerance = angle_tolerance
    self._width_margin = width_margin
    self._max_width = max_width
    self._image_size = image_size

  @property
  def action_size(self) -> int:
    return 4

  @property
  def dt(self) -> float:
    return 0.5  # one grasp; a pause between video frames

  def reset(self, rng: jax.Array) -> State:
    rng_pos, rng_yaw, rng_shape, rng_color, rng_green = jax.random.split(rng, 5)
    margin = self._half_size - self._bar[0]
    position = jax.random.uniform(rng_pos, (2,), minval=-margin, maxval=margin)
    yaw = jax.random.uniform(rng_yaw, minval=-jp.pi, maxval=jp.pi)
    shape = jp.where(jax.random.uniform(rng_shape) < self._block_fraction, BLOCK, BAR)
    color = jax.random.randint(rng_color, (), RED, BLUE + 1)
    green = jax.random.uniform(rng_green) < self._multimodal_fraction
    color = jp.where((shape == BAR) & green, GREEN, color)
    scene = Scene(position, yaw, shape.astype(jp.int32), color.astype(jp.int32))
    metrics = {'success': jp.zeros(()), 'position_error': jp.zeros(())}
    zero = jp.zeros(())
    return State(scene, self._observe(scene), zero, zero, metrics)

  def step(self, state: State, action: jax.Array) -> State:
    scene = state.pipeline_state
    success, position_error = self._judge(scene, jp.clip(action, -1.0, 1.0))
    metrics = {'success': success, 'position_error': position_error}
    # The final observation shows the gripper where it closed (never a training input:
    # it is the episode's last step), so videos show the grasp.
    obs = self._observe(scene, gripper=(jp.clip(action, -1.0, 1.0), success))
    return state.replace(obs=obs, reward=success, done=jp.ones(()), metrics=metrics)

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """The correct grasp; for green bars, either end at random (the multimodal case)."""
    scene = state.pipeline_state
    points = self._grasp_points(scene)
    choose_second = (scene.color == GREEN) & jax.random.bernoulli(rng)
    point = jp.where(choose_second, points[1], points[0])
    period = jp.where(scene.shape == BAR, jp.pi, jp.pi / 2)
    angle = _wrap_period(scene.yaw, period)
    width = self._object_width(scene) + 0.5 * sum(self._width_margin)
    return jp.concatenate([
        point / self._half_size,
        jp.array([angle / (jp.pi / 2), 2.0 * width / self._max_width - 1.0]),
    ])

  def _grasp_points(self, scene: Scene) -> jax.Array:
    """[2, 2]: the first valid grasp point, and the second (equal to it unless green)."""
    axis = jp.array([jp.cos(scene.yaw), jp.sin(scene.yaw)])
    knob_end = scene.position + self._grasp_offset * axis
    plain_end = scene.position - self._grasp_offset * axis
    first = jp.where(scene.color == BLUE, plain_end, knob_end)
    second = jp.where(scene.color == GREEN, plain_end, first)
    is_bar = scene.shape == BAR
    return jp.where(is_bar, jp.stack([first, second]), jp.stack([scene.position] * 2))

  def _object_width(self, scene: Scene):
    return jp.where(scene.shape == BAR, 2 * self._bar[1], 2 * self._block)

  def _judge(self, scene: Scene, action: jax.Array):
    point = action[:2] * self._half_size
    angle = action[2] * jp.pi / 2
    width = (action[3] + 1.0) / 2.0 * self._max_width
    position_error = jp.min(jp.linalg.norm(self._grasp_points(scene) - point, axis=-1))
    period = jp.where(scene.shape == BAR, jp.pi, jp.pi / 2)
    angle_error = jp.abs(_wrap_period(angle - scene.yaw, period))
    room = width - self._object_width(scene)
    success = (
        (position_error < self._position_tolerance)
        & (angle_error < self._angle_tolerance)
        & (room > self._width_margin[0])
        & (room < self._width_margin[1])
    )
    return success.astype(jp.float32), position_error

  def _observe(self, scene: Scene, gripper=None):
    state = jp.concatenate([
        scene.position,
        jp.stack([jp.cos(scene.yaw), jp.sin(scene.yaw)]),
        jax.nn.one_hot(scene.shape, 2),
        jax.nn.one_hot(scene.color, 3),
    ]).astype(jp.float32)
    obs = {'state': state}
    if self._image_size:
      obs['image'] = self.render_image(scene, gripper)
    return obs

  def render_image(self, scene: Scene, gripper=None) -> jax.Array:
    """Top-down view of the object; knobs mark the bar end(s) that colour refers to.

    `gripper` = (action, success) adds the two fingers at the commanded pose and opening,
    dark for a successful grasp and light for a failed one.
    """
    size = self._image_size
    camera = render.make_camera(size, jp.zeros(2), self._half_size)
    color = jp.asarray(COLORS)[scene.color]
    half = jp.where(scene.shape == BAR, jp.array(self._bar), jp.array([self._block] * 2))
    canvas = render.blank(size, TABLE)
    canvas = render.box(canvas, camera, scene.position, half, scene.yaw, color)
    axis = jp.array([jp.cos(scene.yaw), jp.sin(scene.yaw)])
    knob_radius = jp.where(scene.shape == BAR, 0.012, 0.0)
    canvas = render.circle(canvas, camera, scene.position + self._grasp_offset * axis,
                           knob_radius, KNOB)
    back_radius = jp.where(scene.color == GREEN, knob_radius, 0.0)
    canvas = render.circle(canvas, camera, scene.position - self._grasp_offset * axis,
                           back_radius, KNOB)
    if gripper is not None:
      action, success = gripper
      point = action[:2] * self._half_size
      angle = action[2] * jp.pi / 2
      opening = (action[3] + 1.0) / 2.0 * self._max_width
      across = jp.array([-jp.sin(angle), jp.cos(angle)])  # fingers close across the axis
      color = jp.where(success > 0, jp.asarray(GRIPPER_OK), jp.asarray(GRIPPER_FAIL))
      for side in (-1.0, 1.0):
        canvas = render.box(canvas, camera, point + side * (opening / 2 + 0.004) * across,
                            jp.array([0.014, 0.004]), angle, color)
    return render.to_uint8(canvas)
