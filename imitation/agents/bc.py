"""Behavioral cloning: the demonstrated action (or chunk) under the policy's own objective.

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
from imitation.networks import generative
from imitation.networks import policy as policy_lib
from imitation.training import optimizers
from imitation.training.learner import Learner, LossFn, gradient_step
from imitation.training.train_state import TrainState

ALGORITHM = 'bc'
LOSS_STREAM = 1  # folded into an update's key for the loss's own randomness


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
    rng: Optional[jax.Array] = None,
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """The mean of `per_example_loss`: the head's own objective on the demonstrated actions.

  Written against the distribution interface only: with the deterministic head this is
  half the summed squared error, with probabilistic heads it is their NLL, with the
  generative heads their denoising loss (drawn with `rng`).
  """
  per_example, metrics = per_example_loss(params, policy, normalization, batch, rng)
  mean = jp.mean(per_example)
  return mean, {'loss': mean, **metrics}


def per_example_loss(
    params: Any,
    policy: policy_lib.Policy,
    normalization: normalization_lib.Normalization,
    batch: Dict[str, Any],
    rng: Optional[jax.Array] = None,
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """[batch] loss of each (normalised) target action (or action chunk), and metrics.

  Likelihood heads: the negative log-likelihood, with `action_mse` of the mode. Generative
  heads (diffusion, flow): their `training_loss`, which needs `rng`, with `denoise_mse`
  (no sampler runs in training).

  Masks: `observation['action_mask']` (padded heterogeneous tasks, envs/suite.py) keeps
  only the real action dimensions, `batch['chunk_mask']` ([batch, H], data/windows.py)
  only the steps of a chunk before its episode ended. Elsewhere a likelihood head's target
  is its own mode, so those dimensions add no error (exactly none for the deterministic
  head; probabilistic heads still see their own scale there, which moves no mean); the
  generative losses average over the kept dimensions only.
  """
  observation = normalization_lib.normalize_observation(normalization, batch['observation'])
  target = normalization_lib.normalize_action(normalization, batch['action'])
  mask = jp.ones_like(target)
  if 'action_mask' in batch['observation']:
    action_mask = batch['observation']['action_mask'].astype(target.dtype)
    mask = mask * (action_mask[:, None] if target.ndim == 3 else action_mask)
  if 'chunk_mask' in batch:
    mask = mask * batch['chunk_mask'].astype(target.dtype)[..., None]
  if target.ndim == 3:  # a chunk [batch, H, A]: the head predicts it flattened
    target, mask = target.reshape(target.shape[0], -1), mask.reshape(mask.shape[0], -1)
  distribution = policy.apply(params, observation)
  if generative.is_generative(distribution):
    if rng is None:
      raise ValueError(f'{type(distribution).__name__} heads draw their loss\'s noise: pass rng')
    per_example = distribution.training_loss(target, rng, mask)
    return per_example, {'denoise_mse': jp.mean(per_example)}
  mode = distribution.mode()
  chex.assert_equal_shape([mode, target])
  target = jp.where(mask > 0, target, jax.lax.stop_gradient(mode))
  mse = jp.sum(jp.square(mode - target)) / jp.maximum(jp.sum(mask), 1.0)
  return -distribution.log_prob(target), {'action_mse': mse}


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

  `loss_fn(params, policy, normalization, batch, rng)` is the objective (default: BC's
  `loss`). With `random_shift_pad` > 0, images in the batch are randomly shifted (DrQ)
  with `rng`; the loss draws its own noise (generative heads) from a key folded from it.
  """

  def update(state: TrainState, batch: Dict[str, Any], rng: jax.Array):
    batch = augment(batch, rng, random_shift_pad)
    params, opt_state, metrics = gradient_step(
        loss_fn, optimizer, state.params, state.opt_state, policy, state.normalization, batch,
        loss_key(rng))
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return update


def loss_key(rng: jax.Array) -> jax.Array:
  """The key an update's loss draws its noise from, apart from the augmentation's `rng`."""
  return jax.random.fold_in(rng, LOSS_STREAM)


def make_learner(config: ml_collections.ConfigDict, action_size: int) -> Learner:
  """The BC policy, optimizer, init, update and act function that `config` describes."""
  policy = policy_lib.make_policy(config.network, action_size)
  optimizer = optimizers.make_run_optimizer(config)
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
