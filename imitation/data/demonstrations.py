"""Getting the training demonstrations a config asks for: load them, or collect defaults."""

import os
from typing import Any, Dict, List, Tuple

from absl import logging
import ml_collections
import numpy as np

from imitation import envs
from imitation.data import collect
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.errors import DatasetError

DEFAULT_DEMOS_DIR = 'demos'


def resolve_dataset(config: ml_collections.ConfigDict, workdir: str) -> str:
  """`config.data.path`, or expert demos collected into `workdir/demos` (reused on restart).

  `data.path` may name several datasets, comma-separated (e.g. one per task): they are
  read as one mixture (see `load_episodes`)."""
  if config.data.path:
    return ','.join(os.path.abspath(os.path.expanduser(p.strip()))
                    for p in config.data.path.split(',') if p.strip())
  path = os.path.join(workdir, DEFAULT_DEMOS_DIR)
  if rlds.dataset_exists(path):
    logging.info('reusing demonstrations in %s', path)
    return path
  logging.info('no dataset given: collecting %d expert episodes into %s',
               config.collect.num_episodes, path)
  summary = collect.collect_demonstrations(config.env, config.collect, path)
  logging.info('collected: %s', summary)
  return path


def load_episodes(
    config: ml_collections.ConfigDict, path: str
) -> Tuple[List[Dict[str, Any]], Dict[str, Any], int]:
  """The dataset's episodes that pass `config.data`'s filters, its metadata, and how many
  episodes it holds in all; checks that it was collected on `config.env.name`.

  `path` may list several datasets, comma-separated: each is read and filtered
  (`data.max_episodes` applies to each), then their episodes are concatenated in order; the
  metadata is the first one's. Which task each episode shows travels in its `task_id`, so
  the task mixture (`data.task_mixture`) then samples across the datasets.
  """
  episodes, metadata, num_available = [], None, 0
  for one_path in path.split(','):
    one, one_metadata, available = _load_one_dataset(config, one_path)
    if episodes and _step_shapes(one[0]) != _step_shapes(episodes[0]):
      raise DatasetError(
          f'dataset {one_path} does not match {path.split(",")[0]}: steps of shapes '
          f'{_step_shapes(one[0])} vs {_step_shapes(episodes[0])}; datasets mixed into one '
          'run need the same observations and actions')
    episodes += one
    metadata = one_metadata if metadata is None else metadata
    num_available += available
  return episodes, metadata, num_available


def _step_shapes(episode: Dict[str, Any]) -> Dict[str, Any]:
  """The per-step shape of each observation key and of the action (time axis dropped)."""
  steps = episode['steps']
  shapes = {f'observation/{k}': tuple(np.shape(v)[1:]) for k, v in steps['observation'].items()}
  return {**shapes, 'action': tuple(np.shape(steps['action'])[1:])}


def _load_one_dataset(config: ml_collections.ConfigDict, path: str):
  episodes, metadata = rlds.load_episodes(path, config.data.split)
  data_env = metadata.get('env_name')
  if data_env is not None and data_env != config.env.name:
    raise DatasetError(
        f'dataset {path} was collected on {data_env!r} but the config trains on '
        f'{config.env.name!r}'
    )
  num_available = len(episodes)
  episodes = transitions_lib.filter_episodes(
      episodes,
      only_successful=config.data.only_successful,
      min_return=config.data.min_return,
  )
  if config.data.max_episodes:
    episodes = episodes[: config.data.max_episodes]
  if not episodes:
    raise DatasetError(f'no episodes of {path} pass the data filters')
  return episodes, metadata, num_available


def load_transitions(
    config: ml_collections.ConfigDict, path: str, env: Any
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """Reads, filters and flattens the dataset, and checks that it fits `env`.

  Returns:
    (transitions, info) where info counts the episodes and transitions used.
  """
  episodes, _, num_available = load_episodes(config, path)
  transitions = transitions_lib.episodes_to_transitions(episodes, config.data.action_key)
  transitions_lib.check_matches_env(
      transitions, envs.observation_spec(env), env.action_size, source=path
  )
  info = {
      'num_demos': len(episodes),
      'num_available_episodes': num_available,
      'num_transitions': int(transitions['action'].shape[0]),
      'demo_success_rate': float(
          np.mean([e['episode_metadata']['success'] for e in episodes])
      ),
  }
  return transitions, info
