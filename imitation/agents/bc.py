"""Behavioral cloning: maximum likelihood of the demonstrated action under the policy.

Pure pieces (`init`, `loss`, `make_update`, `make_learner`) plus `train(config, workdir)`,
which tells the run's story on the shared run frame (training/run.py).
"""

import functools
from typing import Any, Callable, Dict, Optional, Tuple

from absl import logging
import chex
import jax
from jax import numpy as jp
import ml_collections
import numpy as np
import optax

from imitation import envs
from imitation import streams
from imitation.data import demonstrations
from imitation.data import normalization as normalization_lib
from imitation.errors import ConfigError
from imitation.agents import vmapped
from imitation.evaluation import acting
from imitation.evaluation import evaluator as evaluator_lib
from imitation.evaluation import offline
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import augmentation
from imitation.networks import policy as policy_lib
from imitation.training import members as members_lib
from imitation.training import optimizers
from imitation.training import run as run_lib
from imitation.training.learner import Learner, LossFn, gradient_step
from imitation.training.train_state import TrainState

ALGORITHM = 'bc'


def init(
    rng: jax.Array,
    policy: policy_lib.Policy,
    optimizer: optax.GradientTransformation,
    example_observation: Dict[str, jax.Array],
    normalization: normalization_lib.Normalization,
) -> TrainState:
  """A fresh train state; `example_observation` is one batch of observations."""
  rng_params, rng_train = jax.random.split(rng)
  params = policy.init(rng_params, example_observation)
  return TrainState(
      step=jp.zeros((), jp.int32),
      params=params,
      opt_state=optimizer.init(params),
      rng=rng_train,
      normalization=normalization,
  )


def loss(
    params: Any,
    policy: policy_lib.Policy,
    normalization: normalization_lib.Normalization,
    batch: Dict[str, Any],
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """Mean negative log-likelihood of the (normalised) target actions.

  Written against the distribution interface only: with the deterministic head this is
  half the summed squared error, with probabilistic heads it is their NLL.
  """
  nll, mse = negative_log_likelihood(params, policy, normalization, batch)
  nll = jp.mean(nll)
  return nll, {'loss': nll, 'action_mse': mse}


def negative_log_likelihood(
    params: Any,
    policy: policy_lib.Policy,
    normalization: normalization_lib.Normalization,
    batch: Dict[str, Any],
) -> Tuple[jax.Array, jax.Array]:
  """[batch] NLL of each (normalised) target action, and the mode's mean squared error.

  With `observation['action_mask']` (padded heterogeneous tasks, envs/suite.py) only the
  masked action dimensions count: elsewhere the target is the policy's own mode, so those
  dimensions add no error (exactly none for the deterministic head; probabilistic heads
  still see their own scale there, which moves no mean).
  """
  observation = normalization_lib.normalize_observation(normalization, batch['observation'])
  target = normalization_lib.normalize_action(normalization, batch['action'])
  distribution = policy.apply(params, observation)
  mode = distribution.mode()
  chex.assert_equal_shape([mode, target])
  mask = batch['observation'].get('action_mask')
  if mask is None:
    mask = jp.ones_like(target)
  mask = mask.astype(target.dtype)
  target = jp.where(mask > 0, target, jax.lax.stop_gradient(mode))
  nll = -distribution.log_prob(target)
  return nll, jp.sum(jp.square(mode - target)) / jp.maximum(jp.sum(mask), 1.0)


def augment(batch: Dict[str, Any], rng: jax.Array, random_shift_pad: int) -> Dict[str, Any]:
  """The batch with its images (if any) randomly shifted by up to `random_shift_pad` pixels."""
  if not random_shift_pad or 'image' not in batch['observation']:
    return batch
  observation = dict(batch['observation'])
  observation['image'] = augmentation.random_shift(rng, observation['image'], random_shift_pad)
  return {**batch, 'observation': observation}


def make_update(
    policy: policy_lib.Policy,
    optimizer: optax.GradientTransformation,
    random_shift_pad: int = 0,
    loss_fn: LossFn = loss,
):
  """Returns the pure `update(train_state, batch, rng) -> (train_state, metrics)`.

  `loss_fn(params, policy, normalization, batch)` is the objective (default: BC's `loss`).
  With `random_shift_pad` > 0, images in the batch are randomly shifted (DrQ) with `rng`.
  """

  def update(state: TrainState, batch: Dict[str, Any], rng: jax.Array):
    batch = augment(batch, rng, random_shift_pad)
    params, opt_state, metrics = gradient_step(
        loss_fn, optimizer, state.params, state.opt_state, policy, state.normalization, batch)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return update


def make_learner(config: ml_collections.ConfigDict, action_size: int) -> Learner:
  """The BC policy, optimizer, init, update and act function that `config` describes."""
  policy = policy_lib.make_policy(config.network, action_size)
  optimizer = optimizers.make_optimizer(
      config.optimizer, config.train.num_steps,
      injected=members_lib.injected_hyperparameters(config))
  return Learner(
      policy=policy,
      optimizer=optimizer,
      init=functools.partial(init, policy=policy, optimizer=optimizer),
      update=make_update(policy, optimizer, config.augment.random_shift_pad),
      act=acting.make_act_fn(policy, deterministic=config.eval.deterministic),
  )


def train(
    config: ml_collections.ConfigDict, workdir: str, *, stop_at_step: Optional[int] = None,
    make_learner: Callable[[ml_collections.ConfigDict, int], Learner] = make_learner,
    algorithm: str = ALGORITHM,
) -> Dict[str, Any]:
  """Trains BC as `config` says, resuming from `workdir` if it holds a checkpoint.

  Leaves in `workdir`: config.json, demos/ (if it collected them), checkpoints/,
  tensorboard/, metrics.jsonl, policy/ (exported policy) and results.json.

  Args:
    config: the full experiment config (see configs/bc.py).
    workdir: the run's directory.
    stop_at_step: stop once this step is reached, as a preempted job would (no results).
    make_learner: the learner factory; agents that are BC with another loss (multitask)
      pass theirs.
    algorithm: the name results.json and the exported policy record.

  Returns:
    The results written to results.json (or {} when stopped early).
  """
  if len(members_lib.members_of(config)) > 1:  # seeds (x a hyperparameter) in one program
    return vmapped.train(config, workdir, stop_at_step=stop_at_step,
                         make_learner=make_learner, algorithm=algorithm)
  if not config.env.name:  # no environment: scored on held-out episodes
    return train_offline(config, workdir, stop_at_step=stop_at_step,
                         make_learner=make_learner, algorithm=algorithm)
  run = run_lib.Run(config, workdir)
  env = envs.make_from_config(config.env)
  dataset_path = run.dataset_path()
  data = run.training_input(dataset_path, env, envs.task_names(env))
  data_info = data.info
  logging.info('training data: %s', data_info)

  learner = make_learner(config, env.action_size)
  state = run.init_state(learner, run.key(streams.INIT), data.example_observation,
                         data.normalization)
  if learner.prepare is not None:  # a restored checkpoint replaces this state in `fit`
    state = learner.prepare(state, data.task_ids)
  evaluator = Evaluator(env, learner.act, config.eval.num_episodes, config.env.horizon)
  eval_key = run.key(streams.EVAL)
  state, final_eval, resumed_from_step = run.fit(
      learner, state, data.dataset,
      evaluate=lambda s: evaluator(s.policy_params, eval_key), stop_at_step=stop_at_step)
  step = int(jax.device_get(state.step))
  if step < config.train.num_steps:
    return run.stop()

  held_out = evaluator_lib.held_out_comparison(
      config.env, learner.act, config.eval.num_episodes, state.policy_params, eval_key)
  return run.finish(
      algorithm, learner=learner, state=state, action_size=env.action_size, final_step=step,
      evaluation=evaluator.versus_expert(state.policy_params, eval_key, learner=final_eval),
      num_demos=data_info['num_demos'], num_transitions=data_info['num_transitions'],
      dataset=dataset_path, resumed_from_step=resumed_from_step,
      **({'held_out': held_out} if held_out else {}))


def train_offline(
    config: ml_collections.ConfigDict, workdir: str, *, stop_at_step: Optional[int] = None,
    make_learner: Callable[[ml_collections.ConfigDict, int], Learner] = make_learner,
    algorithm: str = ALGORITHM,
) -> Dict[str, Any]:
  """BC on data alone (`env.name` empty: no task of this project matches the data).

  `data.holdout_fraction` of the episodes are held out whole; the policy is scored on them
  by action error and per-dimension R^2 (evaluation/offline.py), every `eval_every` steps
  and at the end. results.json says closed-loop success is unavailable.
  """
  if not config.data.path:
    raise ConfigError('env.name is empty (an offline run): data.path must name the dataset, '
                      'as there is no environment to collect demonstrations in')
  if len(members_lib.members_of(config)) > 1 or config.data.get('pipeline') == 'stream':
    raise ConfigError('offline runs train one seed on device-resident data: set '
                      'num_seeds=1, vmap.name=\'\' and data.pipeline=device')
  if jax.process_count() > 1:
    raise ConfigError('offline runs are single-process')
  logging.warning(offline.CLOSED_LOOP_UNAVAILABLE)
  run = run_lib.Run(config, workdir)
  dataset_path = run.dataset_path()
  split_rng = np.random.default_rng(np.asarray(jax.random.key_data(run.key(streams.HOLDOUT))))
  train_data, heldout_data, data_info = demonstrations.load_holdout_split(
      config, dataset_path, split_rng)
  logging.info('training data: %s', data_info)
  action_size = int(train_data['action'].shape[-1])
  learner = make_learner(config, action_size)
  normalization = run.normalization(train_data)
  state = run.init_state(learner, run.key(streams.INIT),
                         jax.tree.map(lambda x: x[:1], train_data['observation']),
                         normalization)
  if learner.prepare is not None:
    state = learner.prepare(state, train_data['task_id'])
  evaluator = offline.OfflineEvaluator(
      learner.act, heldout_data)
  dataset = run.device_dataset(train_data)
  del train_data
  state, final_eval, resumed_from_step = run.fit(
      learner, state, dataset, evaluate=lambda s: evaluator(s.policy_params),
      stop_at_step=stop_at_step)
  step = int(jax.device_get(state.step))
  if step < config.train.num_steps:
    return run.stop()
  final_eval = final_eval or evaluator(state.policy_params)
  return run.finish(
      algorithm, learner=learner, state=state, action_size=action_size, final_step=step,
      evaluation={'success_rate': None, 'closed_loop': offline.CLOSED_LOOP_UNAVAILABLE,
                  **final_eval},
      num_demos=data_info['num_demos'], num_heldout_demos=data_info['num_heldout_demos'],
      num_transitions=data_info['num_transitions'], dataset=dataset_path,
      resumed_from_step=resumed_from_step)
