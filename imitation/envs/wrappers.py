"""Environment wrappers for imitation experiments."""

from brax.envs.base import Env, State, Wrapper
import jax
from jax import numpy as jp

from imitation import streams

_NOISE_KEY = 'action_noise_rng'


class ActionNoise(Wrapper):
  """Executes a perturbed action: a * (1 + relative_std * n1) + absolute_std * n2, clipped.

  Models actuator execution error (5-10% is typical). The commanded action is what the
  policy (or expert) chose and what datasets record; only the executed one is perturbed.
  The noise key lives in `state.info`, derived from the reset key, so a noisy and a clean
  environment reset with the same key start in the same state.
  """

  def __init__(self, env: Env, relative_std: float = 0.0, absolute_std: float = 0.0,
               action_low: float = -1.0, action_high: float = 1.0):
    super().__init__(env)
    if relative_std < 0 or absolute_std < 0:
      raise ValueError('action noise standard deviations must be >= 0')
    self.relative_std = relative_std
    self.absolute_std = absolute_std
    self.action_low = action_low
    self.action_high = action_high

  def reset(self, rng: jax.Array) -> State:
    state = self.env.reset(rng)
    state.info[_NOISE_KEY] = jax.random.fold_in(rng, streams.ACTION_NOISE)
    return state

  def step(self, state: State, action: jax.Array) -> State:
    rng, rng_relative, rng_absolute = jax.random.split(state.info[_NOISE_KEY], 3)
    executed = (
        action * (1.0 + self.relative_std * jax.random.normal(rng_relative, action.shape))
        + self.absolute_std * jax.random.normal(rng_absolute, action.shape)
    )
    state = self.env.step(state, jp.clip(executed, self.action_low, self.action_high))
    state.info[_NOISE_KEY] = rng
    return state


_FRAMES_KEY = 'frame_stack'


class FrameStack(Wrapper):
  """Stacks the last `num_frames` images of `obs[key]` along channels, oldest first.

  A single frame shows where things are but not how fast they move; the experts' PD
  controllers act on velocities too (reach: without them, held-out BC error from state
  quadruples). The frames live in `state.info`; at reset the first frame is repeated.
  Observations become uint8 [H, W, C * num_frames]; other keys pass through.
  """

  def __init__(self, env: Env, num_frames: int, key: str = 'image'):
    super().__init__(env)
    if num_frames < 1:
      raise ValueError(f'frame_stack must be >= 1, got {num_frames}')
    self.num_frames = num_frames
    self.key = key

  def reset(self, rng: jax.Array) -> State:
    state = self.env.reset(rng)
    if self.key not in state.obs:
      raise ValueError(
          f'frame_stack={self.num_frames} needs an {self.key!r} observation; this env has '
          f'{sorted(state.obs)} (set env.kwargs.image_size)'
      )
    frames = jp.stack([state.obs[self.key]] * self.num_frames)
    return self._with_frames(state, frames)

  def step(self, state: State, action: jax.Array) -> State:
    frames = state.info[_FRAMES_KEY]
    state = self.env.step(state, action)
    frames = jp.concatenate([frames[1:], state.obs[self.key][None]])
    return self._with_frames(state, frames)

  def _with_frames(self, state: State, frames: jax.Array) -> State:
    state.info[_FRAMES_KEY] = frames
    stacked = jp.concatenate(list(frames), axis=-1)  # [H, W, C * num_frames]
    return state.replace(obs={**state.obs, self.key: stacked})
