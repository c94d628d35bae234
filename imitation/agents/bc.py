"""Behavioral cloning: maximum likelihood of the demonstrated action under the policy.

Pure pieces (`init`, `loss`, `make_update`) plus `train(config, workdir)`, which wires
them to data, evaluation and the shared training loop.
"""

import functools
import os
import time
from typing import Any, Dict, Optional, Tuple

from absl import logging
import chex
import jax
from jax import numpy as jp
import ml_collections
import optax

from imitation import envs
from imitation.agents import acting
from imitation.data import demonstrations
from imitation.data import normalization as normalization_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import augmentation
from imitation.networks import policy as policy_lib
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import loop
from imitation.training import metric_writer
from imitation.training import optimizers
from imitation.training import sharding
from imitation.training import workdir as workdir_lib
from imitation.training.train_state import TrainState

ALGORITHM = 'bc'
# Independent key streams derived from the run's seed.
INIT_STREAM, EVAL_STREAM = 0, 1


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
  observation = normalization_lib.normalize_observation(normalization, batch['observation'])
  target = normalization_lib.normalize_action(normalization, batch['action'])
  distribution = policy.apply(params, observation)
  chex.assert_equal_shape([distribution.mode(), target])
  nll = -jp.mean(distribution.log_prob(target))
  mse = jp.mean(jp.square(distribution.mode() - target))
  return nll, {'loss': nll, 'action_mse': mse}


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
):
  """Returns the pure `update(train_state, batch, rng) -> (train_state, metrics)`.

  With `random_shift_pad` > 0, images in the batch are randomly shifted (DrQ) with `rng`.
  """

  def update(state: TrainState, batch: Dict[str, Any], rng: jax.Array):
    batch = augment(batch, rng, random_shift_pad)
    grad_fn = jax.grad(loss, has_aux=True)
    grads, metrics = grad_fn(state.params, policy, state.normalization, batch)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics['grad_norm'] = optax.global_norm(grads)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return update


def train(
    config: ml_collections.ConfigDict, workdir: str, *, stop_at_step: Optional[int] = None
) -> Dict[str, Any]:
  """Trains BC as `config` says, resuming from `workdir` if it holds a checkpoint.

  Leaves in `workdir`: config.json, demos/ (if it collected them), checkpoints/,
  tensorboard/, metrics.jsonl, policy/ (exported policy) and results.json.

  Args:
    config: the full experiment config (see configs/bc.py).
    workdir: the run's directory.
    stop_at_step: stop once this step is reached, as a preempted job would (no results).

  Returns:
    The results written to results.json (or {} when stopped early).
  """
  start_time = time.time()
  workdir = workdir_lib.prepare(workdir)
  workdir_lib.save_config(workdir, config)
  seed_key = jax.random.PRNGKey(config.seed)

  env = envs.make_from_config(config.env)
  dataset_path = demonstrations.resolve_dataset(config, workdir)
  transitions, data_info = demonstrations.load_transitions(config, dataset_path, env)
  logging.info('training data: %s', data_info)

  mesh = sharding.make_mesh(config.num_devices)
  replicated = sharding.replicated(mesh)
  train_data = {'observation': transitions['observation'], 'action': transitions['action']}
  dataset = DeviceDataset.from_numpy(train_data, replicated)
  normalization = normalization_lib.compute(
      transitions,
      min_std=config.normalization.min_std,
      normalize_observations=config.normalization.observations,
      normalize_actions=config.normalization.actions,
  )

  policy = policy_lib.make_policy(config.network, env.action_size)
  optimizer = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
  example_observation = jax.tree.map(lambda x: x[:1], train_data['observation'])
  state = jax.jit(
      functools.partial(init, policy=policy, optimizer=optimizer), out_shardings=replicated
  )(
      jax.random.fold_in(seed_key, INIT_STREAM),
      example_observation=example_observation,
      normalization=normalization,
  )

  checkpointer = checkpoint_lib.Checkpointer(
      os.path.join(workdir, 'checkpoints'), max_to_keep=config.train.keep_checkpoints
  )
  resumed_from_step = checkpointer.latest_step()
  if resumed_from_step is not None:
    logging.info('resuming from checkpoint at step %d', resumed_from_step)
    state = jax.device_put(checkpointer.restore(state), replicated)

  evaluator = Evaluator(
      env,
      acting.make_act_fn(policy, deterministic=config.eval.deterministic),
      num_episodes=config.eval.num_episodes,
      horizon=config.env.horizon,
  )
  eval_key = jax.random.fold_in(seed_key, EVAL_STREAM)
  writer = metric_writer.MetricWriter(workdir, resume_step=resumed_from_step)
  state, final_eval = loop.fit(
      state,
      dataset,
      make_update(policy, optimizer, config.augment.random_shift_pad),
      config=config.train,
      mesh=mesh,
      checkpointer=checkpointer,
      writer=writer,
      evaluate=lambda s: evaluator(s.policy_params, eval_key),
      progress_bar=config.progress_bar,
      stop_at_step=stop_at_step,
  )
  step = int(jax.device_get(state.step))
  if step < config.train.num_steps:
    writer.close()
    checkpointer.close()
    return {}

  final = evaluator.versus_expert(state.policy_params, eval_key, learner=final_eval)
  checkpoint_lib.export_policy(
      os.path.join(workdir, 'policy'),
      state.params,
      state.normalization,
      network_config=config.network,
      action_dim=env.action_size,
      extra={'env': config.env.to_dict(), 'algorithm': ALGORITHM},
  )
  results = {
      'task': config.env.name,
      'algorithm': ALGORITHM,
      'seed': config.seed,
      'steps': step,
      **final,
      'num_demos': data_info['num_demos'],
      'num_transitions': data_info['num_transitions'],
      'dataset': dataset_path,
      'wall_time_s': time.time() - start_time,  # of this process only
      'resumed_from_step': resumed_from_step,
      'config': config.to_dict(),
  }
  workdir_lib.write_json(workdir, 'results.json', results)
  writer.write(step, {k: results[k] for k in ('success_rate', 'expert_success_rate')},
               prefix='final/')
  writer.close()
  checkpointer.close()
  return results
