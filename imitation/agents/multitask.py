"""Multi-task BC: one task-conditioned policy, its loss weighted per task.

The policy reads `obs['task_id']` (`network.task`, see networks/conditioning.py). A *task* is
what the env names (`envs.task_names`: tabletop's 27 ids are 3 tasks, grasp, push and
insert; an env without names makes each id its own task). Each example's negative
log-likelihood is weighted by its task's weight, so with every weight 1 this is BC exactly,
and `sum_t w_t * loss_t` otherwise (loss_t: task t's share of the batch loss). The weights
live in the train state as an array (one entry per task id): changing them never recompiles
the update, and checkpoints carry them, so a resumed run continues with the same weights.
Every evaluation logs each task's weight (`eval/task_weight/NAME`); the train metrics hold
each task's loss (`train/task_loss/NAME`).

Weight rules (`multitask.loss_weights`), all normalised to mean 1 over the tasks:
* `uniform`: every task 1.
* `fixed`: `multitask.fixed_weights`, one per task (or one per task id).
* `inverse_frequency`: 1 / (the task's number of training examples): every task counts
  alike in the loss, however many demos it has (the loss-side twin of the `uniform` task
  mixture, `data.task_mixture`, which changes what is sampled instead).
* `success_rate`: after each evaluation, tasks the policy fails more get more weight. With
  s_t the task's success, smoothed over evaluations (s <- a * s_old + (1 - a) * s_new,
  a = `smoothing`) and clipped to [eps, 1 - eps], the raw weight is the focal-loss form
  -(1 - s_t)^gamma * log(s_t); raw weights are normalised to mean 1, mixed with uniform
  (`uniform_mix` of 1 plus the rest of the normalised weight) so no task's weight collapses
  to 0, and normalised to mean 1 again. Tasks not yet evaluated keep weight 1.
* `uncertainty` (Kendall et al., 2018): a learned log-variance s_t per task, trained with
  the policy on `exp(-s_t) * loss + s_t`; the weight is exp(-s_t) (logged, not normalised).
  s_t is clipped to `log_variance_range`: a loss that can reach 0 (MSE) or go negative
  (Gaussian NLL) would otherwise drive s_t to -inf.
"""

import dataclasses
import functools
from typing import Any, Dict, Optional, Sequence, Tuple

import flax
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import envs
from imitation.agents import bc
from imitation.agents import trainer
from imitation.data import normalization as normalization_lib
from imitation.errors import ConfigError
from imitation.networks import policy as policy_lib
from imitation.training.learner import Learner, gradient_step
from imitation.training.train_state import TrainState

ALGORITHM = 'multitask_bc'
LOSS_WEIGHTS = ('uniform', 'fixed', 'inverse_frequency', 'success_rate', 'uncertainty')


@flax.struct.dataclass
class MultiTaskState(TrainState):
  # Defaults only because TrainState's last field has one; `init` sets every one.
  task_weights: jax.Array = None  # float32 [num_task_ids]: the loss weight of each task id
  task_success: jax.Array = None  # float32 [num_tasks]: smoothed success; < 0 before any eval
  task_log_variance: jax.Array = None  # float32 [num_tasks]: learned by the `uncertainty` rule


@dataclasses.dataclass(frozen=True)
class TaskGroups:
  """The named tasks and which task ids each covers."""
  names: Tuple[str, ...]
  group_of_id: np.ndarray  # int32 [num_task_ids]: index into `names`

  def per_id(self, per_task: np.ndarray) -> np.ndarray:
    return np.asarray(per_task, np.float32)[self.group_of_id]


def num_tasks(config: ml_collections.ConfigDict) -> int:
  """The number of task ids: the product of the task factors' sizes."""
  sizes = tuple(config.network.task.factor_sizes)
  if config.network.task.fusion == 'none' or not sizes:
    raise ConfigError('multi-task BC needs a task-conditioned policy: set '
                      'network.task.fusion (concat or film) and network.task.factor_sizes')
  return int(np.prod(sizes))


def task_groups(config: ml_collections.ConfigDict) -> TaskGroups:
  """The env's named tasks over the policy's task ids (each id its own task without names)."""
  count = num_tasks(config)
  names = envs.task_names(envs.make_from_config(config.env))
  if names is not None and len(names) != count:
    raise ConfigError(f'{config.env.name} names {len(names)} task ids but '
                      f'network.task.factor_sizes {tuple(config.network.task.factor_sizes)} '
                      f'makes {count}')
  group_names, group_of_id = envs.group_index(names, count)
  return TaskGroups(group_names, group_of_id.astype(np.int32))


def _normalise(weights: np.ndarray) -> np.ndarray:
  return (weights / weights.mean()).astype(np.float32)


def initial_weights(config: ml_collections.ConfigDict, groups: TaskGroups) -> np.ndarray:
  """Per task id: the rule's weights before any data or evaluation is seen."""
  section, count = config.multitask, len(groups.group_of_id)
  if section.loss_weights != 'fixed':
    return np.ones(count, np.float32)
  weights = np.asarray(section.fixed_weights, np.float32)
  if weights.shape == (len(groups.names),):
    weights = groups.per_id(weights)
  if weights.shape != (count,) or np.any(weights < 0) or not weights.any():
    raise ConfigError(f'multitask.fixed_weights needs a non-negative weight per task '
                      f'({", ".join(groups.names)}) or per task id ({count}), not all 0; '
                      f'got {tuple(section.fixed_weights)}')
  return _normalise(weights)


def success_rate_weights(success: np.ndarray, *, gamma: float, eps: float,
                         uniform_mix: float) -> np.ndarray:
  """Loss weights from per-task success (the rule in the module docstring); mean 1."""
  s = np.clip(np.asarray(success, np.float64), eps, 1.0 - eps)
  raw = -np.power(1.0 - s, gamma) * np.log(s)
  return _normalise(uniform_mix + (1.0 - uniform_mix) * raw / raw.mean())


def inverse_frequency_weights(task_ids: np.ndarray, groups: TaskGroups) -> np.ndarray:
  """Per task: 1 / its number of examples in `task_ids`, mean 1 over the tasks present
  (absent tasks: 1)."""
  counts = np.bincount(groups.group_of_id[np.asarray(task_ids, np.int64)],
                       minlength=len(groups.names)).astype(np.float64)
  weights = np.ones(len(counts))
  present = counts > 0
  weights[present] = _normalise(1.0 / counts[present])
  return weights.astype(np.float32)


def _per_task_means(values: jax.Array, group: jax.Array, names: Sequence[str]):
  one_hot = jax.nn.one_hot(group, len(names), dtype=values.dtype)
  means = (values @ one_hot) / jp.maximum(one_hot.sum(0), 1.0)
  return {f'task_loss/{name}': means[i] for i, name in enumerate(names)}


def weighted_loss(
    params: Any,
    policy: policy_lib.Policy,
    normalization: normalization_lib.Normalization,
    batch: Dict[str, Any],
    rng: Optional[jax.Array] = None,
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """BC's per-example loss with each example weighted by `batch['weight']`."""
  nll, metrics = bc.per_example_loss(params, policy, normalization, batch, rng)
  loss = jp.mean(batch['weight'] * nll)
  return loss, {'loss': loss, 'nll': jp.mean(nll), **metrics, 'per_example_nll': nll}


def uncertainty_loss(
    params_and_log_variance: Tuple[Any, jax.Array],
    policy: policy_lib.Policy,
    normalization: normalization_lib.Normalization,
    batch: Dict[str, Any],
    rng: Optional[jax.Array] = None,
    *,
    log_variance_range: Tuple[float, float],
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """Kendall et al.: mean of exp(-s_t) * nll + s_t, s_t the example's task's log-variance
  (nll: BC's per-example loss, whatever the head)."""
  params, log_variance = params_and_log_variance
  nll, metrics = bc.per_example_loss(params, policy, normalization, batch, rng)
  s = jp.clip(log_variance, *log_variance_range)[batch['group']]
  loss = jp.mean(jp.exp(-s) * nll + s)
  return loss, {'loss': loss, 'nll': jp.mean(nll), **metrics, 'per_example_nll': nll}


def make_update(policy, optimizer, groups: TaskGroups, random_shift_pad: int = 0,
                log_variance_range: Optional[Tuple[float, float]] = None):
  """BC's update on the per-task weighted loss (or, given `log_variance_range`, the learned
  uncertainty weighting), with each task's mean NLL in the metrics."""
  group_of_id = jp.asarray(groups.group_of_id)

  def update(state: MultiTaskState, batch: Dict[str, Any], rng: jax.Array):
    batch = bc.augment(batch, rng, random_shift_pad)
    task_id = batch['observation']['task_id']
    group = group_of_id[task_id]
    if log_variance_range is None:
      batch = {**batch, 'weight': state.task_weights[task_id]}
      params, opt_state, metrics = gradient_step(
          weighted_loss, optimizer, state.params, state.opt_state, policy,
          state.normalization, batch, bc.loss_key(rng))
      state = state.replace(params=params, opt_state=opt_state)
    else:
      (params, log_variance), opt_state, metrics = gradient_step(
          functools.partial(uncertainty_loss, log_variance_range=log_variance_range),
          optimizer, (state.params, state.task_log_variance), state.opt_state, policy,
          state.normalization, {**batch, 'group': group}, bc.loss_key(rng))
      state = state.replace(params=params, opt_state=opt_state, task_log_variance=log_variance)
    metrics.update(_per_task_means(metrics.pop('per_example_nll'), group, groups.names))
    return state.replace(step=state.step + 1), metrics

  return update


def init(rng, policy, optimizer, example_observation, normalization, *, weights,
         num_groups: int, learn_log_variance: bool):
  state = bc.init(rng, policy, optimizer, example_observation, normalization)
  log_variance = jp.zeros(num_groups, jp.float32)
  if learn_log_variance:  # the optimizer steps the policy and the log-variances together
    state = state.replace(opt_state=optimizer.init((state.params, log_variance)))
  return MultiTaskState(**{f.name: getattr(state, f.name) for f in dataclasses.fields(state)},
                        task_weights=jp.asarray(weights),
                        task_success=-jp.ones(num_groups, jp.float32),
                        task_log_variance=log_variance)


def _put_like(value: np.ndarray, like: jax.Array) -> jax.Array:
  return jax.device_put(jp.asarray(value, like.dtype), like.sharding)


def make_prepare(config: ml_collections.ConfigDict, groups: TaskGroups):
  """Sets inverse-frequency weights from the training data (None for other rules)."""
  if config.multitask.loss_weights != 'inverse_frequency':
    return None

  def prepare(state: MultiTaskState, task_ids: np.ndarray) -> MultiTaskState:
    weights = groups.per_id(inverse_frequency_weights(task_ids, groups))
    return state.replace(task_weights=_put_like(weights, state.task_weights))

  return prepare


def make_after_eval(config: ml_collections.ConfigDict, groups: TaskGroups):
  """The host-side step after an evaluation: success-rate weights move, every rule's
  weights are logged per task."""
  section = config.multitask

  def task_weights(state: MultiTaskState) -> np.ndarray:
    if section.loss_weights == 'uncertainty':
      log_variance = np.clip(jax.device_get(state.task_log_variance),
                             *section.log_variance_range)
      return np.exp(-log_variance)
    first_id = [int(np.argmax(groups.group_of_id == g)) for g in range(len(groups.names))]
    return np.asarray(jax.device_get(state.task_weights))[first_id]

  def after_eval(state: MultiTaskState, evaluation: Dict[str, Any]):
    if section.loss_weights == 'success_rate':
      smoothed = np.array(jax.device_get(state.task_success), np.float64)
      for name, stats in evaluation.get('per_task', {}).items():
        g = groups.names.index(str(name))
        new, old, a = stats['success_rate'], smoothed[g], section.smoothing
        smoothed[g] = new if old < 0 else a * old + (1 - a) * new
      weights = np.ones_like(smoothed, np.float32)
      seen = smoothed >= 0
      if seen.any():
        weights[seen] = success_rate_weights(smoothed[seen], gamma=section.gamma,
                                             eps=section.eps, uniform_mix=section.uniform_mix)
      state = state.replace(task_weights=_put_like(groups.per_id(weights), state.task_weights),
                            task_success=_put_like(smoothed, state.task_success))
    weights = task_weights(state)
    return state, {'task_weight': {name: float(w) for name, w in zip(groups.names, weights)}}

  return after_eval


def make_learner(config: ml_collections.ConfigDict, action_size: int) -> Learner:
  """BC's learner with the per-task weighted loss, the data hook of inverse-frequency
  weights and the evaluation hook that moves success-rate weights and logs them all."""
  rules.require(config, CONFIG_RULES)
  learner = bc.make_learner(config, action_size)
  groups = task_groups(config)
  uncertainty = config.multitask.loss_weights == 'uncertainty'
  return dataclasses.replace(
      learner,
      init=functools.partial(init, policy=learner.policy, optimizer=learner.optimizer,
                             weights=initial_weights(config, groups),
                             num_groups=len(groups.names), learn_log_variance=uncertainty),
      update=make_update(learner.policy, learner.optimizer, groups,
                         config.augment.random_shift_pad,
                         tuple(config.multitask.log_variance_range) if uncertainty else None),
      prepare=make_prepare(config, groups),
      after_eval=make_after_eval(config, groups),
  )


def train(config: ml_collections.ConfigDict, workdir: str, *,
          stop_at_step: Optional[int] = None) -> Dict[str, Any]:
  """The BC family's trainer (agents/trainer.py) with the multi-task learner."""
  return trainer.train(config, workdir, make_learner, ALGORITHM, stop_at_step=stop_at_step)


CONFIG_RULES = {'multitask.loss_weights': rules.one_of(LOSS_WEIGHTS)}
