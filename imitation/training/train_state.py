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

  @property
  def policy_params(self):
    """What an act function needs: the network parameters and the normalisation."""
    return (self.params, self.normalization)
