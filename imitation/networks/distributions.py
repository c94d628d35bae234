"""Action distributions behind one interface (`mode`, `sample`, `log_prob`).

Agents and evaluation call only this interface, so a deterministic head is a distribution
too: its `log_prob` is the negative half squared error, which makes maximum likelihood
the MSE loss.
"""

import math

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


_LOG_2PI = math.log(2.0 * math.pi)


def _gaussian_log_prob(action, loc, scale):
  """Diagonal Gaussian log-density, summed over the last axis."""
  z = (action - loc) / scale
  return jp.sum(-0.5 * jp.square(z) - jp.log(scale) - 0.5 * _LOG_2PI, axis=-1)


@flax.struct.dataclass
class DiagGaussian:
  """Independent Gaussian per action dimension."""

  loc: jax.Array  # [..., action_dim]
  scale: jax.Array  # [..., action_dim], > 0

  def mode(self) -> jax.Array:
    return self.loc

  def sample(self, rng: jax.Array) -> jax.Array:
    return self.loc + self.scale * jax.random.normal(rng, self.loc.shape)

  def log_prob(self, action: jax.Array) -> jax.Array:
    return _gaussian_log_prob(action, self.loc, self.scale)


@flax.struct.dataclass
class GaussianMixture:
  """K diagonal Gaussians with mixture weights; `mode` is the mean of the likeliest one.

  The mean of the whole mixture would average the modes (pick the cup from the left OR the
  right: the average grasps the air), so `mode` commits to one component.
  """

  logits: jax.Array  # [..., K]
  loc: jax.Array  # [..., K, action_dim]
  scale: jax.Array  # [..., K, action_dim]

  def mode(self) -> jax.Array:
    best = jp.argmax(self.logits, axis=-1)
    return jp.take_along_axis(self.loc, best[..., None, None], axis=-2)[..., 0, :]

  def sample(self, rng: jax.Array) -> jax.Array:
    rng_component, rng_noise = jax.random.split(rng)
    component = jax.random.categorical(rng_component, self.logits)
    loc = jp.take_along_axis(self.loc, component[..., None, None], axis=-2)[..., 0, :]
    scale = jp.take_along_axis(self.scale, component[..., None, None], axis=-2)[..., 0, :]
    return loc + scale * jax.random.normal(rng_noise, loc.shape)

  def log_prob(self, action: jax.Array) -> jax.Array:
    per_component = _gaussian_log_prob(action[..., None, :], self.loc, self.scale)
    return jax.nn.logsumexp(jax.nn.log_softmax(self.logits, axis=-1) + per_component, axis=-1)


@flax.struct.dataclass
class BinnedCategorical:
  """Each action dimension discretised into `num_bins` equal bins over [low, high].

  A continuous action is scored by the bins it falls in (cross-entropy on the bin index);
  `mode` and `sample` return bin centres. For tasks with truly discrete actions the bins
  are the actions.
  """

  logits: jax.Array  # [..., action_dim, num_bins]
  low: float = flax.struct.field(pytree_node=False, default=-1.0)
  high: float = flax.struct.field(pytree_node=False, default=1.0)

  @property
  def centers(self) -> jax.Array:
    num_bins = self.logits.shape[-1]
    width = (self.high - self.low) / num_bins
    return self.low + width * (jp.arange(num_bins) + 0.5)

  def bin_index(self, action: jax.Array) -> jax.Array:
    num_bins = self.logits.shape[-1]
    index = jp.floor((action - self.low) / (self.high - self.low) * num_bins)
    return jp.clip(index, 0, num_bins - 1).astype(jp.int32)

  def mode(self) -> jax.Array:
    return self.centers[jp.argmax(self.logits, axis=-1)]

  def sample(self, rng: jax.Array) -> jax.Array:
    return self.centers[jax.random.categorical(rng, self.logits)]

  def log_prob(self, action: jax.Array) -> jax.Array:
    log_probs = jax.nn.log_softmax(self.logits, axis=-1)
    chosen = jp.take_along_axis(log_probs, self.bin_index(action)[..., None], axis=-1)[..., 0]
    return jp.sum(chosen, axis=-1)
