"""Closed-loop evaluation of a policy (and of the expert) on a batch of episodes."""

from typing import Any, Dict, Optional

from brax.envs.base import Env
import jax
import numpy as np

from imitation.envs import rollout as rollout_lib


class Evaluator:
  """Compiles one rollout of `num_episodes` parallel episodes; call it as often as needed.

  The learner and the expert are evaluated by the same compiled program (`beta` picks who
  acts), so comparing them costs no second compilation.
  """

  def __init__(
      self,
      env: Env,
      act_fn: Optional[rollout_lib.ActFn],
      num_episodes: int,
      horizon: int,
  ):
    self.num_episodes = num_episodes
    self.horizon = horizon
    rollout = rollout_lib.make_rollout(env, horizon, act_fn)

    def evaluate(policy_params, rng, beta):
      rng_reset, rng_rollout = jax.random.split(rng)
      reset_keys = jax.random.split(rng_reset, num_episodes)
      trajectory = rollout(policy_params, reset_keys, rng_rollout, beta)
      return rollout_lib.episode_statistics(trajectory)

    self._evaluate = jax.jit(evaluate)

  def __call__(self, policy_params: Any, rng: jax.Array, beta: float = 0.0) -> Dict[str, float]:
    """Summary metrics over the episodes: means, plus the spread of success and return.

    `action_mse` is the learner's squared action error (per action dimension) against the
    expert on the visited states: on its own states when the learner drives (beta=0), on
    held-out expert states when the expert drives (beta=1).
    """
    stats = jax.device_get(self._evaluate(policy_params, rng, beta))
    success = np.asarray(stats['success'], np.float64)
    returns = np.asarray(stats['return'], np.float64)
    return {
        'success_rate': float(success.mean()),
        'success_rate_stderr': float(success.std() / np.sqrt(len(success))),
        'mean_return': float(returns.mean()),
        'return_std': float(returns.std()),
        'mean_length': float(np.mean(stats['length'])),
        'action_mse': float(np.mean(stats['action_mse'])),
        'expert_fraction': float(np.mean(stats['expert_fraction'])),
        'num_episodes': int(len(success)),
    }

  def versus_expert(
      self, policy_params: Any, rng: jax.Array, learner: Optional[Dict[str, float]] = None
  ) -> Dict[str, float]:
    """The learner and the expert on the same episodes (same key): a paired comparison.

    Includes the compounding-error pair: the learner's per-step action error on held-out
    expert states (`heldout_action_mse`) and on the states it reaches itself
    (`closed_loop_action_mse`). `learner` may pass in this evaluator's result for
    `(policy_params, rng)` when it was already computed, so it is not run again.
    """
    if learner is None:
      learner = self(policy_params, rng, beta=0.0)
    expert = self(policy_params, rng, beta=1.0)
    return {
        'success_rate': learner['success_rate'],
        'success_rate_stderr': learner['success_rate_stderr'],
        'expert_success_rate': expert['success_rate'],
        'mean_return': learner['mean_return'],
        'expert_mean_return': expert['mean_return'],
        'heldout_action_mse': expert['action_mse'],
        'closed_loop_action_mse': learner['action_mse'],
        'num_eval_episodes': learner['num_episodes'],
    }
