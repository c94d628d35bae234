"""Action distributions behind one interface (`mode`, `sample`, `log_prob`).

Agents and evaluation call only this interface, so a deterministic head is a distribution
too: its `log_prob` is the negative half squared error, which makes maximum likelihood
the MSE loss.
"""

import flax
import jax
from jax import numpy as jp


@flax.struct.dataclass
class Deterministic:
  """A point mass at `loc`, scored as a unit-variance Gaussian without its constant."""

  loc: jax.Array  # [..., action_dim]

  def mode(self) -> jax.Array:
    return self.loc

  def sample(self, rng: jax.Array) -> jax.Array:
    del rng
    return self.loc

  def log_prob(self, action: jax.Array) -> jax.Array:
    return -0.5 * jp.sum(jp.square(action - self.loc), axis=-1)
