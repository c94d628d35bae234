"""Scoring a policy without an environment: action error and R^2 on held-out episodes.

Where no task of this project matches a dataset, closed-loop success cannot be measured;
what can be is how well the policy predicts the actions of episodes it never trained on.
"""

from typing import Any, Dict, Mapping

import jax
import numpy as np

from imitation.envs.rollout import Actor

CLOSED_LOOP_UNAVAILABLE = ('closed-loop success is unavailable: no environment of this '
                           'project matches the data (env.name is empty)')


class OfflineEvaluator:
  """Compiles the policy's mode on fixed-size batches of held-out transitions; each call
  scores the whole held-out set."""

  def __init__(self, actor: Actor, transitions: Mapping[str, Any], batch_size: int = 4096):
    self._observation = transitions['observation']
    self._action = np.asarray(transitions['action'], np.float64)
    self._size = len(self._action)
    if not self._size:
      raise ValueError('no held-out transitions to score')
    self._batch_size = min(batch_size, self._size)
    rng = jax.random.PRNGKey(0)  # unused: the act fn is deterministic (the mode)
    self._act = jax.jit(lambda params, observation: actor.first_action(params, observation, rng))

  def predict(self, policy_params: Any) -> np.ndarray:
    """[N, A] predicted actions (environment units) for every held-out observation."""
    predictions = []
    for first in range(0, self._size, self._batch_size):
      rows = np.arange(first, first + self._batch_size) % self._size  # last batch: wrap
      batch = {k: np.asarray(v)[rows] for k, v in self._observation.items()}
      predictions.append(np.asarray(jax.device_get(self._act(policy_params, batch))))
    return np.concatenate(predictions)[: self._size].astype(np.float64)

  def __call__(self, policy_params: Any) -> Dict[str, Any]:
    return action_scores(self.predict(policy_params), self._action)


def action_scores(predicted: np.ndarray, target: np.ndarray) -> Dict[str, Any]:
  """Mean squared error (per action dimension) and R^2 per dimension and averaged.

  R^2 = 1 - SSE / SST against the held-out actions' own mean: 1 is perfect, 0 is no better
  than always predicting the mean. A dimension whose held-out actions are constant has no
  R^2 (None) and is left out of the average.
  """
  error = np.square(predicted - target)
  sse = error.sum(0)
  sst = np.square(target - target.mean(0)).sum(0)
  defined = sst > 1e-12
  r2 = np.where(defined, 1.0 - sse / np.where(defined, sst, 1.0), np.nan)
  return {
      'heldout_action_mse': float(error.mean()),
      'heldout_action_mse_per_dim': [float(x) for x in error.mean(0)],
      'r2': float(np.mean(r2[defined])) if defined.any() else None,
      'r2_per_dim': [float(x) if ok else None for x, ok in zip(r2, defined)],
      'num_heldout_transitions': int(len(target)),
  }
