"""A pure-JAX top-down rasterizer: simulator state -> uint8 image, inside jit, vmappable.

A task draws its scene as a few primitives (circles, oriented boxes, capsules, polylines)
in world coordinates onto a canvas seen by a `Camera`. Every pixel evaluates the signed
distance to each primitive, with a one-pixel soft edge so sub-pixel motion stays visible.
Cost grows with pixels x primitives, so scenes keep to a handful of primitives.
"""

from typing import Sequence

import flax
import jax
from jax import numpy as jp

Color = Sequence[float]  # RGB in [0, 1]


@flax.struct.dataclass
class Camera:
  """An orthographic top-down view: pixels cover [center +- half_extent], rotated by angle.

  With `angle` = the heading of a vehicle and `center` its position, the view is egocentric
  (the vehicle always faces up).
  """

  points: jax.Array  # [H, W, 2] world coordinates of the pixel centres
  pixel_size: jax.Array  # world units per pixel


def make_camera(size: int, center, half_extent: float, angle=jp.pi / 2) -> Camera:
  """`angle` is the world direction shown as up (default: +y, a north-up map)."""
  offsets = (jp.arange(size) + 0.5) / size * 2.0 - 1.0  # pixel centres in (-1, 1)
  view_x = jp.broadcast_to(offsets[None, :], (size, size)) * half_extent
  view_y = jp.broadcast_to(-offsets[:, None], (size, size)) * half_extent
  # The view's "up" is the world direction `angle`; its "right" is angle - 90 degrees.
  cos, sin = jp.cos(angle), jp.sin(angle)
  world_x = center[0] + view_y * cos + view_x * sin
  world_y = center[1] + view_y * sin - view_x * cos
  return Camera(jp.stack([world_x, world_y], -1), jp.asarray(2.0 * half_extent / size))


def blank(size: int, color: Color) -> jax.Array:
  return jp.broadcast_to(jp.asarray(color, jp.float32), (size, size, 3))


def _coverage(camera: Camera, signed_distance: jax.Array) -> jax.Array:
  """1 inside, 0 outside, linear across one pixel at the boundary."""
  return jp.clip(0.5 - signed_distance / camera.pixel_size, 0.0, 1.0)


def paint(canvas: jax.Array, coverage: jax.Array, color: Color) -> jax.Array:
  return canvas + coverage[..., None] * (jp.asarray(color, jp.float32) - canvas)


def circle(canvas, camera: Camera, center, radius, color: Color):
  """A filled disc; radius 0 draws nothing (so a traced radius can switch it off)."""
  distance = jp.linalg.norm(camera.points - jp.asarray(center)[:2], axis=-1) - radius
  return paint(canvas, _coverage(camera, distance) * (radius > 0), color)


def box(canvas, camera: Camera, center, half_size, angle, color: Color):
  """An oriented rectangle with half-sizes (along its axis, across it)."""
  rel = camera.points - jp.asarray(center)[:2]
  cos, sin = jp.cos(angle), jp.sin(angle)
  local = jp.stack([rel[..., 0] * cos + rel[..., 1] * sin, -rel[..., 0] * sin + rel[..., 1] * cos], -1)
  q = jp.abs(local) - jp.asarray(half_size)
  distance = jp.linalg.norm(jp.maximum(q, 0.0), axis=-1) + jp.minimum(jp.max(q, axis=-1), 0.0)
  return paint(canvas, _coverage(camera, distance), color)


def _segment_distance(points, start, end):
  direction = end - start
  t = jp.clip(
      jp.sum((points - start) * direction, -1) / jp.maximum(jp.sum(direction**2), 1e-12),
      0.0, 1.0,
  )
  return jp.linalg.norm(points - (start + t[..., None] * direction), axis=-1)


def capsule(canvas, camera: Camera, start, end, radius, color: Color):
  distance = _segment_distance(camera.points, jp.asarray(start)[:2], jp.asarray(end)[:2])
  return paint(canvas, _coverage(camera, distance - radius), color)


def polyline_distance(camera: Camera, vertices) -> jax.Array:
  """Per-pixel distance [H, W] to the open polyline through `vertices` [N, 2].

  Cost is pixels x (N - 1) segments; compute it once and paint several bands from it.
  """
  def closer(distance, segment):
    start, end = segment
    return jp.minimum(distance, _segment_distance(camera.points, start, end)), None

  initial = jp.full(camera.points.shape[:2], jp.inf)
  distance, _ = jax.lax.scan(closer, initial, (vertices[:-1], vertices[1:]))
  return distance


def band(canvas, camera: Camera, distance, radius, color: Color):
  """Paints pixels within `radius` of a shape, given its distance field."""
  return paint(canvas, _coverage(camera, distance - radius), color)


def polyline(canvas, camera: Camera, vertices, radius, color: Color):
  """A thick open polyline through `vertices` [N, 2]."""
  return band(canvas, camera, polyline_distance(camera, vertices), radius, color)


def to_uint8(canvas: jax.Array) -> jax.Array:
  return jp.round(jp.clip(canvas, 0.0, 1.0) * 255.0).astype(jp.uint8)
