"""Rollout videos for people: frames from the task's own renderer, tiled, saved as GIF."""

from typing import Any, Callable, Optional

import jax
import ml_collections
import numpy as np
from PIL import Image

from imitation import envs
from imitation import progress
from imitation.envs import rollout as rollout_lib


def with_camera(env_config: ml_collections.ConfigDict, size: int
                ) -> ml_collections.ConfigDict:
  """A copy of `env_config` that renders images: of `size` pixels unless it already does
  (an image policy must see the images it was trained on)."""
  env_config = env_config.copy_and_resolve_references()
  if not env_config.kwargs.get('image_size', 0):
    env_config.kwargs.image_size = size
  return env_config


def make_recorder(
    env_config: ml_collections.ConfigDict,
    act_fn: Optional[rollout_lib.Actor],
    *,
    size: int,
) -> Callable[..., np.ndarray]:
  """Returns `record(policy_params, rng, num_episodes, beta) -> frames`, compiled once.

  Frames are [T + 1, num_episodes, H, W, 3]. An env without image observations is rebuilt
  with `image_size=size` (a state-based policy ignores the extra image); one with them
  keeps its size, since an image policy must see the images it was trained on. Frames
  after an episode ends repeat its last one. `beta` picks who acts, as in rollouts.
  """
  env_config = with_camera(env_config, size)
  env = envs.make_from_config(env_config)
  rollout = jax.jit(rollout_lib.make_rollout(env, env_config.horizon, act_fn))

  def record(policy_params: Any, rng: jax.Array, num_episodes: int, beta: float = 0.0):
    rng_reset, rng_rollout = jax.random.split(rng)
    with progress.task('rendering video', num_episodes, 'episode'):
      trajectory = jax.device_get(
          rollout(policy_params, jax.random.split(rng_reset, num_episodes), rng_rollout, beta)
      )
    # A writable copy; with a frame stack, the newest frame (the last 3 channels).
    frames = np.array(trajectory.observation['image'][..., -3:])
    mask = np.asarray(rollout_lib.episode_mask(trajectory.done))  # [T, E]
    length = mask.sum(0).astype(int)  # actions per episode; frame `length` is its last
    for e, last in enumerate(length):
      frames[last + 1:, e] = frames[last, e]
    return frames

  return record


def record(
    env_config: ml_collections.ConfigDict,
    act_fn: Optional[rollout_lib.Actor],
    policy_params: Any,
    rng: jax.Array,
    *,
    num_episodes: int,
    size: int,
    beta: float = 0.0,
) -> np.ndarray:
  """One-off `make_recorder(...)(policy_params, rng, num_episodes, beta)`."""
  return make_recorder(env_config, act_fn, size=size)(policy_params, rng, num_episodes, beta)


def tile(frames: np.ndarray, columns: int = 4, border: int = 2) -> np.ndarray:
  """[T, E, H, W, 3] -> [T, rows * (H + border), columns * (W + border), 3] grid."""
  steps, num, height, width, _ = frames.shape
  columns = min(columns, num)
  rows = -(-num // columns)
  grid = np.full(
      (steps, rows * (height + border), columns * (width + border), 3), 255, np.uint8
  )
  for i in range(num):
    r, c = divmod(i, columns)
    y, x = r * (height + border), c * (width + border)
    grid[:, y:y + height, x:x + width] = frames[:, i]
  return grid


def save_gif(path: str, frames: np.ndarray, seconds_per_frame: float) -> str:
  """Writes [T, H, W, 3] uint8 frames as a looping GIF (frame time floored at 20 ms)."""
  images = [Image.fromarray(frame) for frame in frames]
  images[0].save(
      path, save_all=True, append_images=images[1:], loop=0,
      duration=max(20, int(round(seconds_per_frame * 1000))),
  )
  return path
