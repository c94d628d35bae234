"""`drive`: keep a car on a winding lane for hundreds of steps (ALVINN-style lane following).

Each episode draws a new closed track, r(theta) = R (1 + sum_k a_k cos(k theta + phi_k)).
The car moves at constant speed with kinematic-bicycle dynamics; the action is the
steering command. Leaving the lane ends the episode. The expert is pure pursuit on the
lane centre, with privileged access to the track. Small steering errors compound: a
learner that drifts reaches offsets the expert's data never shows, then leaves the lane.
"""

import flax
import jax
from jax import numpy as jp

from brax.envs.base import State

from imitation.envs import base as task_base
from imitation.envs import render

GRASS = (0.35, 0.55, 0.3)
ROAD = (0.45, 0.45, 0.48)
LANE_MARK = (0.95, 0.95, 0.9)
CAR = (0.85, 0.1, 0.1)


@flax.struct.dataclass
class Car:
  position: jax.Array  # [2]
  heading: jax.Array  # scalar, radians
  steer: jax.Array  # current steering angle (rad); it follows the command at a limited rate
  track: jax.Array  # [num_track_points, 2] lane centre, counter-clockwise
  spacing: jax.Array  # arc length between consecutive track points
  nearest: jax.Array  # int32 index of the nearest track point
  distance: jax.Array  # arc length driven along the track


def _wrap(angle):
  return (angle + jp.pi) % (2 * jp.pi) - jp.pi


class Drive(task_base.JaxTask):
  """Lane following; observations `{'state': float32[4 + len(lookahead)]}` (+ image).

  The state holds the current steering angle (as a fraction of `max_steer`) and ego-lane
  features: lateral offset, sin and cos of the heading error, and the road's curvature at
  each `lookahead` distance.
  """

  def __init__(
      self,
      track_radius: float = 3.0,
      track_wobble: float = 0.12,
      num_track_points: int = 256,
      lane_half_width: float = 0.3,
      speed: float = 1.5,
      wheelbase: float = 0.3,
      max_steer: float = 0.5,
      max_steer_rate: float = 2.0,
      dt: float = 0.05,
      init_offset: float = 0.1,
      init_heading: float = 0.1,
      lookahead: tuple = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
      lateral_cost_weight: float = 1.0,
      expert_lookahead: float = 0.8,
      image_size: int = 0,
      view_half_extent: float = 2.0,
      render_stride: int = 4,
  ):
    """Args:
      track_radius: mean radius R of the track (m).
      track_wobble: bound on each harmonic amplitude a_k (k = 2, 3, 4); larger is twistier.
      num_track_points: centre-line resolution.
      lane_half_width: the car must stay within this distance of the centre line (m).
      speed: constant forward speed (m/s).
      wheelbase: bicycle-model wheelbase (m); with max_steer it sets the turning radius.
      max_steer: steering angle at action +-1 (rad).
      max_steer_rate: how fast the wheels turn towards the commanded angle (rad/s).
      dt: seconds per step.
      init_offset: initial lateral offset is uniform in +-init_offset (m).
      init_heading: initial heading error is uniform in +-init_heading (rad).
      lookahead: arc distances (m) ahead at which the state observes the road's curvature.
      lateral_cost_weight: weight of the squared lateral offset in the reward.
      expert_lookahead: pure-pursuit look-ahead distance (m).
      image_size: side of the egocentric `image` observation; 0 leaves it out.
      view_half_extent: the image covers +-this many metres around a point ahead of the car.
      render_stride: draw the road through every n-th centre-line point (rendering cost is
        proportional to the number of segments drawn).
    """
    self._radius = track_radius
    self._wobble = track_wobble
    self._num_points = num_track_points
    self._half_width = lane_half_width
    self._speed = speed
    self._wheelbase = wheelbase
    self._max_steer = max_steer
    self._max_steer_step = max_steer_rate * dt
    self._dt = dt
    self._init_offset = init_offset
    self._init_heading = init_heading
    self._lookahead = jp.asarray(lookahead, jp.float32)
    self._lateral_cost = lateral_cost_weight
    self._expert_lookahead = expert_lookahead
    self._image_size = image_size
    self._view_half_extent = view_half_extent
    self._render_stride = render_stride

  @property
  def action_size(self) -> int:
    return 1

  @property
  def dt(self) -> float:
    return self._dt

  def reset(self, rng: jax.Array) -> State:
    rng_track, rng_start, rng_offset, rng_heading = jax.random.split(rng, 4)
    track = self._make_track(rng_track)
    spacing = jp.mean(jp.linalg.norm(jp.roll(track, -1, 0) - track, axis=-1))
    start = jax.random.randint(rng_start, (), 0, self._num_points)
    tangent, normal = self._frame(track, start)
    offset = jax.random.uniform(rng_offset, minval=-self._init_offset, maxval=self._init_offset)
    heading = jp.arctan2(tangent[1], tangent[0]) + jax.random.uniform(
        rng_heading, minval=-self._init_heading, maxval=self._init_heading
    )
    car = Car(
        track[start] + offset * normal, heading, jp.zeros(()), track, spacing, start, jp.zeros(())
    )
    car = car.replace(nearest=self._nearest(car))
    lateral, heading_error = self._errors(car)
    metrics = {
        'success': jp.ones(()),
        'lateral_error': jp.abs(lateral),
        'heading_error': jp.abs(heading_error),
        'distance': jp.zeros(()),
    }
    zero = jp.zeros(())
    return State(car, self._observe(car), zero, zero, metrics)

  def step(self, state: State, action: jax.Array) -> State:
    car = state.pipeline_state
    command = jp.clip(action[0], -1.0, 1.0) * self._max_steer
    steer = car.steer + jp.clip(command - car.steer, -self._max_steer_step, self._max_steer_step)
    heading = car.heading + self._speed / self._wheelbase * jp.tan(steer) * self._dt
    direction = jp.array([jp.cos(heading), jp.sin(heading)])
    position = car.position + self._speed * self._dt * direction
    moved = car.replace(position=position, heading=heading, steer=steer)
    nearest = self._nearest(moved)
    # Signed index change on the closed track (assumes < half a lap per step).
    advanced = (nearest - car.nearest + self._num_points // 2) % self._num_points - self._num_points // 2
    car = moved.replace(nearest=nearest, distance=car.distance + advanced * car.spacing)
    lateral, heading_error = self._errors(car)
    on_lane = (jp.abs(lateral) <= self._half_width).astype(jp.float32)
    progress = advanced * car.spacing
    reward = progress - self._lateral_cost * jp.square(lateral) * self._dt
    metrics = {
        'success': on_lane,
        'lateral_error': jp.abs(lateral),
        'heading_error': jp.abs(heading_error),
        'distance': car.distance,
    }
    # Leaving the lane ends the episode (terminal); once done, stay done.
    done = jp.maximum(state.done, 1.0 - on_lane)
    return state.replace(
        pipeline_state=car, obs=self._observe(car), reward=reward, done=done, metrics=metrics
    )

  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """Pure pursuit: steer onto the centre-line point `expert_lookahead` metres ahead."""
    del rng
    car = state.pipeline_state
    target = self._point_ahead(car, self._expert_lookahead)
    local = self._to_car_frame(car, target)
    alpha = jp.arctan2(local[1], local[0])
    steer = jp.arctan(2.0 * self._wheelbase * jp.sin(alpha) / self._expert_lookahead)
    return jp.clip(steer / self._max_steer, -1.0, 1.0)[None]

  # Geometry.
  def _make_track(self, rng):
    rng_amplitude, rng_phase = jax.random.split(rng)
    harmonics = jp.arange(2, 5)
    amplitude = jax.random.uniform(rng_amplitude, (3,), minval=-self._wobble, maxval=self._wobble)
    phase = jax.random.uniform(rng_phase, (3,), minval=0.0, maxval=2 * jp.pi)
    theta = jp.linspace(0.0, 2 * jp.pi, self._num_points, endpoint=False)
    radius = self._radius * (
        1.0 + jp.sum(amplitude * jp.cos(harmonics * theta[:, None] + phase), axis=-1)
    )
    return jp.stack([radius * jp.cos(theta), radius * jp.sin(theta)], -1)

  def _frame(self, track, index):
    """Unit tangent (direction of travel) and left normal at a track point."""
    ahead = track[(index + 1) % self._num_points] - track[(index - 1) % self._num_points]
    tangent = ahead / jp.linalg.norm(ahead)
    return tangent, jp.array([-tangent[1], tangent[0]])

  def _nearest(self, car: Car) -> jax.Array:
    return jp.argmin(jp.sum(jp.square(car.track - car.position), axis=-1)).astype(jp.int32)

  def _errors(self, car: Car):
    """Signed lateral offset (left +) and heading error relative to the lane."""
    tangent, normal = self._frame(car.track, car.nearest)
    lateral = jp.dot(car.position - car.track[car.nearest], normal)
    return lateral, _wrap(car.heading - jp.arctan2(tangent[1], tangent[0]))

  def _index_ahead(self, car: Car, distance):
    return (car.nearest + jp.round(distance / car.spacing).astype(jp.int32)) % self._num_points

  def _point_ahead(self, car: Car, distance):
    return car.track[self._index_ahead(car, distance)]

  def _curvature(self, car: Car, index):
    """Signed curvature (1/m, left +) from the turn between neighbouring track segments."""
    before = car.track[index] - car.track[(index - 1) % self._num_points]
    after = car.track[(index + 1) % self._num_points] - car.track[index]
    turn = _wrap(jp.arctan2(after[1], after[0]) - jp.arctan2(before[1], before[0]))
    return turn / car.spacing

  def _to_car_frame(self, car: Car, point):
    """World point -> (forward, left) coordinates of the car."""
    rel = point - car.position
    cos, sin = jp.cos(car.heading), jp.sin(car.heading)
    return jp.stack([rel[..., 0] * cos + rel[..., 1] * sin, -rel[..., 0] * sin + rel[..., 1] * cos], -1)

  def _observe(self, car: Car):
    lateral, heading_error = self._errors(car)
    curvature = jax.vmap(lambda d: self._curvature(car, self._index_ahead(car, d)))(
        self._lookahead
    )
    state = jp.concatenate([
        jp.stack([
            car.steer / self._max_steer, lateral, jp.sin(heading_error), jp.cos(heading_error)
        ]),
        curvature,
    ]).astype(jp.float32)
    obs = {'state': state}
    if self._image_size:
      obs['image'] = self.render_image(car)
    return obs

  def render_image(self, car: Car) -> jax.Array:
    """Egocentric top-down view (car facing up, near the bottom) of the nearby road."""
    size = self._image_size
    forward = jp.array([jp.cos(car.heading), jp.sin(car.heading)])
    center = car.position + 0.6 * self._view_half_extent * forward
    camera = render.make_camera(size, center, self._view_half_extent, car.heading)
    # Only the stretch of track that can be in view: a few metres behind to well ahead.
    behind = int(1.0 * self._view_half_extent / (2 * jp.pi * self._radius / self._num_points)) + 2
    reach = int(3.0 * self._view_half_extent / (2 * jp.pi * self._radius / self._num_points)) + 2
    indices = (car.nearest + jp.arange(-behind, reach, self._render_stride)) % self._num_points
    road = render.polyline_distance(camera, car.track[indices])
    canvas = render.blank(size, GRASS)
    canvas = render.band(canvas, camera, road, self._half_width, ROAD)
    canvas = render.band(canvas, camera, road, 0.02, LANE_MARK)
    canvas = render.box(canvas, camera, car.position, jp.array([0.2, 0.1]), car.heading, CAR)
    return render.to_uint8(canvas)
