"""Turning a trained policy network into an act function on raw observations."""

from typing import Any, Dict, Tuple

import jax

from imitation.data import normalization as normalization_lib
from imitation.envs import rollout
from imitation.networks.policy import Policy


def make_act_fn(policy: Policy, deterministic: bool = True) -> rollout.Actor:
  """The policy as an Actor (no policy state): `act((params, normalization), observation,
  policy_state, rng) -> (action, policy_state)`, the action in environment units.

  Observations are normalised with the training statistics, the policy's distribution is
  reduced to its mode (or sampled), and the action is mapped back to environment units.
  """

  def act(
      policy_params: Tuple[Any, normalization_lib.Normalization],
      observation: Dict[str, jax.Array],
      rng: jax.Array,
  ) -> jax.Array:
    params, normalization = policy_params
    distribution = policy.apply(
        params, normalization_lib.normalize_observation(normalization, observation)
    )
    action = distribution.mode() if deterministic else distribution.sample(rng)
    return normalization_lib.denormalize_action(normalization, action)

  return rollout.stateless(act)
