"""An ensemble of BC policies trained together in one compiled program (EnsembleDAgger).

Member parameters and optimizer states carry a leading [num_members] axis; one update
vmaps the BC loss over members, each on its own bootstrap resample of the minibatch, so
the members differ by initialisation and data. Their disagreement is the uncertainty
that gates the expert.
"""

import dataclasses
import functools
from typing import Any, Dict, Tuple

import jax
from jax import numpy as jp
import ml_collections
import optax

from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.envs import rollout
from imitation.envs.rollout import UncertaintyFn
from imitation.networks.policy import Policy
from imitation.training.learner import Learner, LossFn, gradient_step
from imitation.training.train_state import TrainState


def init(
    rng: jax.Array,
    policy: Policy,
    optimizer: optax.GradientTransformation,
    example_observation: Dict[str, jax.Array],
    normalization: normalization_lib.Normalization,
    num_members: int,
) -> TrainState:
  """A train state whose params and opt_state hold `num_members` independent members."""
  rng_params, rng_train = jax.random.split(rng)
  params = jax.vmap(policy.init, in_axes=(0, None))(
      jax.random.split(rng_params, num_members), example_observation
  )
  return TrainState(
      step=jp.zeros((), jp.int32),
      params=params,
      opt_state=jax.vmap(optimizer.init)(params),
      rng=rng_train,
      normalization=normalization,
  )


def make_update(policy: Policy, optimizer: optax.GradientTransformation,
                random_shift_pad: int = 0, loss_fn: LossFn = bc.loss):
  """`update(train_state, batch, rng) -> (train_state, metrics)` for all members at once;
  each member takes `bc.make_update`'s step (`loss_fn`, default BC's) on its resample."""

  def member_step(params, opt_state, normalization, batch, rng):
    rng_resample, rng_shift = jax.random.split(rng)
    batch_size = batch['action'].shape[0]
    indices = jax.random.randint(rng_resample, (batch_size,), 0, batch_size)
    batch = jax.tree.map(lambda x: jp.take(x, indices, axis=0), batch)
    batch = bc.augment(batch, rng_shift, random_shift_pad)
    return gradient_step(loss_fn, optimizer, params, opt_state, policy, normalization, batch,
                         bc.loss_key(rng_shift))

  def update(state: TrainState, batch: Dict[str, Any], rng: jax.Array):
    num_members = jax.tree.leaves(state.params)[0].shape[0]
    params, opt_state, metrics = jax.vmap(member_step, in_axes=(0, 0, None, None, 0))(
        state.params, state.opt_state, state.normalization, batch,
        jax.random.split(rng, num_members),
    )
    metrics = jax.tree.map(jp.mean, metrics)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return update


def _member_actions(policy: Policy, policy_params, observation) -> Tuple[jax.Array, Any]:
  """[num_members, batch, action_dim] normalised modes, and the normalization."""
  params, normalization = policy_params
  observation = normalization_lib.normalize_observation(normalization, observation)
  modes = jax.vmap(lambda p: policy.apply(p, observation).mode())(params)
  return modes, normalization


def make_act_fn(policy: Policy) -> rollout.Actor:
  """The ensemble's action: the members' mean mode, in environment units."""

  def act(policy_params, observation, rng):
    del rng
    modes, normalization = _member_actions(policy, policy_params, observation)
    return normalization_lib.denormalize_action(normalization, jp.mean(modes, axis=0))

  return rollout.stateless(act)


def make_uncertainty_fn(policy: Policy) -> UncertaintyFn:
  """Disagreement: the members' standard deviation, in normalised action units, averaged
  over action dimensions (so one threshold fits actions of any scale)."""

  def uncertainty(policy_params, observation, policy_state=(), rng=None):
    del policy_state, rng  # the members' modes, deterministic
    modes, _ = _member_actions(policy, policy_params, observation)
    return jp.mean(jp.std(modes, axis=0), axis=-1)

  return uncertainty


def make_learner(config: ml_collections.ConfigDict, action_size: int, num_members: int) -> Learner:
  """`num_members` of BC's learner trained together; acts with their mean, and reports their
  disagreement as its uncertainty. Not exportable as a single policy network."""
  member = bc.make_learner(config, action_size)
  policy, optimizer = member.policy, member.optimizer
  return dataclasses.replace(
      member,
      init=functools.partial(init, policy=policy, optimizer=optimizer, num_members=num_members),
      update=make_update(policy, optimizer, config.augment.random_shift_pad),
      act=make_act_fn(policy),
      uncertainty=make_uncertainty_fn(policy),
      exportable=False,
  )
