"""An exponential moving average of the weights (Polyak averaging), for any learner.

Diffusion Policy, robomimic and LeRobot evaluate the averaged weights of a run rather than
its last step's: the average of a noisy trajectory of weights is a smoother policy.
`with_ema(learner, decay)` keeps `ema_params` in the train state (so it is checkpointed
and restored with it) and updates it after every step with `optax.incremental_update`;
`TrainState.policy_params` then hands the average to evaluation and export.

The decay warms up as min(decay, (1 + t) / (10 + t)) (TensorFlow's ExponentialMovingAverage
with num_updates): early on the average follows the weights instead of remembering the
random initialisation.
"""

import dataclasses

import jax
from jax import numpy as jp
import optax

from imitation import config_rules as rules
from imitation.training.learner import Learner


def decay_at(step: jax.Array, decay: float) -> jax.Array:
  """The decay used after update `step` (counted from 1)."""
  step = step.astype(jp.float32)
  return jp.minimum(decay, (1.0 + step) / (10.0 + step))


def with_ema(learner: Learner, decay: float) -> Learner:
  """`learner` keeping a moving average of its params (unchanged when `decay` is 0)."""
  if not decay:
    return learner
  rules.require({'train': {'ema_decay': decay}}, CONFIG_RULES)
  init, update = learner.init, learner.update

  def init_with_average(*args, **kwargs):
    state = init(*args, **kwargs)
    return state.replace(ema_params=state.params)

  def update_average(state, batch, rng):
    state, metrics = update(state, batch, rng)
    rate = 1.0 - decay_at(state.step, decay)
    average = optax.incremental_update(state.params, state.ema_params, rate)
    return state.replace(ema_params=average), metrics

  return dataclasses.replace(learner, init=init_with_average, update=update_average)


CONFIG_RULES = {'train.ema_decay': rules.fraction(high_open=True)}
