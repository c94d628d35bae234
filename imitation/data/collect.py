"""Rolling out a task's expert in parallel environments and saving the episodes as RLDS."""

import json
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import envs
from imitation import progress
from imitation import streams
from imitation.data import episodes as episodes_lib
from imitation.data import rlds
from imitation.data import state_only as state_only_lib
from imitation.envs import rollout as rollout_lib
from imitation.errors import ConfigError, DatasetError


def episode_reset_keys(seed: int, episode_indices: np.ndarray) -> jax.Array:
  """Episode i of a collection with `seed` is reset with fold_in(COLLECT_RESET key, i)."""
  base = streams.key(seed, streams.COLLECT_RESET)
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base, jp.asarray(episode_indices))


# Who demonstrates an episode: the expert, or a worse demonstrator made from it, so every
# quality score can be checked against the truth (`episode_metadata.source`).
DEMONSTRATORS = ('expert', 'noisy_expert', 'biased_expert', 'policy')
# A previous policy as demonstrator: (actor, policy_params), actor an `envs.rollout.Actor`.
PolicyDemonstrator = Tuple[rollout_lib.Actor, Any]


def demonstrators(collect_config: ml_collections.ConfigDict) -> np.ndarray:
  """[num_episodes] index into DEMONSTRATORS: `collect.mixture`'s shares of the episodes
  (rounded counts, the rest the expert's), in an order drawn from the collection seed."""
  num_episodes = collect_config.num_episodes
  mixture = dict(collect_config.get('mixture') or {})
  unknown = set(mixture) - set(DEMONSTRATORS[1:])
  if unknown:
    raise ConfigError(f'collect.mixture has unknown demonstrators {sorted(unknown)}; '
                      f'known: {DEMONSTRATORS[1:]}')
  counts = {name: int(round(share * num_episodes)) for name, share in mixture.items()}
  if any(share < 0 for share in mixture.values()) or sum(counts.values()) > num_episodes:
    raise ConfigError(f'collect.mixture={mixture}: shares must be >= 0 and sum to <= 1')
  kinds = np.zeros(num_episodes, np.int32)
  start = 0
  for name, count in counts.items():
    kinds[start:start + count] = DEMONSTRATORS.index(name)
    start += count
  order = jax.random.permutation(streams.key(collect_config.seed, streams.COLLECT_MIXTURE),
                                 num_episodes)
  return kinds[np.asarray(order)]


def _make_demonstrator(actor: Optional[rollout_lib.Actor]) -> rollout_lib.Demonstrator:
  """The demonstrators' actions: the expert's, plus fresh Gaussian noise every step
  (noisy_expert) or a constant offset held for the whole episode (biased_expert), or a
  previous policy's own action (policy, when `actor` is given; its policy state rides in
  the rollout)."""

  def perturb(expert_action: jax.Array, observation: Dict[str, jax.Array],
              params: Dict[str, Any], policy_state: Any, rng: jax.Array):
    rng_noise, rng_policy = jax.random.split(rng)
    kind = params['kind'][:, None]
    noise = params['noise_std'] * jax.random.normal(rng_noise, expert_action.shape)
    action = jp.where(kind == DEMONSTRATORS.index('noisy_expert'), expert_action + noise,
                      expert_action)
    action = jp.where(kind == DEMONSTRATORS.index('biased_expert'), action + params['bias'],
                      action)
    if actor is not None:
      policy_action, policy_state = actor(params['policy'], observation, policy_state,
                                          rng_policy)
      action = jp.where(kind == DEMONSTRATORS.index('policy'), policy_action, action)
    return action, policy_state

  if actor is None:
    return rollout_lib.Demonstrator(perturb)
  return rollout_lib.Demonstrator(
      perturb, lambda params, observation: actor.initial_state(params['policy'], observation))


def _demonstrator_params(collect_config, kinds: np.ndarray, indices: np.ndarray,
                         action_size: int) -> Dict[str, jax.Array]:
  """Per episode: its demonstrator, the noise scale, and its bias (a direction drawn per
  episode, of norm `collect.bias`)."""
  base = streams.key(collect_config.seed, streams.COLLECT_MIXTURE)
  directions = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(base, i),
                                                    (action_size,)))(jp.asarray(indices))
  directions /= jp.linalg.norm(directions, axis=-1, keepdims=True)
  return {'kind': jp.asarray(kinds), 'noise_std': jp.float32(collect_config.get('noisy_std', 0.0)),
          'bias': collect_config.get('bias', 0.0) * directions}


_EXPERT_ROLLOUTS: Dict[str, Tuple[Any, Callable[..., Any]]] = {}


def _expert_rollout(env_config: ml_collections.ConfigDict,
                    actor: Optional[rollout_lib.Actor] = None,
                    ) -> Tuple[Any, Callable[..., Any]]:
  """The env and the jitted demonstrators' rollout of `env_config`, built once per
  process, config (and policy act fn), so collecting for several seeds
  (training/members.py) compiles it once."""
  key = json.dumps(env_config.to_dict(), sort_keys=True, default=str) + str(id(actor))
  if key not in _EXPERT_ROLLOUTS:
    env = envs.make_from_config(env_config)
    _EXPERT_ROLLOUTS[key] = env, jax.jit(rollout_lib.make_rollout(
        env, env_config.horizon, demonstrator=_make_demonstrator(actor)))
  return _EXPERT_ROLLOUTS[key]


def collect_demonstrations(
    env_config: ml_collections.ConfigDict,
    collect_config: ml_collections.ConfigDict,
    path: str,
    policy: Optional[PolicyDemonstrator] = None,
) -> Dict[str, Any]:
  """Writes `collect_config.num_episodes` demonstrations to an RLDS dataset in the data_dir
  `path` (at path/NAME/VERSION, `collect_config.dataset_name` and `dataset_version`).

  Each episode's demonstrator is the expert, or one drawn from `collect_config.mixture`
  (DEMONSTRATORS; recorded as the episode's `source`); `expert_action` is always the
  expert's label; `collect_config.drop_actions` writes a state-only dataset instead (the
  actions kept aside, data/state_only.py). The environment is `env_config` with the
  demonstrator's actuator noise (`collect_config.action_noise`) in place of the deployment
  noise.

  Episodes are rolled out `num_parallel_envs` at a time by one compiled rollout; the last
  batch is padded to the same size (and the padding dropped) so nothing recompiles.

  `policy` is the previous policy that plays the `policy` share of the mixture (the
  "self-play" source: agents/expert.py loads it from `collect.policy_dir`).

  Returns:
    A summary: episodes, transitions, success rate and mean return (over all episodes and
    per demonstrator), seconds taken.
  """
  start = time.time()
  env_config = env_config.copy_and_resolve_references()
  env_config.action_noise = collect_config.action_noise
  kinds = demonstrators(collect_config)
  if (kinds == DEMONSTRATORS.index('policy')).any() and policy is None:
    raise ConfigError('collect.mixture.policy needs a previous policy: set '
                      'collect.policy_dir and collect with experiments/collect.py')
  env, rollout = _expert_rollout(env_config, policy[0] if policy else None)
  horizon = env_config.horizon
  num_episodes = collect_config.num_episodes
  num_parallel = min(collect_config.num_parallel_envs, num_episodes)
  action_key = streams.key(collect_config.seed, streams.COLLECT_ACTION)

  collected = []
  bar = progress.bar(total=num_episodes, desc='collecting demos', unit='episode')
  for first in range(0, num_episodes, num_parallel):
    indices = np.arange(first, first + num_parallel)
    batch_kinds = kinds[np.minimum(indices, num_episodes - 1)]
    params = _demonstrator_params(collect_config, batch_kinds, indices, env.action_size)
    if policy is not None:
      params['policy'] = policy[1]
    trajectory = rollout(
        params,
        episode_reset_keys(collect_config.seed, indices),
        jax.random.fold_in(action_key, first),
    )
    episodes = episodes_lib.trajectory_to_episodes(
        jax.device_get(trajectory),
        source=[DEMONSTRATORS[k] for k in batch_kinds],
        seed=collect_config.seed,
        episode_indices=indices,
    )
    collected.extend(episodes[: num_episodes - first])
    bar.update(len(episodes[: num_episodes - first]))
  bar.close()

  state_only = bool(collect_config.get('drop_actions', False))
  directory = rlds.write_episodes(
      path,
      [state_only_lib.without_actions(e) for e in collected] if state_only else collected,
      name=collect_config.get('dataset_name', rlds.DATASET_NAME),
      version=collect_config.get('dataset_version', rlds.DATASET_VERSION),
      observation_spec=envs.observation_spec(env),
      action_dim=0 if state_only else env.action_size,
      metadata={
          'env_name': env_config.name,
          'state_only': state_only,
          'action_size': env.action_size,
          'env_kwargs': env_config.kwargs.to_dict(),
          'action_noise': env_config.action_noise.to_dict(),
          'horizon': horizon,
          'collect_seed': collect_config.seed,
      },
  )
  if state_only:
    state_only_lib.save_actions_aside(directory, collected)
  return {'path': directory, **summarize([e['episode_metadata'] for e in collected]),
          'state_only': state_only, 'seconds': time.time() - start}


def summarize(metadata: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
  """Episodes, transitions, success rate and mean return, over all and per demonstrator,
  from the episodes' `episode_metadata`."""
  success = np.array([m['success'] for m in metadata], np.float64)
  returns = np.array([m['return'] for m in metadata], np.float64)
  sources = np.array([str(m['source']) for m in metadata])
  by_source = {name: {'num_episodes': int((sources == name).sum()),
                      'success_rate': float(success[sources == name].mean())}
               for name in DEMONSTRATORS if (sources == name).any()}
  return {
      'num_episodes': len(metadata),
      'num_transitions': int(sum(m['length'] for m in metadata)),
      'success_rate': float(success.mean()),
      'mean_return': float(returns.mean()),
      'by_source': by_source,
  }


def summarize_dataset(env_config: ml_collections.ConfigDict,
                      collect_config: ml_collections.ConfigDict, path: str) -> Dict[str, Any]:
  """`collect_demonstrations`' summary of the dataset it already wrote at `path` (a rerun
  after the writer finished it), once its metadata shows it was collected as
  `collect_config` asks; otherwise a DatasetError says what differs."""
  episodes, metadata = rlds.iterate_episodes(path)
  per_episode = [episode['episode_metadata'] for episode in episodes]  # steps not kept
  found = (metadata.get('env_name'), metadata.get('collect_seed'), len(per_episode))
  wanted = (env_config.name, collect_config.seed, collect_config.num_episodes)
  if found != wanted:
    raise DatasetError(
        f'{path} holds {found[2]} episodes of {found[0]!r} collected with seed {found[1]}; '
        f'this config asks for {wanted[2]} of {wanted[0]!r} with seed {wanted[1]}: '
        'use another --workdir')
  return {'path': rlds.resolve_path(path), **summarize(per_episode), 'seconds': 0.0}


CONFIG_RULES = {
    'collect.num_episodes': rules.positive_int(),
    'collect.num_parallel_envs': rules.positive_int(),
    'collect.noisy_std': rules.non_negative_number(),
    'collect.bias': rules.non_negative_number(),
    'collect.action_noise.relative_std': rules.non_negative_number(),
    'collect.action_noise.absolute_std': rules.non_negative_number(),
}
