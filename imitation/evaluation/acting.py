"""Turning a trained policy network into an Actor on raw observations.

A plain policy maps one observation to one action. A policy over action chunks or
observation histories (networks/policy.py) keeps a policy state through the episode,
riding in the rollout's carry (envs/rollout.py `Actor`):

* `history`: the last n observations, oldest first; an episode starts with its first
  observation repeated, as training windows start (data/windows.py);
* receding horizon (`plan`, `age`): a chunk of H actions, executed `execute_steps` at a
  time; a new chunk is predicted (for every env at once, only when one needs it) when an
  env has executed that many;
* temporal ensembling (`chunks`, `filled`): a new chunk every step; the action is the
  weighted mean of every stored chunk's prediction for this step (ACT: the j-th oldest
  weighted exp(-ensemble_decay * j)).

`initial_state` never runs the network, so a fresh episode's state is cheap to make.
"""

from typing import Any, Dict, Tuple

import jax
from jax import numpy as jp

from imitation.data import normalization as normalization_lib
from imitation.envs import rollout
from imitation.envs.base import STATIC_OBSERVATION_KEYS
from imitation.networks import policy as policy_lib
from imitation.networks.policy import Policy


def make_act_fn(policy: Policy, deterministic: bool = True) -> rollout.Actor:
  """The policy as an Actor: `act((params, normalization), observation, policy_state, rng)
  -> (action, policy_state)`, the action in environment units.

  Observations are normalised with the training statistics, the policy's distribution is
  reduced to its mode (or sampled), and the action is mapped back to environment units;
  a chunked or history policy keeps its state as the module docstring says.
  """
  horizon, history = policy.action_horizon, policy.observation_history
  predict = make_predict_fn(policy, deterministic)
  if horizon == 1 and history == 1:
    return rollout.stateless(predict)

  def initial_state(policy_params, observation):
    del policy_params
    batch = jax.tree.leaves(observation)[0].shape[0]
    state = {}
    if history > 1:
      state['history'] = {k: v for k, v in policy_lib.history_of_first(
          observation, history).items() if k not in STATIC_OBSERVATION_KEYS}
    if horizon > 1:
      action_dim = policy.action_dim
      if policy.temporal_ensemble:
        state['chunks'] = jp.zeros((batch, horizon, horizon, action_dim))
        state['filled'] = jp.zeros((batch, horizon), bool)
      else:
        state['plan'] = jp.zeros((batch, horizon, action_dim))
        state['age'] = jp.full((batch,), policy.execute_steps, jp.int32)  # plan at once
    return state

  def act(policy_params, observation, state, rng):
    state = dict(state)
    if history > 1:
      state['history'] = {
          k: jp.concatenate([v[:, 1:], observation[k][:, None].astype(v.dtype)], axis=1)
          for k, v in state['history'].items()}
    inputs = policy_inputs(observation, state)
    if horizon == 1:
      return predict(policy_params, inputs, rng), state
    if policy.temporal_ensemble:
      return _ensembled(predict(policy_params, inputs, rng), state, policy.ensemble_decay)
    return _receding(lambda: predict(policy_params, inputs, rng), state,
                     policy.execute_steps)

  return rollout.Actor(act, initial_state)


def make_predict_fn(policy: Policy, deterministic: bool = True):
  """`predict((params, normalization), inputs, rng)`: the network on raw inputs (with the
  history already stacked, [batch, n, ...], for a history policy), its mode (or a sample)
  in environment units, [batch, action_dim] or a chunk [batch, H, action_dim]."""

  def predict(policy_params: Tuple[Any, normalization_lib.Normalization],
              observation: Dict[str, jax.Array], rng: jax.Array) -> jax.Array:
    params, normalization = policy_params
    distribution = policy.apply(
        params, normalization_lib.normalize_observation(normalization, observation))
    action = distribution.mode() if deterministic else distribution.sample(rng)
    if policy.action_horizon > 1:
      action = policy_lib.chunk_actions(action, policy.action_horizon)
    return normalization_lib.denormalize_action(normalization, action)

  return predict


def policy_inputs(observation: Dict[str, jax.Array], state: Any) -> Dict[str, jax.Array]:
  """What the network sees at a step: the observation, its stacked keys replaced by the
  history in the acting `state` (which already holds this step's observation), if any."""
  if isinstance(state, dict) and 'history' in state:
    return {**observation, **state['history']}
  return observation


def make_spread_fn(policy: Policy, num_samples: int) -> rollout.UncertaintyFn:
  """Uncertainty from the policy's own samples: the standard deviation of `num_samples`
  actions (or whole chunks) drawn from its head at the inputs the actor saw this step, in
  normalised action units and averaged over action dimensions, as the ensemble's
  disagreement is (agents/ensemble.py), so one threshold serves either gate."""

  def spread(policy_params, observation, policy_state, rng):
    params, normalization = policy_params
    # The actor's state already holds this step's observation.
    inputs = policy_inputs(observation, policy_state)
    distribution = policy.apply(
        params, normalization_lib.normalize_observation(normalization, inputs))
    samples = jax.vmap(distribution.sample)(jax.random.split(rng, num_samples))
    return jp.mean(jp.std(samples, axis=0), axis=-1)

  return spread


def _receding(predict_chunk, state: Dict[str, Any], execute_steps: int):
  """The next action of each env's plan, replanning (all envs in one call, only when one
  needs it) the envs that have executed `execute_steps` of theirs."""
  plan, age = state['plan'], state['age']
  replan = age >= execute_steps

  def new_plan(plan):
    return jp.where(replan[:, None, None], predict_chunk().astype(plan.dtype), plan)

  plan = jax.lax.cond(jp.any(replan), new_plan, lambda plan: plan, plan)
  age = jp.where(replan, 0, age)
  action = jp.take_along_axis(plan, age[:, None, None], axis=1)[:, 0]
  return action, {**state, 'plan': plan, 'age': age + 1}


def _ensembled(chunk: jax.Array, state: Dict[str, Any], decay: float):
  """The weighted mean, over the stored chunks, of each one's action for this step; the
  chunk made i steps ago sits in slot i and predicted this step at its index i."""
  horizon = chunk.shape[1]
  chunks = jp.concatenate([chunk[:, None].astype(state['chunks'].dtype),
                           state['chunks'][:, :-1]], axis=1)
  filled = jp.concatenate([jp.ones_like(state['filled'][:, :1]), state['filled'][:, :-1]],
                          axis=1)
  slots = jp.arange(horizon)
  for_now = chunks[:, slots, slots]  # [batch, H, A]: slot i's prediction for this step
  oldest_first = jp.sum(filled, axis=1, keepdims=True) - 1 - slots[None]  # j of slot i
  weights = jp.where(filled, jp.exp(-decay * oldest_first.astype(chunk.dtype)), 0.0)
  action = jp.sum(weights[..., None] * for_now, axis=1) / jp.sum(weights, axis=1)[:, None]
  return action, {**state, 'chunks': chunks, 'filled': filled}
