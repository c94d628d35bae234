"""Multi-task BC: one task-conditioned policy, its loss weighted per task.

The policy reads `obs['task_id']` (`network.task`, see networks/conditioning.py). Each
example's negative log-likelihood is weighted by its task's weight, so with every weight 1
this is BC exactly, and `sum_t w_t * loss_t` otherwise (loss_t: task t's share of the batch
loss). The weights live in the train state as an array: changing them never recompiles the
update, and checkpoints carry them, so a resumed run continues with the same weights.

Weight rules (`multitask.loss_weights`):
* `uniform`: every task 1.
* `fixed`: `multitask.fixed_weights`, one per task id.
* `success_rate`: after each evaluation, tasks the policy fails more get more weight. With
  s_t the task's success, smoothed over evaluations (s <- a * s_old + (1 - a) * s_new,
  a = `smoothing`) and clipped to [eps, 1 - eps], the raw weight is the focal-loss form
  -(1 - s_t)^gamma * log(s_t); raw weights are normalised to mean 1, mixed with uniform
  (`uniform_mix` of 1 plus the rest of the normalised weight) so no task's weight collapses
  to 0, and normalised to mean 1 again. Tasks not yet evaluated keep weight 1.
"""

import dataclasses
import functools
from typing import Any, Dict, Optional, Tuple

import flax
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.errors import ConfigError
from imitation.networks import policy as policy_lib
from imitation.training.learner import Learner
from imitation.training.train_state import TrainState

ALGORITHM = 'multitask_bc'
LOSS_WEIGHTS = ('uniform', 'fixed', 'success_rate')


@flax.struct.dataclass
class MultiTaskState(TrainState):
  task_weights: jax.Array  # float32 [num_tasks]: the loss weight of each task id
  task_success: jax.Array  # float32 [num_tasks]: smoothed success; < 0 before any evaluation


def num_tasks(config: ml_collections.ConfigDict) -> int:
  """The number of task ids: the product of the task factors' sizes."""
  sizes = tuple(config.network.task.factor_sizes)
  if config.network.task.fusion == 'none' or not sizes:
    raise ConfigError('multi-task BC needs a task-conditioned policy: set '
                      'network.task.fusion (concat or film) and network.task.factor_sizes')
  return int(np.prod(sizes))


def initial_weights(config: ml_collections.ConfigDict) -> np.ndarray:
  section, count = config.multitask, num_tasks(config)
  if section.loss_weights not in LOSS_WEIGHTS:
    raise ConfigError(f'unknown multitask.loss_weights {section.loss_weights!r}; available: '
                      f'{", ".join(LOSS_WEIGHTS)}')
  if section.loss_weights != 'fixed':
    return np.ones(count, np.float32)
  weights = np.asarray(section.fixed_weights, np.float32)
  if weights.shape != (count,) or np.any(weights < 0):
    raise ConfigError(f'multitask.fixed_weights needs {count} non-negative weights (one per '
                      f'task id), got {tuple(section.fixed_weights)}')
  return weights


def success_rate_weights(success: np.ndarray, *, gamma: float, eps: float,
                         uniform_mix: float) -> np.ndarray:
  """Loss weights from per-task success (the rule in the module docstring); mean 1."""
  s = np.clip(np.asarray(success, np.float64), eps, 1.0 - eps)
  raw = -np.power(1.0 - s, gamma) * np.log(s)
  weights = uniform_mix + (1.0 - uniform_mix) * raw / raw.mean()
  return (weights / weights.mean()).astype(np.float32)


def weighted_loss(
    params: Any,
    policy: policy_lib.Policy,
    normalization: normalization_lib.Normalization,
    batch: Dict[str, Any],
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """BC's negative log-likelihood with each example weighted by `batch['weight']`."""
  nll, mse = bc.negative_log_likelihood(params, policy, normalization, batch)
  loss = jp.mean(batch['weight'] * nll)
  return loss, {'loss': loss, 'nll': jp.mean(nll), 'action_mse': mse}


def make_update(policy, optimizer, random_shift_pad: int = 0):
  """BC's update on the weighted loss, each example weighted by its task's current weight."""
  bc_update = bc.make_update(policy, optimizer, random_shift_pad, loss_fn=weighted_loss)

  def update(state: MultiTaskState, batch: Dict[str, Any], rng: jax.Array):
    weight = state.task_weights[batch['observation']['task_id']]
    return bc_update(state, {**batch, 'weight': weight}, rng)

  return update


def init(rng, policy, optimizer, example_observation, normalization, *, weights):
  state = bc.init(rng, policy, optimizer, example_observation, normalization)
  return MultiTaskState(**{f.name: getattr(state, f.name) for f in
                           dataclasses.fields(state)},
                        task_weights=jp.asarray(weights),
                        task_success=-jp.ones_like(jp.asarray(weights)))


def make_after_eval(config: ml_collections.ConfigDict):
  """The host-side weight update after an evaluation (None unless weights follow success)."""
  section = config.multitask
  if section.loss_weights != 'success_rate':
    return None

  def after_eval(state: MultiTaskState, evaluation: Dict[str, Any]):
    smoothed = np.array(jax.device_get(state.task_success), np.float64)
    for task, stats in evaluation.get('per_task', {}).items():
      new, old = stats['success_rate'], smoothed[int(task)]
      a = section.smoothing
      smoothed[int(task)] = new if old < 0 else a * old + (1 - a) * new
    weights = np.ones_like(smoothed, np.float32)
    seen = smoothed >= 0
    if seen.any():
      weights[seen] = success_rate_weights(smoothed[seen], gamma=section.gamma, eps=section.eps,
                                           uniform_mix=section.uniform_mix)
    state = state.replace(
        task_weights=jax.device_put(jp.asarray(weights), state.task_weights.sharding),
        task_success=jax.device_put(jp.asarray(smoothed, jp.float32),
                                    state.task_success.sharding))
    return state, {'task_weight': {str(t): float(w) for t, w in enumerate(weights)}}

  return after_eval


def make_learner(config: ml_collections.ConfigDict, action_size: int) -> Learner:
  """BC's learner with the per-task weighted loss and, for success-rate weights, the
  evaluation hook that moves them."""
  learner = bc.make_learner(config, action_size)
  return dataclasses.replace(
      learner,
      init=functools.partial(init, policy=learner.policy, optimizer=learner.optimizer,
                             weights=initial_weights(config)),
      update=make_update(learner.policy, learner.optimizer, config.augment.random_shift_pad),
      after_eval=make_after_eval(config),
  )


def train(config: ml_collections.ConfigDict, workdir: str, *,
          stop_at_step: Optional[int] = None) -> Dict[str, Any]:
  """BC's run with the multi-task learner (see `bc.train`)."""
  return bc.train(config, workdir, stop_at_step=stop_at_step, make_learner=make_learner,
                  algorithm=ALGORITHM)
