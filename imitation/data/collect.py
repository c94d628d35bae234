"""Rolling out a task's expert in parallel environments and saving the episodes as RLDS."""

import json
import time
from typing import Any, Callable, Dict, Tuple

from absl import logging
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import envs
from imitation import streams
from imitation.data import episodes as episodes_lib
from imitation.data import rlds
from imitation.envs import rollout as rollout_lib


def episode_reset_keys(seed: int, episode_indices: np.ndarray) -> jax.Array:
  """Episode i of a collection with `seed` is reset with fold_in(COLLECT_RESET key, i)."""
  base = streams.key(seed, streams.COLLECT_RESET)
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base, jp.asarray(episode_indices))


_EXPERT_ROLLOUTS: Dict[str, Tuple[Any, Callable[..., Any]]] = {}


def _expert_rollout(env_config: ml_collections.ConfigDict) -> Tuple[Any, Callable[..., Any]]:
  """The env and the jitted expert rollout of `env_config`, built once per process and
  config, so collecting for several seeds (training/members.py) compiles it once."""
  key = json.dumps(env_config.to_dict(), sort_keys=True, default=str)
  if key not in _EXPERT_ROLLOUTS:
    env = envs.make_from_config(env_config)
    _EXPERT_ROLLOUTS[key] = env, jax.jit(rollout_lib.make_rollout(env, env_config.horizon))
  return _EXPERT_ROLLOUTS[key]


def collect_demonstrations(
    env_config: ml_collections.ConfigDict,
    collect_config: ml_collections.ConfigDict,
    path: str,
) -> Dict[str, Any]:
  """Writes `collect_config.num_episodes` expert episodes to an RLDS dataset at `path`.

  The environment is `env_config` with the demonstrator's actuator noise
  (`collect_config.action_noise`) in place of the deployment noise.

  Episodes are rolled out `num_parallel_envs` at a time by one compiled rollout; the last
  batch is padded to the same size (and the padding dropped) so nothing recompiles.

  Returns:
    A summary: episodes, transitions, expert success rate and mean return, seconds taken.
  """
  start = time.time()
  env_config = env_config.copy_and_resolve_references()
  env_config.action_noise = collect_config.action_noise
  env, rollout = _expert_rollout(env_config)
  horizon = env_config.horizon
  num_episodes = collect_config.num_episodes
  num_parallel = min(collect_config.num_parallel_envs, num_episodes)
  action_key = streams.key(collect_config.seed, streams.COLLECT_ACTION)

  collected = []
  for first in range(0, num_episodes, num_parallel):
    indices = np.arange(first, first + num_parallel)
    trajectory = rollout(
        None,
        episode_reset_keys(collect_config.seed, indices),
        jax.random.fold_in(action_key, first),
    )
    episodes = episodes_lib.trajectory_to_episodes(
        jax.device_get(trajectory),
        source='expert',
        seed=collect_config.seed,
        episode_indices=indices,
    )
    collected.extend(episodes[: num_episodes - first])
    logging.info('collected %d/%d episodes', len(collected), num_episodes)

  rlds.write_episodes(
      path,
      collected,
      observation_spec=envs.observation_spec(env),
      action_dim=env.action_size,
      metadata={
          'env_name': env_config.name,
          'env_kwargs': env_config.kwargs.to_dict(),
          'action_noise': env_config.action_noise.to_dict(),
          'horizon': horizon,
          'collect_seed': collect_config.seed,
      },
  )
  success = np.array([e['episode_metadata']['success'] for e in collected], np.float64)
  returns = np.array([e['episode_metadata']['return'] for e in collected], np.float64)
  return {
      'path': path,
      'num_episodes': len(collected),
      'num_transitions': int(sum(e['episode_metadata']['length'] for e in collected)),
      'success_rate': float(success.mean()),
      'mean_return': float(returns.mean()),
      'seconds': time.time() - start,
  }
