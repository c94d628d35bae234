"""Action heads: features -> an action distribution (see `distributions`).

Every head returns a distribution with `mode`, `sample` and `log_prob`, so the BC loss
(negative log-likelihood) and evaluation never branch on the head type. Actions here are
in the space the agent trains in (normalised unless configured otherwise).
"""

import flax.linen as nn
import jax
from jax import numpy as jp

from imitation.networks import distributions


def _bounded(x: jax.Array, bound: str, limit: float) -> jax.Array:
  """'tanh' squashes into (-limit, limit), 'clip' clips, 'none' leaves x alone."""
  if bound == 'tanh':
    return limit * jp.tanh(x / limit)
  if bound == 'clip':
    return jp.clip(x, -limit, limit)
  return x


def _scale(raw: jax.Array, min_scale: float, max_scale: float) -> jax.Array:
  """Maps unbounded outputs to standard deviations in [min_scale, max_scale]."""
  return min_scale + (max_scale - min_scale) * nn.sigmoid(raw)


class DeterministicHead(nn.Module):
  """A linear map to the action; trained with MSE through `Deterministic.log_prob`."""

  action_dim: int
  squash: bool = False  # tanh keeps the (normalised) action in [-1, 1]

  @nn.compact
  def __call__(self, features: jax.Array) -> distributions.Deterministic:
    loc = nn.Dense(self.action_dim)(features)
    return distributions.Deterministic(jp.tanh(loc) if self.squash else loc)


class GaussianHead(nn.Module):
  """Diagonal Gaussian with state-dependent scale in [min_scale, max_scale]."""

  action_dim: int
  min_scale: float = 1e-3
  max_scale: float = 2.0
  bound: str = 'none'
  limit: float = 1.0

  @nn.compact
  def __call__(self, features: jax.Array) -> distributions.DiagGaussian:
    loc = _bounded(nn.Dense(self.action_dim)(features), self.bound, self.limit)
    scale = _scale(nn.Dense(self.action_dim)(features), self.min_scale, self.max_scale)
    return distributions.DiagGaussian(loc, scale)


class MixtureHead(nn.Module):
  """Mixture of `num_components` diagonal Gaussians (multimodal actions)."""

  action_dim: int
  num_components: int = 5
  min_scale: float = 1e-3
  max_scale: float = 2.0
  bound: str = 'none'
  limit: float = 1.0

  @nn.compact
  def __call__(self, features: jax.Array) -> distributions.GaussianMixture:
    k, a = self.num_components, self.action_dim
    logits = nn.Dense(k)(features)
    # Spread initial means so components do not start identical.
    symmetric = lambda key, shape, dtype=jp.float32: jax.random.uniform(key, shape, dtype, -1.0, 1.0)
    loc = nn.Dense(k * a, bias_init=symmetric)(features)
    loc = _bounded(loc.reshape(features.shape[:-1] + (k, a)), self.bound, self.limit)
    raw = nn.Dense(k * a)(features).reshape(features.shape[:-1] + (k, a))
    return distributions.GaussianMixture(logits, loc, _scale(raw, self.min_scale, self.max_scale))


class CategoricalHead(nn.Module):
  """Per-dimension categorical over `num_bins` bins on [low, high] (discrete actions)."""

  action_dim: int
  num_bins: int = 21
  low: float = -1.0
  high: float = 1.0

  @nn.compact
  def __call__(self, features: jax.Array) -> distributions.BinnedCategorical:
    logits = nn.Dense(self.action_dim * self.num_bins)(features)
    logits = logits.reshape(features.shape[:-1] + (self.action_dim, self.num_bins))
    return distributions.BinnedCategorical(logits, self.low, self.high)
