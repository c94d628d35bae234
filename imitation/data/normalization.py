"""Observation and action normalisation statistics, computed once from the dataset.

They live in the train state, so checkpoints and exported policies carry them and a
policy is never deployed with statistics different from those it was trained with.
"""

from typing import Any, Dict, Mapping

import flax
import jax
from jax import numpy as jp
import numpy as np


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
  def stats(x, enabled):
    x = np.asarray(x, np.float64)
    if not enabled:
      return np.zeros(x.shape[1:], np.float32), np.ones(x.shape[1:], np.float32)
    return (
        x.mean(0).astype(np.float32),
        np.maximum(x.std(0), min_std).astype(np.float32),
    )

  obs_mean, obs_std = {}, {}
  for key, value in transitions['observation'].items():
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      obs_mean[key], obs_std[key] = stats(value, normalize_observations)
  action_mean, action_std = stats(transitions['action'], normalize_actions)
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
