"""Vectorized rollouts: one compiled `lax.scan` over time, batched over environments.

The same rollout serves data collection (the expert acts), evaluation (the learner acts)
and DAgger (a beta-mixture of both). The expert labels every visited state, so a rollout
of the learner also yields the expert's action in each state it reached.
"""

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple
import weakref

from brax.envs.base import Env, Wrapper
from brax.envs.wrappers import training as brax_training
import chex
import flax
import jax
from jax import numpy as jp

from imitation.envs import base

# act(policy_params, observation_batch, policy_state, rng) -> (action_batch, policy_state)
ActFn = Callable[[Any, Dict[str, jax.Array], Any, jax.Array], Tuple[jax.Array, Any]]
# initial_state(policy_params, observation_batch) -> the policy state fresh episodes start
# with (leaves [num_envs, ...]; an empty tuple for a plain policy)
InitialStateFn = Callable[[Any, Dict[str, jax.Array]], Any]
# uncertainty_fn(policy_params, observation_batch, policy_state, rng) -> [num_envs] (e.g.
# ensemble disagreement, the spread of a head's samples), given the policy state the actor
# returned for this step (its observation history includes this observation)
UncertaintyFn = Callable[[Any, Dict[str, jax.Array], Any, jax.Array], jax.Array]
# gate(expert_was_in_control, learner_action, expert_action, uncertainty) -> expert takes
# control ([num_envs] bools); DAgger's gated variants make these.
GateFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
# perturb(expert_action, observation, params, policy_state, rng) -> (the demonstrator's
# action, policy_state), for demonstrators that are not the expert (noisy, biased, a
# previous policy; data/collect.py).
PerturbFn = Callable[[jax.Array, Dict[str, jax.Array], Any, Any, jax.Array],
                     Tuple[jax.Array, Any]]


def no_state(policy_params: Any, observation: Dict[str, jax.Array]) -> Tuple[()]:
  """The policy state of a plain policy: nothing."""
  del policy_params, observation
  return ()


@dataclasses.dataclass(frozen=True)
class Actor:
  """A policy as rollouts run it: `actor(params, observation, policy_state, rng) ->
  (action, policy_state)`, with `initial_state(params, observation)` the state each
  episode starts from. The state (an action queue for chunked execution, an observation
  history, a recurrent state) rides in the compiled rollout's carry, so collection,
  evaluation and DAgger run every policy alike."""
  act: ActFn
  initial_state: InitialStateFn = no_state

  def __call__(self, policy_params, observation, policy_state, rng):
    return self.act(policy_params, observation, policy_state, rng)

  def first_action(self, policy_params: Any, observation: Dict[str, jax.Array],
                   rng: jax.Array) -> jax.Array:
    """The action in each observation as an episode's first: scoring single states
    (held-out transitions, quality scores) without a rollout."""
    state = self.initial_state(policy_params, observation)
    return self.act(policy_params, observation, state, rng)[0]


def stateless(act_fn: Callable[[Any, Dict[str, jax.Array], jax.Array], jax.Array]) -> Actor:
  """A plain policy `act_fn(params, observation, rng) -> action` as an Actor."""

  def act(policy_params, observation, policy_state, rng):
    return act_fn(policy_params, observation, rng), policy_state

  return Actor(act)


@dataclasses.dataclass(frozen=True)
class Demonstrator:
  """A demonstrator made from the expert's action (`perturb`), with the policy state its
  own policy keeps, if any (`initial_state`, as `Actor`'s)."""
  perturb: PerturbFn
  initial_state: InitialStateFn = no_state


def reset_where(done: jax.Array, fresh: Any, policy_state: Any) -> Any:
  """`policy_state` with the rows of envs whose episode is `done` replaced by `fresh`."""
  def pick(new, old):
    return jp.where(done.reshape(done.shape + (1,) * (old.ndim - done.ndim)) > 0, new, old)
  return jax.tree.map(pick, fresh, policy_state)


@flax.struct.dataclass
class Trajectory:
  """A batch of fixed-length rollouts, time-major: leading axes [T, num_envs].

  `observation` has T + 1 entries: the observation before each action, then the last one.
  Steps after an episode's `done` are padding (environments are not auto-reset).
  """

  observation: Dict[str, jax.Array]
  action: jax.Array  # executed action
  expert_action: jax.Array  # the expert's label for the same state
  learner_action: jax.Array  # what the learner would do there (the expert's, if no learner)
  expert_in_control: jax.Array  # 1.0 where the executed action was the expert's
  uncertainty: jax.Array  # the learner's uncertainty in each state (0 without uncertainty_fn)
  reward: jax.Array
  done: jax.Array  # 1.0 from the step that ends the episode
  truncation: jax.Array  # 1.0 where the episode ended by time limit, not termination
  success: jax.Array  # the task's success metric after each step


# Per env: its reset, step and expert, each jitted once (see `_TracedOnce`).
_JITTED: 'weakref.WeakKeyDictionary[Env, Tuple[Callable[..., Any], ...]]' = (
    weakref.WeakKeyDictionary())


def _jitted(env: Env) -> Tuple[Callable[..., Any], ...]:
  if env not in _JITTED:
    _JITTED[env] = (jax.jit(env.reset), jax.jit(env.step), jax.jit(base.expert_fn(env)))
  return _JITTED[env]


class _TracedOnce(Wrapper):
  """The env with its reset and step jitted once per env object: JAX keeps a jitted
  function's traced program, so every rollout built on the same env (the expert's
  collection, the evaluator) reuses one trace of the simulator step (seconds for MJX)
  instead of tracing it again; XLA inlines the calls, so the compiled rollout is the same."""

  def reset(self, rng: jax.Array):
    return _jitted(self.env)[0](rng)

  def step(self, state, action: jax.Array):
    return _jitted(self.env)[1](state, action)


def wrap_for_rollout(env: Env, horizon: int) -> Env:
  """Batches the env over a leading axis and ends episodes after `horizon` steps."""
  return brax_training.EpisodeWrapper(
      brax_training.VmapWrapper(_TracedOnce(env)), episode_length=horizon, action_repeat=1
  )


def make_rollout(
    env: Env,
    horizon: int,
    actor: Optional[Actor] = None,
    *,
    uncertainty_fn: Optional[UncertaintyFn] = None,
    gate: Optional[GateFn] = None,
    demonstrator: Optional[Demonstrator] = None,
) -> Callable[..., Trajectory]:
  """Returns `rollout(policy_params, reset_keys, rng, beta) -> Trajectory` (not jitted).

  At each step the expert acts with probability `beta`, independently per environment,
  else the learner (`actor`) acts. Without `actor` the expert always acts. With `gate`,
  the expert also acts wherever the gate says it takes (or keeps) control: intervention-
  and uncertainty-gated DAgger. One environment is run per row of `reset_keys`, so an
  episode is reproduced by its key. Without `actor`, `demonstrator` turns the expert into
  another demonstrator: `policy_params` are then its parameters (per environment), and the
  trajectory's `expert_action` stays the expert's clean label.

  The actor's (or demonstrator's) policy state starts from its `initial_state` in every
  environment, is carried from step to step whoever acts (a queue of planned actions
  advances with time), and starts afresh where an episode ends.
  """
  if actor is not None and not isinstance(actor, Actor):
    raise TypeError(f'make_rollout takes an envs.rollout.Actor, not {type(actor).__name__}: '
                    'wrap a plain act(params, observation, rng) in rollout.stateless(act)')
  batched_env = wrap_for_rollout(env, horizon)
  base.expert_fn(env)  # a clear error for an env without an expert, before tracing
  expert = jax.vmap(_jitted(env)[2])
  initial_state = (actor or demonstrator or Actor(None)).initial_state

  def rollout(policy_params, reset_keys: jax.Array, rng: jax.Array, beta=1.0):
    num_envs = reset_keys.shape[0]
    state = batched_env.reset(reset_keys)

    def step(carry, step_rng):
      state, expert_was_in_control, policy_state = carry
      rng_expert, rng_learner, rng_mix = jax.random.split(step_rng, 3)
      expert_action = expert(state, jax.random.split(rng_expert, num_envs))
      uncertainty = jp.zeros((num_envs,))
      if actor is None:
        use_expert = jp.ones((num_envs,))
        action = learner_action = expert_action
        if demonstrator is not None:
          action, policy_state = demonstrator.perturb(
              expert_action, state.obs, policy_params, policy_state, rng_learner)
          learner_action = action
      else:
        learner_action, policy_state = actor(policy_params, state.obs, policy_state,
                                             rng_learner)
        chex.assert_equal_shape([learner_action, expert_action])
        if uncertainty_fn is not None:  # its own stream, so the others stay as they were
          uncertainty = uncertainty_fn(policy_params, state.obs, policy_state,
                                       jax.random.fold_in(rng_learner, 1))
        use_expert = jax.random.bernoulli(rng_mix, beta, (num_envs,))
        if gate is not None:
          use_expert |= gate(expert_was_in_control, learner_action, expert_action, uncertainty)
        use_expert = use_expert.astype(jp.float32)
        action = jp.where(use_expert[:, None] > 0, expert_action, learner_action)
      next_state = batched_env.step(state, action)
      policy_state = reset_where(next_state.done, initial_state(policy_params, next_state.obs),
                                 policy_state)
      record = dict(
          observation=state.obs,
          action=action,
          expert_action=expert_action,
          learner_action=learner_action,
          expert_in_control=use_expert,
          uncertainty=uncertainty,
          reward=next_state.reward,
          done=next_state.done,
          truncation=next_state.info['truncation'],
          success=next_state.metrics['success'],
      )
      return (next_state, use_expert > 0, policy_state), record

    carry = (state, jp.zeros((num_envs,), bool), initial_state(policy_params, state.obs))
    (final_state, _, _), record = jax.lax.scan(step, carry, jax.random.split(rng, horizon))
    return _trajectory(record, final_state)

  return rollout


def make_replay(env: Env, horizon: int) -> Callable[..., Trajectory]:
  """Returns `replay(reset_keys, actions, rng) -> Trajectory` (not jitted): each episode reset
  with its key and driven by its recorded actions ([T, num_envs, A], T <= horizon), the
  expert labelling every state it passes. How demonstrations are checked: does the episode
  succeed when played again, and how far are its actions from the expert's?"""
  batched_env = wrap_for_rollout(env, horizon)
  expert = jax.vmap(_jitted(env)[2])

  def replay(reset_keys: jax.Array, actions: jax.Array, rng: jax.Array) -> Trajectory:
    num_envs = reset_keys.shape[0]
    state = batched_env.reset(reset_keys)

    def step(state, inputs):
      action, step_rng = inputs
      expert_action = expert(state, jax.random.split(step_rng, num_envs))
      next_state = batched_env.step(state, action)
      return next_state, dict(
          observation=state.obs, action=action, expert_action=expert_action,
          learner_action=action, expert_in_control=jp.zeros((num_envs,)),
          uncertainty=jp.zeros((num_envs,)), reward=next_state.reward, done=next_state.done,
          truncation=next_state.info['truncation'], success=next_state.metrics['success'])

    rngs = jax.random.split(rng, actions.shape[0])  # the expert's own randomness
    final_state, record = jax.lax.scan(step, state, (actions, rngs))
    return _trajectory(record, final_state)

  return replay


def _trajectory(record: Dict[str, Any], final_state: Any) -> Trajectory:
  """The scanned steps as a Trajectory, the final observation appended to theirs."""
  record['observation'] = jax.tree.map(
      lambda steps, last: jp.concatenate([steps, last[None]]), record['observation'],
      final_state.obs)
  return Trajectory(**record)


def episode_mask(done: jax.Array) -> jax.Array:
  """1.0 for the steps of each episode up to and including the one that ends it."""
  ended_before = jp.cumsum(done, axis=0) - done
  return (ended_before == 0).astype(jp.float32)


def episode_statistics(trajectory: Trajectory) -> Dict[str, jax.Array]:
  """Per-episode statistics, shape [num_envs].

  `success` is the task's success metric at the episode's last step; `action_mse` is the
  mean squared difference between the learner's and the expert's action over the states
  the episode visited (whoever was driving). Multi-task environments add `task_id`.
  """
  mask = episode_mask(trajectory.done)
  length = jp.sum(mask, axis=0).astype(jp.int32)
  last = jp.maximum(length - 1, 0)
  success = jp.take_along_axis(trajectory.success, last[None], axis=0)[0]
  squared_error = jp.square(trajectory.learner_action - trajectory.expert_action)
  if 'action_mask' in trajectory.observation:  # padded tasks: only their real dimensions
    dims = trajectory.observation['action_mask'][:-1].astype(squared_error.dtype)
    action_error = jp.sum(squared_error * dims, -1) / jp.maximum(jp.sum(dims, -1), 1.0)
  else:
    action_error = jp.mean(squared_error, axis=-1)
  statistics = {
      'success': success,
      'return': jp.sum(trajectory.reward * mask, axis=0),
      'length': length,
      'action_mse': jp.sum(action_error * mask, axis=0) / jp.maximum(length, 1),
      'expert_fraction': jp.sum(trajectory.expert_in_control * mask, axis=0)
      / jp.maximum(length, 1),
      'expert_steps': jp.sum(trajectory.expert_in_control * mask, axis=0),
      'interventions': jp.sum(takeovers(trajectory.expert_in_control) * mask, axis=0),
  }
  if 'task_id' in trajectory.observation:  # multi-task: the task each episode was given
    statistics['task_id'] = trajectory.observation['task_id'][0]
  return statistics


def takeovers(expert_in_control: jax.Array) -> jax.Array:
  """[T, num_envs] 1.0 at each step where the expert takes control from the learner."""
  before = jp.concatenate([jp.zeros_like(expert_in_control[:1]), expert_in_control[:-1]])
  return expert_in_control * (1.0 - before)
