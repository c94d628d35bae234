"""Measures of compounding error: how far a learner drifts from the expert's states.

* `distance_to_reference_by_step`: per time step, the mean distance from the states the
  learner visits to the nearest state of a reference set (the expert's demonstrations), in
  units of the reference's per-dimension std.
* `success_by_horizon`: closed-loop success when episodes are cut at each horizon.
"""

from typing import Any, Dict, Sequence

from brax.envs.base import Env
import jax
from jax import numpy as jp
import numpy as np

from imitation.envs import rollout as rollout_lib
from imitation.evaluation.evaluator import Evaluator


def nearest_distance(points: jax.Array, reference: jax.Array, chunk: int = 4096) -> jax.Array:
  """[N] Euclidean distance from each point [N, D] to its nearest row of reference [M, D]."""
  def chunk_min(ref_chunk):
    d2 = (jp.sum(points**2, -1)[:, None] - 2 * points @ ref_chunk.T
          + jp.sum(ref_chunk**2, -1)[None, :])
    return jp.min(d2, axis=1)

  best = jp.full(points.shape[:1], jp.inf)
  for start in range(0, reference.shape[0], chunk):
    best = jp.minimum(best, chunk_min(reference[start:start + chunk]))
  return jp.sqrt(jp.maximum(best, 0.0))


def distance_to_reference_by_step(
    trajectory: rollout_lib.Trajectory, reference_states: np.ndarray
) -> Dict[str, np.ndarray]:
  """Mean (over episodes still running) nearest-reference distance of `state` at each step.

  States are standardised with the reference's mean and std, so every dimension counts
  alike. Returns {'distance': [T], 'running': [T] fraction of episodes still running}.
  """
  reference = np.asarray(reference_states, np.float32)
  mean, std = reference.mean(0), np.maximum(reference.std(0), 1e-6)
  states = np.asarray(trajectory.observation['state'][:-1], np.float32)  # [T, N, D]
  horizon, num_envs, dim = states.shape
  distance = nearest_distance(jp.asarray(((states - mean) / std).reshape(-1, dim)),
                              jp.asarray((reference - mean) / std))
  distance = np.asarray(distance).reshape(horizon, num_envs)
  mask = np.asarray(rollout_lib.episode_mask(trajectory.done))
  running = mask.sum(1)
  return {
      'distance': (distance * mask).sum(1) / np.maximum(running, 1),
      'running': running / num_envs,
  }


def success_by_horizon(
    env: Env, act_fn: rollout_lib.Actor, policy_params: Any, horizons: Sequence[int],
    num_episodes: int, rng: jax.Array,
) -> Dict[int, Dict[str, float]]:
  """Learner and expert success rates with episodes cut at each horizon (same episodes)."""
  results = {}
  for horizon in horizons:
    evaluator = Evaluator(env, act_fn, num_episodes, horizon)
    results[int(horizon)] = {
        'success_rate': evaluator(policy_params, rng, beta=0.0)['success_rate'],
        'expert_success_rate': evaluator(policy_params, rng, beta=1.0)['success_rate'],
    }
  return results
