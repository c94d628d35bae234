"""Closed-loop evaluation of a policy (and of the expert) on a batch of episodes."""

from typing import Any, Dict, List, Mapping, Optional, Union

from brax.envs.base import Env
import jax
import numpy as np

from imitation import envs
from imitation import progress
from imitation.envs import rollout as rollout_lib
from imitation.training import distributed


class Evaluator:
  """Compiles one rollout of `num_episodes` parallel episodes; call it as often as needed.

  The learner and the expert are evaluated by the same compiled program (`beta` picks who
  acts), so comparing them costs no second compilation. In a multi-process run each process
  plays its share of the episodes (the same starts as one process would) on its own device,
  and the results are gathered, so every process returns the same summary.

  With `members`, policy params and keys are stacked over members (training/members.py)
  and calls return one summary per member: the one compiled rollout plays each member's
  episodes in turn, exactly as a run of that member's seed plays them. (One rollout of
  members x episodes environments, vmapped or flat, ran 4-5x slower per episode on CPU.)
  """

  def __init__(
      self,
      env: Env,
      act_fn: Optional[rollout_lib.Actor],
      num_episodes: int,
      horizon: int,
      members: bool = False,
  ):
    self.num_episodes = num_episodes
    self.horizon = horizon
    self._task_names = envs.task_names(env)
    self._members = members
    mine = distributed.split_evenly(num_episodes, 'eval.num_episodes')
    if members and jax.process_count() > 1:
      raise ValueError('members are evaluated in one process')
    rollout = rollout_lib.make_rollout(env, horizon, act_fn)

    def evaluate(policy_params, rng, beta):
      rng_reset, rng_rollout = jax.random.split(rng)
      reset_keys = jax.random.split(rng_reset, num_episodes)[mine]
      if jax.process_count() > 1:
        rng_rollout = jax.random.fold_in(rng_rollout, jax.process_index())
      trajectory = rollout(policy_params, reset_keys, rng_rollout, beta)
      return rollout_lib.episode_statistics(trajectory)

    self._evaluate = jax.jit(evaluate)

  def __call__(self, policy_params: Any, rng: jax.Array, beta: float = 0.0,
               ) -> Union[Dict[str, Any], List[Dict[str, Any]]]:
    """Summary metrics over the episodes: means, plus the spread of success and return.

    `action_mse` is the learner's squared action error (per action dimension) against the
    expert on the visited states: on its own states when the learner drives (beta=0), on
    held-out expert states when the expert drives (beta=1). In a multi-task environment
    `per_task` maps each task (the env's task name, or the task id for an env without
    names) to its success rate, mean return and episode count. With members: a list of
    these, one per member (`rng` then holds one key per member).
    """
    policy_params = distributed.local_copy(policy_params)
    members = rng.shape[0] if self._members else 1
    with progress.task('evaluating', members * self.num_episodes, 'episode', leave=False):
      if self._members:
        return [self._summary(jax.device_get(self._evaluate(
            jax.tree.map(lambda x, k=k: x[k], policy_params), rng[k], beta)))
                for k in range(rng.shape[0])]
      stats = jax.device_get(self._evaluate(policy_params, rng, beta))
    return self._summary({k: distributed.gather_rows(v) for k, v in stats.items()})

  def _summary(self, stats: Mapping[str, np.ndarray]) -> Dict[str, Any]:
    success = np.asarray(stats['success'], np.float64)
    returns = np.asarray(stats['return'], np.float64)
    summary = {
        'success_rate': float(success.mean()),
        'success_rate_stderr': float(success.std() / np.sqrt(len(success))),
        'mean_return': float(returns.mean()),
        'return_std': float(returns.std()),
        'mean_length': float(np.mean(stats['length'])),
        'action_mse': float(np.mean(stats['action_mse'])),
        'expert_fraction': float(np.mean(stats['expert_fraction'])),
        'num_episodes': int(len(success)),
    }
    if 'task_id' in stats:  # multi-task: the same summary per task
      task_ids = np.asarray(stats['task_id'])
      summary['per_task'] = {}
      for name, ids in envs.group_task_ids(self._task_names, task_ids).items():
        episodes = np.isin(task_ids, ids)
        summary['per_task'][name] = {'success_rate': float(success[episodes].mean()),
                                     'mean_return': float(returns[episodes].mean()),
                                     'num_episodes': int(episodes.sum())}
    return summary

  def versus_expert(self, policy_params: Any, rng: jax.Array, learner: Any = None) -> Any:
    """The learner and the expert on the same episodes (same key): a paired comparison.

    Includes the compounding-error pair: the learner's per-step action error on held-out
    expert states (`heldout_action_mse`) and on the states it reaches itself
    (`closed_loop_action_mse`). `learner` may pass in this evaluator's result for
    `(policy_params, rng)` when it was already computed, so it is not run again. With
    members, `learner` and the result are lists, one per member.
    """
    if learner is None:
      learner = self(policy_params, rng, beta=0.0)
    expert = self(policy_params, rng, beta=1.0)
    if self._members:
      return [_comparison(l, e) for l, e in zip(learner, expert)]
    return _comparison(learner, expert)


def _comparison(learner: Dict[str, Any], expert: Dict[str, Any]) -> Dict[str, Any]:
  """The paired learner-vs-expert figures of one policy on the same episodes."""
  comparison = {
      'success_rate': learner['success_rate'],
      'success_rate_stderr': learner['success_rate_stderr'],
      'expert_success_rate': expert['success_rate'],
      'mean_return': learner['mean_return'],
      'expert_mean_return': expert['mean_return'],
      'heldout_action_mse': expert['action_mse'],
      'closed_loop_action_mse': learner['action_mse'],
      'num_eval_episodes': learner['num_episodes'],
  }
  if 'per_task' in learner:  # the same episodes, so the same tasks, for both
    comparison['per_task'] = {
        task: {**stats, 'expert_success_rate': expert['per_task'][task]['success_rate']}
        for task, stats in learner['per_task'].items()}
  return comparison
