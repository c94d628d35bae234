"""The train state: everything a checkpoint must hold to resume a run exactly."""

from typing import Any

import flax
import jax
import optax

from imitation.data.normalization import Normalization


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar: number of updates applied
  params: Any
  opt_state: optax.OptState
  rng: jax.Array  # the run's key stream; split by the loop, never reused
  normalization: Normalization  # fixed statistics of the training data
  # The moving average of `params` (training/ema.py), when `train.ema_decay` > 0: what is
  # evaluated and exported instead of the live weights.
  ema_params: Any = None

  @property
  def policy_params(self):
    """What an act function needs: the network parameters (their moving average, if kept)
    and the normalisation."""
    return (self.params if self.ema_params is None else self.ema_params, self.normalization)
