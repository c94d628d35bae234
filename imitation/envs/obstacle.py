"""`obstacle`: a point must reach a goal behind a disk, passing it on the left OR the right.

The point starts below the disk and the goal lies above it. The expert goes straight up to
a fork below the disk, then heads for a waypoint beside the disk on the side it picked for
the episode (left or right with equal chance, hidden from the policy), goes up past the disk
and on to the goal. Up to the fork the two ways are the same states; at the fork the
demonstrations go up-left as often as up-right. Their average goes straight up, into the
disk, which is a few steps away; a policy that re-decides every step can switch ways and
end up there too; touching the disk ends the episode as a failure. A policy that commits to
a whole action chunk leaves the fork on one way.

Velocity control: the action [vx, vy] in [-1, 1] moves the point by `speed * step_time *
action`.
"""

import flax
import jax
from jax import numpy as jp

from brax.envs.base import State

from imitation.envs import base as task_base
from imitation.envs import render

BACKGROUND = (0.93, 0.93, 0.9)
OBSTACLE_COLOR = (0.3, 0.3, 0.3)
GOAL_COLOR = (0.15, 0.65, 0.25)
AGENT_COLOR = (0.15, 0.3, 0.85)
_VIEW_HALF_EXTENT = 1.0  # the image shows [-1, 1]^2


@flax.struct.dataclass
class Scene:
  position: jax.Array  # [2]
  side: jax.Array  # -1 (left) or +1 (right): the expert's way round this episode
  collided: jax.Array  # 1.0 once the point touched the disk (it stays there)


class Obstacle(task_base.JaxTask):
  """Reach around a disk; observations `{'state': float32[4]}` (+ image): the point's
  position relative to the disk's centre and the goal relative to the point."""

  def __init__(
      self,
      obstacle_radius: float = 0.3,
      clearance: float = 0.1,
      start_y: float = -0.8,
      fork_y: float = -0.45,
      goal_y: float = 0.8,
      start_spread: float = 0.05,
      speed: float = 1.0,
      step_time: float = 0.05,
      success_radius: float = 0.05,
      image_size: int = 0,
  ):
    """Args:
      obstacle_radius: the disk's radius; its centre is the origin.
      clearance: how far from the disk the expert passes (m).
      start_y: the start's height; its x is uniform in +-start_spread.
      fork_y: the height up to which the expert goes straight up; from there it heads for
        the point beside the disk.
      goal_y: the goal's height (x = 0).
      start_spread: half the range of start x: how far the two ways' states overlap.
      speed: distance per second at action norm 1.
      step_time: seconds per step.
      success_radius: the point must end within this of the goal, never touching the disk.
      image_size: side of the top-down `image` observation in pixels; 0 leaves it out.
    """
    if not start_y <= fork_y < -obstacle_radius < obstacle_radius < goal_y:
      raise ValueError('the start must lie below the disk and its clearance, the goal above')
    self._radius = obstacle_radius
    self._clearance = clearance
    self._start_y = start_y
    self._fork_y = fork_y
    self._goal = jp.array([0.0, goal_y])
    self._spread = start_spread
    self._speed = speed
    self._dt = step_time
    self._success_radius = success_radius
    self._image_size = image_size

  @property
  def action_size(self) -> int:
    return 2

  @property
  def dt(self) -> float:
    return self._dt

  def reset(self, rng: jax.Array) -> State:
    rng_x, rng_side = jax.random.split(rng)
    x = jax.random.uniform(rng_x, minval=-self._spread, maxval=self._spread)
    side = jp.where(jax.random.bernoulli(rng_side), 1.0, -1.0)
    scene = Scene(jp.array([x, self._start_y]), side, jp.zeros(()))
    zero = jp.zeros(())
    return State(scene, self._observe(scene), zero, zero, self._metrics(scene))

  def step(self, state: State, action: jax.Array) -> State:
    scene = state.pipeline_state
    moved = scene.position + self._speed * self._dt * jp.clip(action, -1.0, 1.0)
    touches = jp.linalg.norm(moved) < self._radius
    collided = jp.maximum(scene.collided, touches.astype(jp.float32))
    # A collision freezes the point where it was.
    position = jp.where(collided > 0, scene.position, moved)
    scene = scene.replace(position=position, collided=collided)
    metrics = self._metrics(scene)
    return state.replace(pipeline_state=scene, obs=self._observe(scene),
                         reward=metrics['success'] - metrics['distance'], done=collided,
                         metrics=metrics)

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """Towards the waypoint of the phase the position is in: straight up to the fork, the
    point beside the disk on the episode's side (the side the point is clearly on, once it
    is), straight up past the disk, then the goal; slowing down to land on each."""
    del rng  # the side was drawn at reset
    scene = state.pipeline_state
    p = scene.position
    wide = self._radius + self._clearance
    side = jp.where(jp.abs(p[0]) > self._spread + 0.05, jp.sign(p[0]), scene.side)
    below_fork = (p[1] < self._fork_y - 0.01) & (jp.abs(p[0]) < self._spread + 0.05)
    target = jp.where(
        p[1] >= 0.2, self._goal,
        jp.where(jp.abs(p[0]) >= wide - 0.03, jp.array([side * wide, 0.25]),
                 jp.where(below_fork, jp.array([p[0], self._fork_y]),
                          jp.array([side * wide, -0.1]))))
    velocity = (target - p) / (self._speed * self._dt)
    return velocity / jp.maximum(1.0, jp.linalg.norm(velocity))

  def _metrics(self, scene: Scene):
    distance = jp.linalg.norm(scene.position - self._goal)
    success = (distance < self._success_radius) & (scene.collided == 0)
    return {'success': success.astype(jp.float32), 'distance': distance,
            'collided': scene.collided}

  def _observe(self, scene: Scene):
    state = jp.concatenate([scene.position, self._goal - scene.position]).astype(jp.float32)
    obs = {'state': state}
    if self._image_size:
      obs['image'] = self.render_image(scene)
    return obs

  def render_image(self, scene: Scene) -> jax.Array:
    """Top-down: the disk, the goal and the point, uint8 [image_size, image_size, 3]."""
    camera = render.make_camera(self._image_size, jp.zeros(2), _VIEW_HALF_EXTENT)
    canvas = render.blank(self._image_size, BACKGROUND)
    canvas = render.circle(canvas, camera, jp.zeros(2), self._radius, OBSTACLE_COLOR)
    canvas = render.circle(canvas, camera, self._goal, 0.08, GOAL_COLOR)
    canvas = render.circle(canvas, camera, scene.position, 0.06, AGENT_COLOR)
    return render.to_uint8(canvas)
