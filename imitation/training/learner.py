"""The Learner: what an agent hands the run frame, and the one gradient step agents share.

An agent's `make_learner(config, action_size)` builds the policy and optimizer and closes its
pure functions over them; the run frame, DAgger, the benchmarks and the tests take a Learner
and never ask which agent made it.
"""

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import optax

from imitation.envs.rollout import Actor, UncertaintyFn
from imitation.networks.policy import Policy
from imitation.training.train_state import TrainState
from imitation.training.chunk import UpdateFn

# init(rng, example_observation=..., normalization=...) -> a fresh TrainState
InitFn = Callable[..., TrainState]
# loss_fn(params, *loss_args) -> (scalar loss, metrics)
LossFn = Callable[..., Tuple[jax.Array, Dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class Learner:
  """A policy network, its optimizer and the pure functions of them a run needs.

  Attributes:
    policy: the Flax module (for an ensemble, each member's).
    optimizer: the optax transformation `update` applies.
    init: `init(rng, example_observation=..., normalization=...)`: a fresh train state;
      `example_observation` is a batch of one observation.
    update: `update(train_state, batch, rng) -> (train_state, metrics)`, pure and jittable.
    act: the policy as rollouts run it (`envs.rollout.Actor`): `act((params,
      normalization), observation_batch, policy_state, rng) -> (actions in env units,
      policy_state)`, the state starting each episode from `act.initial_state`.
    uncertainty: optional `uncertainty((params, normalization), observation_batch,
      policy_state, rng) -> [batch]`, for gates that hand control to the expert where the
      learner is unsure (envs.rollout.UncertaintyFn).
    exportable: whether `export_policy` can save the params as one policy network.
    prepare: optional `prepare(train_state, task_ids) -> train_state`, run once on a
      fresh state with the task id of every training example, of every process (e.g.
      loss weights from each task's data size).
    after_eval: optional `after_eval(train_state, evaluation) -> (train_state, metrics)`,
      run by the host loop after each evaluation: a learner that adapts to how it is doing
      (success-rate loss weights) changes its state there and returns what to log.
  """

  policy: Policy
  optimizer: optax.GradientTransformation
  init: InitFn
  update: UpdateFn
  act: Actor
  uncertainty: Optional[UncertaintyFn] = None
  exportable: bool = True
  prepare: Optional[Callable[[Any, Any], Any]] = None
  after_eval: Optional[Callable[[Any, Dict[str, Any]], Tuple[Any, Dict[str, Any]]]] = None


def gradient_step(
    loss_fn: LossFn, optimizer: optax.GradientTransformation, params: Any, opt_state: Any,
    *loss_args: Any,
) -> Tuple[Any, Any, Dict[str, jax.Array]]:
  """One optimizer step on `loss_fn(params, *loss_args)`: (params, opt_state, metrics).

  The metrics are the loss function's own plus the gradient's global norm.
  """
  grads, metrics = jax.grad(loss_fn, has_aux=True)(params, *loss_args)
  updates, opt_state = optimizer.update(grads, opt_state, params)
  metrics = {**metrics, 'grad_norm': optax.global_norm(grads)}
  return optax.apply_updates(params, updates), opt_state, metrics


def example_observation(observations: Dict[str, Any]) -> Dict[str, Any]:
  """The first observation of a batch, as a batch of one: what `init` traces the network on."""
  return jax.tree.map(lambda x: x[:1], observations)

