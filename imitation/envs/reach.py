"""`reach`: a two-link planar arm (Brax's reacher physics) must put its fingertip on a target.

The expert solves inverse kinematics for the target with privileged access to the joint
angles and target position, then tracks the solution with a joint-space PD controller.
The task is the pattern every other task copies: reset, step, observations, metrics,
expert, registration.
"""

from brax import base
from brax.envs.base import PipelineEnv, State
from brax.io import mjcf
from etils import epath
import jax
from jax import numpy as jp

from imitation.envs import base as task_base
from imitation.envs import render

# Geometry of Brax's reacher.xml: shoulder->elbow and elbow->fingertip lengths.
_UPPER_ARM = 0.1
_FOREARM = 0.11
_ELBOW_LIMIT = 3.0  # joint1 range in the MJCF.
_VIEW_HALF_EXTENT = 0.25  # the image shows [-0.25, 0.25]^2 m around the shoulder
BACKGROUND = (0.92, 0.92, 0.88)
ARM_COLOR = (0.25, 0.3, 0.45)
TARGET_COLOR = (0.85, 0.15, 0.15)


def _wrap_angle(angle: jax.Array) -> jax.Array:
  return (angle + jp.pi) % (2 * jp.pi) - jp.pi


class Reach(PipelineEnv, task_base.ImitationTask):
  """Planar reaching; observations `{'state': float32[10]}`."""

  def __init__(
      self,
      target_radius_min: float = 0.05,
      target_radius_max: float = 0.2,
      init_elbow_max: float = 2.5,
      success_radius: float = 0.02,
      ctrl_cost_weight: float = 0.1,
      expert_kp: float = 2.0,
      expert_kd: float = 0.2,
      image_size: int = 0,
      backend: str = 'mjx',
      n_frames: int = 2,
      **kwargs,
  ):
    """Targets are drawn in an annulus the arm can reach (the folded arm cannot reach the base).

    Args:
      target_radius_min: smallest distance of a target from the shoulder.
      target_radius_max: largest distance (the stretched arm reaches 0.21).
      init_elbow_max: initial elbow angle is uniform in [-init_elbow_max, init_elbow_max];
        the shoulder angle is uniform over the full circle.
      success_radius: fingertip-to-target distance that counts as reached.
      ctrl_cost_weight: weight of the squared-action penalty in the reward.
      expert_kp: proportional gain of the expert's joint PD controller.
      expert_kd: derivative gain of the expert's joint PD controller.
      image_size: side of the top-down `image` observation in pixels; 0 leaves it out.
      backend: Brax physics backend; 'mjx' is the fastest on CPU for this scene.
      n_frames: physics steps per environment step (dt = 0.01 * n_frames).
      **kwargs: passed to `PipelineEnv`.
    """
    if not 0 < target_radius_min < target_radius_max <= _UPPER_ARM + _FOREARM:
      raise ValueError(
          'need 0 < target_radius_min < target_radius_max <= '
          f'{_UPPER_ARM + _FOREARM}, got {target_radius_min}, {target_radius_max}'
      )
    sys = mjcf.load(epath.resource_path('brax') / 'envs/assets/reacher.xml')
    super().__init__(sys=sys, backend=backend, n_frames=n_frames, **kwargs)
    self._target_radius = (target_radius_min, target_radius_max)
    self._init_elbow_max = min(init_elbow_max, _ELBOW_LIMIT)
    self._success_radius = success_radius
    self._ctrl_cost_weight = ctrl_cost_weight
    self._expert_kp = expert_kp
    self._expert_kd = expert_kd
    self._image_size = image_size

  def reset(self, rng: jax.Array) -> State:
    rng_radius, rng_angle, rng_arm = jax.random.split(rng, 3)
    radius = jax.random.uniform(
        rng_radius, minval=self._target_radius[0], maxval=self._target_radius[1]
    )
    angle = jax.random.uniform(rng_angle, minval=-jp.pi, maxval=jp.pi)
    arm_limit = jp.array([jp.pi, self._init_elbow_max])
    arm = jax.random.uniform(rng_arm, (2,), minval=-arm_limit, maxval=arm_limit)
    target = radius * jp.array([jp.cos(angle), jp.sin(angle)])
    q = jp.concatenate([arm, target])
    pipeline_state = self.pipeline_init(q, jp.zeros(self.sys.qd_size()))
    obs, distance = self._observe(pipeline_state, {})
    metrics = {'success': self._success(distance), 'distance': distance}
    zero = jp.zeros(())
    return State(pipeline_state, obs, zero, zero, metrics)

  def step(self, state: State, action: jax.Array) -> State:
    action = jp.clip(action, -1.0, 1.0)
    pipeline_state = self.pipeline_step(state.pipeline_state, action)
    obs, distance = self._observe(pipeline_state, state.info)
    reward = -distance - self._ctrl_cost_weight * jp.sum(jp.square(action))
    metrics = {'success': self._success(distance), 'distance': distance}
    return state.replace(
        pipeline_state=pipeline_state, obs=obs, reward=reward, metrics=metrics
    )

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """IK for the target, elbow on the side it is already on, then joint PD."""
    del rng  # The expert is deterministic.
    q, qd = state.pipeline_state.q, state.pipeline_state.qd
    target = q[2:4]
    cos_elbow = (
        jp.sum(jp.square(target)) - _UPPER_ARM**2 - _FOREARM**2
    ) / (2 * _UPPER_ARM * _FOREARM)
    elbow = jp.where(q[1] >= 0, 1.0, -1.0) * jp.arccos(jp.clip(cos_elbow, -1.0, 1.0))
    shoulder = jp.arctan2(target[1], target[0]) - jp.arctan2(
        _FOREARM * jp.sin(elbow), _UPPER_ARM + _FOREARM * jp.cos(elbow)
    )
    error = jp.array([_wrap_angle(shoulder - q[0]), elbow - q[1]])
    return jp.clip(self._expert_kp * error - self._expert_kd * qd[:2], -1.0, 1.0)

  def _success(self, distance: jax.Array) -> jax.Array:
    return (distance < self._success_radius).astype(jp.float32)

  def _fingertip(self, pipeline_state: base.State) -> jax.Array:
    return (
        pipeline_state.x.take(1)
        .do(base.Transform.create(pos=jp.array([_FOREARM, 0.0, 0.0])))
        .pos[:2]
    )

  def _observe(self, pipeline_state: base.State, info):
    """The observation dict and the fingertip-to-target distance (`info`: subclasses)."""
    del info
    q, qd = pipeline_state.q, pipeline_state.qd
    fingertip = self._fingertip(pipeline_state)
    to_target = q[2:4] - fingertip
    state = jp.concatenate(
        [jp.cos(q[:2]), jp.sin(q[:2]), qd[:2], q[2:4], to_target]
    ).astype(jp.float32)
    obs = {'state': state}
    if self._image_size:
      obs['image'] = self.render_image(pipeline_state.x.pos[1, :2], fingertip, [q[2:4]])
    return obs, jp.linalg.norm(to_target)

  def render_image(self, elbow, fingertip, targets, target_colors=(TARGET_COLOR,)):
    """Top-down view of the arm and its target(s), uint8 [image_size, image_size, 3]."""
    size = self._image_size
    camera = render.make_camera(size, jp.zeros(2), _VIEW_HALF_EXTENT)
    canvas = render.blank(size, BACKGROUND)
    for target, color in zip(targets, target_colors):
      canvas = render.circle(canvas, camera, target, 0.02, color)
    canvas = render.circle(canvas, camera, jp.zeros(2), 0.016, ARM_COLOR)
    canvas = render.capsule(canvas, camera, jp.zeros(2), elbow, 0.012, ARM_COLOR)
    canvas = render.capsule(canvas, camera, elbow, fingertip, 0.012, ARM_COLOR)
    canvas = render.circle(canvas, camera, fingertip, 0.014, (0.1, 0.1, 0.1))
    return render.to_uint8(canvas)
