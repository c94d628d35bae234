"""Action heads: features -> an action distribution (see `distributions`)."""

import flax.linen as nn
import jax
from jax import numpy as jp

from imitation.networks import distributions


class DeterministicHead(nn.Module):
  """A linear map to the action; trained with MSE through `Deterministic.log_prob`."""

  action_dim: int
  squash: bool = False  # tanh keeps the (normalised) action in [-1, 1]

  @nn.compact
  def __call__(self, features: jax.Array) -> distributions.Deterministic:
    loc = nn.Dense(self.action_dim)(features)
    return distributions.Deterministic(jp.tanh(loc) if self.squash else loc)
