"""Observation and action normalisation statistics, computed once from the dataset.

They live in the train state, so checkpoints and exported policies carry them and a
policy is never deployed with statistics different from those it was trained with.
"""

from typing import Any, Dict, Mapping

import flax
import jax
from jax import numpy as jp
import numpy as np

from imitation import config_rules as rules


@flax.struct.dataclass
class Normalization:
  observation_mean: Dict[str, jax.Array]  # float observation keys only
  observation_std: Dict[str, jax.Array]
  action_mean: jax.Array
  action_std: jax.Array


def compute(
    transitions: Mapping[str, Any],
    *,
    min_std: float,
    normalize_observations: bool = True,
    normalize_actions: bool = True,
) -> Normalization:
  """Per-dimension mean and std of float observations and of actions (std floored)."""
  return from_moments(moments(transitions), min_std=min_std,
                      normalize_observations=normalize_observations,
                      normalize_actions=normalize_actions)


def moments(transitions: Mapping[str, Any]) -> Dict[str, np.ndarray]:
  """Per key: [3, ...] float64 count, mean and variance of the float observations
  (`observation/KEY`) and of the actions (`action`). Moments of parts of a dataset (each
  process's shard) merge exactly into the whole's with `merge_moments`."""
  def one(x):
    x = np.asarray(x, np.float64)
    return np.stack([np.full(x.shape[1:], x.shape[0], np.float64), x.mean(0), x.var(0)])

  result = {f'observation/{k}': one(v) for k, v in transitions['observation'].items()
            if np.issubdtype(np.asarray(v).dtype, np.floating)}
  result['action'] = one(transitions['action'])
  return result


def merge_moments(parts: np.ndarray) -> np.ndarray:
  """[parts, 3, ...] moments of disjoint parts -> [3, ...] moments of their union."""
  counts, means, variances = parts[:, 0], parts[:, 1], parts[:, 2]
  total = counts.sum(0)
  mean = (counts * means).sum(0) / total
  variance = (counts * (variances + np.square(means - mean))).sum(0) / total
  return np.stack([total, mean, variance])


def from_moments(
    stats: Mapping[str, np.ndarray],
    *,
    min_std: float,
    normalize_observations: bool = True,
    normalize_actions: bool = True,
) -> Normalization:
  """The normalisation that `moments` (of the whole dataset) give; disabled parts are the
  identity (mean 0, std 1)."""
  def mean_std(key, enabled):
    _, mean, variance = stats[key]
    if not enabled:
      return np.zeros(mean.shape, np.float32), np.ones(mean.shape, np.float32)
    return mean.astype(np.float32), np.maximum(np.sqrt(variance), min_std).astype(np.float32)

  obs_mean, obs_std = {}, {}
  for key in stats:
    if key.startswith('observation/'):
      name = key[len('observation/'):]
      obs_mean[name], obs_std[name] = mean_std(key, normalize_observations)
  action_mean, action_std = mean_std('action', normalize_actions)
  return Normalization(obs_mean, obs_std, action_mean, action_std)


def normalize_observation(norm: Normalization, observation: Dict[str, jax.Array]):
  """Standardises float observation keys; images and ids pass through untouched."""
  return {
      k: (v - norm.observation_mean[k]) / norm.observation_std[k]
      if k in norm.observation_mean else v
      for k, v in observation.items()
  }


def normalize_action(norm: Normalization, action: jax.Array) -> jax.Array:
  return (action - norm.action_mean) / norm.action_std


def denormalize_action(norm: Normalization, action: jax.Array) -> jax.Array:
  return action * norm.action_std + norm.action_mean


def to_json(norm: Normalization) -> Dict[str, Any]:
  return jax.tree.map(lambda x: np.asarray(x).tolist(), flax.serialization.to_state_dict(norm))


def from_json(data: Mapping[str, Any]) -> Normalization:
  return Normalization(
      observation_mean={k: jp.asarray(v, jp.float32) for k, v in data['observation_mean'].items()},
      observation_std={k: jp.asarray(v, jp.float32) for k, v in data['observation_std'].items()},
      action_mean=jp.asarray(data['action_mean'], jp.float32),
      action_std=jp.asarray(data['action_std'], jp.float32),
  )


CONFIG_RULES = {'normalization.min_std': rules.positive_number()}
