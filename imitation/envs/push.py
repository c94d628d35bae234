"""`push`: a disc pusher must push a puck into a goal region (planar contact physics, MJX).

The scene is a small MJCF: no gravity, both bodies move on planar slide joints, and the
only contact is pusher against puck. Joint damping stands in for sliding friction, and the
pusher's motors act as velocity control. Pushing a round puck with a round pusher is
unstable (the puck slides off to the side), so the expert must keep correcting.
"""

from brax import base
from brax.envs.base import PipelineEnv, State
from brax.io import mjcf
import jax
from jax import numpy as jp

from imitation.envs import base as task_base
from imitation.envs import render

_XML = """
<mujoco model="push">
  <option timestep="0.005" gravity="0 0 0"/>
  <worldbody>
    <body name="pusher" pos="0 0 0">
      <joint name="pusher_x" type="slide" axis="1 0 0" damping="{pusher_damping}"/>
      <joint name="pusher_y" type="slide" axis="0 1 0" damping="{pusher_damping}"/>
      <geom name="pusher" type="sphere" size="{pusher_radius}" mass="1"/>
    </body>
    <body name="puck" pos="0 0 0">
      <joint name="puck_x" type="slide" axis="1 0 0" damping="{puck_damping}"/>
      <joint name="puck_y" type="slide" axis="0 1 0" damping="{puck_damping}"/>
      <geom name="puck" type="sphere" size="{puck_radius}" mass="{puck_mass}"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="pusher_x" gear="{gear}" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="pusher_y" gear="{gear}" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""

TABLE = (0.9, 0.88, 0.82)
GOAL = (0.55, 0.8, 0.55)
PUCK = (0.95, 0.55, 0.1)
PUSHER = (0.2, 0.25, 0.5)


class Push(PipelineEnv, task_base.ImitationTask):
  """Planar pushing; observations `{'state': float32[14]}` (+ image)."""

  def __init__(
      self,
      pusher_radius: float = 0.04,
      puck_radius: float = 0.06,
      puck_mass: float = 0.5,
      puck_damping: float = 2.0,
      max_speed: float = 0.8,
      arena_half_size: float = 0.25,
      goal_distance_min: float = 0.2,
      goal_distance_max: float = 0.35,
      success_radius: float = 0.05,
      expert_gain: float = 10.0,
      expert_push_speed: float = 0.4,
      image_size: int = 0,
      backend: str = 'mjx',
      n_frames: int = 4,
      **kwargs,
  ):
    """Args:
      pusher_radius: radius of the controlled disc (m).
      puck_radius: radius of the puck (m).
      puck_mass: puck mass (kg).
      puck_damping: viscous damping of the puck's motion (its "friction").
      max_speed: pusher speed at action +-1 (m/s).
      arena_half_size: puck and pusher start within +-this (m).
      goal_distance_min: the goal is at least this far from the puck's start (m).
      goal_distance_max: and at most this far (m).
      success_radius: the puck's centre must end within this distance of the goal (m).
      expert_gain: proportional gain (1/s) of the expert's position tracking.
      expert_push_speed: speed (m/s) at which the expert pushes.
      image_size: side of the top-down `image` observation in pixels; 0 leaves it out.
      backend: Brax physics backend.
      n_frames: physics steps (5 ms) per environment step.
      **kwargs: passed to `PipelineEnv`.
    """
    pusher_damping = 10.0
    xml = _XML.format(
        pusher_radius=pusher_radius, puck_radius=puck_radius, puck_mass=puck_mass,
        puck_damping=puck_damping, pusher_damping=pusher_damping,
        gear=max_speed * pusher_damping,  # steady-state speed = gear * u / damping
    )
    super().__init__(sys=mjcf.loads(xml), backend=backend, n_frames=n_frames, **kwargs)
    self._pusher_radius = pusher_radius
    self._puck_radius = puck_radius
    self._max_speed = max_speed
    self._arena = arena_half_size
    self._goal_distance = (goal_distance_min, goal_distance_max)
    self._success_radius = success_radius
    self._expert_gain = expert_gain
    self._expert_push_speed = expert_push_speed
    self._image_size = image_size

  def reset(self, rng: jax.Array) -> State:
    rng_puck, rng_goal_dist, rng_goal_angle, rng_pusher = jax.random.split(rng, 4)
    puck = jax.random.uniform(rng_puck, (2,), minval=-self._arena, maxval=self._arena)
    distance = jax.random.uniform(
        rng_goal_dist, minval=self._goal_distance[0], maxval=self._goal_distance[1]
    )
    angle = jax.random.uniform(rng_goal_angle, minval=-jp.pi, maxval=jp.pi)
    goal = puck + distance * jp.array([jp.cos(angle), jp.sin(angle)])
    # The pusher starts anywhere in the arena at least a little clear of the puck.
    pusher = jax.random.uniform(rng_pusher, (2,), minval=-self._arena, maxval=self._arena)
    away = pusher - puck
    clearance = self._pusher_radius + self._puck_radius + 0.05
    norm = jp.linalg.norm(away)
    pusher = jp.where(norm < clearance, puck + away / jp.maximum(norm, 1e-6) * clearance, pusher)
    pipeline_state = self.pipeline_init(jp.concatenate([pusher, puck]), jp.zeros(4))
    info = {'goal': goal}
    obs, distance = self._observe(pipeline_state, goal)
    metrics = {'success': self._success(distance), 'goal_distance': distance}
    zero = jp.zeros(())
    return State(pipeline_state, obs, zero, zero, metrics, info)

  def step(self, state: State, action: jax.Array) -> State:
    action = jp.clip(action, -1.0, 1.0)
    pipeline_state = self.pipeline_step(state.pipeline_state, action)
    goal = state.info['goal']
    obs, distance = self._observe(pipeline_state, goal)
    reward = -distance
    metrics = {'success': self._success(distance), 'goal_distance': distance}
    return state.replace(pipeline_state=pipeline_state, obs=obs, reward=reward, metrics=metrics)

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """Get behind the puck (around it if needed), then push through its centre to the goal."""
    del rng
    q = state.pipeline_state.q
    pusher, puck, goal = q[:2], q[2:4], state.info['goal']
    to_goal = goal - puck
    push_dir = to_goal / jp.maximum(jp.linalg.norm(to_goal), 1e-6)
    side_dir = jp.array([-push_dir[1], push_dir[0]])
    contact = self._pusher_radius + self._puck_radius
    rel = pusher - puck
    along, across = jp.dot(rel, push_dir), jp.dot(rel, side_dir)
    # Behind and lined up: push along the goal direction, steering back onto the line
    # through the puck's centre (the puck slides off it otherwise), slowing near the goal.
    lined_up = (along < -0.5 * contact) & (jp.abs(across) < 0.3 * contact)
    push_speed = jp.clip(3.0 * jp.linalg.norm(to_goal), 0.05, self._expert_push_speed)
    push_velocity = push_speed * push_dir - self._expert_gain * across * side_dir
    # Otherwise go to a standby point behind the puck; pass it on the side we are on.
    standby = puck - push_dir * (contact + 0.03)
    side = jp.where(across >= 0, 1.0, -1.0)
    detour = puck + side * side_dir * (contact + 0.04) - push_dir * 0.5 * contact
    target = jp.where(along > -0.5 * contact, detour, standby)
    velocity = jp.where(lined_up, push_velocity, self._expert_gain * (target - pusher))
    return jp.clip(velocity / self._max_speed, -1.0, 1.0)

  def _success(self, distance):
    return (distance < self._success_radius).astype(jp.float32)

  def _observe(self, pipeline_state: base.State, goal: jax.Array):
    q, qd = pipeline_state.q, pipeline_state.qd
    pusher, puck = q[:2], q[2:4]
    state = jp.concatenate(
        [pusher, qd[:2], puck, qd[2:4], goal, goal - puck, puck - pusher]
    ).astype(jp.float32)
    obs = {'state': state}
    if self._image_size:
      obs['image'] = self.render_image(pusher, puck, goal)
    return obs, jp.linalg.norm(goal - puck)

  def render_image(self, pusher, puck, goal) -> jax.Array:
    """Top-down view of the table: goal region, puck, pusher."""
    size = self._image_size
    camera = render.make_camera(size, jp.zeros(2), self._arena + self._goal_distance[1])
    canvas = render.blank(size, TABLE)
    canvas = render.circle(canvas, camera, goal, self._success_radius, GOAL)
    canvas = render.circle(canvas, camera, puck, self._puck_radius, PUCK)
    canvas = render.circle(canvas, camera, pusher, self._pusher_radius, PUSHER)
    return render.to_uint8(canvas)
