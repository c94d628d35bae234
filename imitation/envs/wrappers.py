"""Environment wrappers for imitation experiments."""

from brax.envs.base import Env, State, Wrapper
import jax
from jax import numpy as jp

_NOISE_KEY = 'action_noise_rng'


class ActionNoise(Wrapper):
  """Executes a perturbed action: a * (1 + relative_std * n1) + absolute_std * n2, clipped.

  Models actuator execution error (the seed's 5-10%). The commanded action is what the
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
    state.info[_NOISE_KEY] = jax.random.fold_in(rng, 0x5EED)
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
