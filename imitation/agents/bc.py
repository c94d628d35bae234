"""Behavioral cloning: maximum likelihood of the demonstrated action under the policy.

Pure pieces (`init`, `loss`, `make_update`, `make_learner`) plus `train(config, workdir)`,
the BC family's one trainer (agents/trainer.py) with this learner.
"""

import functools
from typing import Any, Dict, Optional, Tuple

import chex
import jax
from jax import numpy as jp
import ml_collections
import optax

from imitation.agents import trainer
from imitation.data import normalization as normalization_lib
from imitation.evaluation import acting
from imitation.networks import augmentation
from imitation.networks import policy as policy_lib
from imitation.training import members as members_lib
from imitation.training import optimizers
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


def train(config: ml_collections.ConfigDict, workdir: str, *,
          stop_at_step: Optional[int] = None) -> Dict[str, Any]:
  """Trains BC as `config` says (configs/bc.py), resuming from `workdir`: the BC family's
  one trainer (agents/trainer.py) with BC's learner."""
  return trainer.train(config, workdir, make_learner, ALGORITHM, stop_at_step=stop_at_step)
