"""Observation encoders: they turn an observation dict into one feature vector."""

from typing import Callable, Dict, Sequence

import flax.linen as nn
import jax
from jax import numpy as jp

ACTIVATIONS: Dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'gelu': nn.gelu,
    'tanh': nn.tanh,
    'swish': nn.swish,
}


class MLP(nn.Module):
  """Dense layers with an activation after each (including the last)."""

  hidden_sizes: Sequence[int]
  activation: str = 'relu'
  layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for size in self.hidden_sizes:
      x = nn.Dense(size)(x)
      if self.layer_norm:
        x = nn.LayerNorm()(x)
      x = ACTIVATIONS[self.activation](x)
    return x


class StateEncoder(nn.Module):
  """Encodes the low-dimensional `state` vector with an MLP."""

  hidden_sizes: Sequence[int]
  activation: str = 'relu'
  layer_norm: bool = False

  @nn.compact
  def __call__(self, observation: Dict[str, jax.Array]) -> jax.Array:
    state = jp.asarray(observation['state'], jp.float32)
    return MLP(self.hidden_sizes, self.activation, self.layer_norm)(state)
