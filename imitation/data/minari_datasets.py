"""Minari datasets (the D4RL successor), read one episode at a time by Minari itself.

`data.format=minari` with `data.path` the dataset's folder (`~/.minari/datasets/ID`, or
its `data/` folder that holds `metadata.json`). Minari's own reader decodes whichever
storage the dataset uses (HDF5 or Arrow, JPEG-encoded images included). A Minari episode
holds N actions and N + 1 observations; the final observation, with no action, is left
out, so every step read has a real action. The episode's success is its final
`infos["success"]` where the collector recorded one, and the dataset's environment is its
`env_spec` id (checked against `env.name` as for RLDS).

Minari is imported only when such a dataset is read (`pip install "minari[hdf5]"`, about
7 MB with gymnasium; requirements.txt pins it).
"""

import os
from typing import Any, Dict, Iterator, Tuple

import numpy as np

from imitation.data import episodes as episodes_lib
from imitation.errors import DatasetError

SPLIT = 'train'  # Minari datasets have no splits: `train` (or `all`) reads every episode
DATA_DIR = 'data'


def _data_dir(path: str) -> str:
  """The folder holding `metadata.json`: `path` itself or its `data/`."""
  for candidate in (os.path.join(path, DATA_DIR), path):
    if os.path.exists(os.path.join(candidate, 'metadata.json')):
      return candidate
  raise DatasetError(f'no Minari dataset at {path} (no metadata.json there or in '
                     f'{DATA_DIR}/); a dataset id is at ~/.minari/datasets/ID')


def _rows(tree: Any, length: int) -> Any:
  """The first `length` rows of every array in an observation (dict, tuple or array)."""
  if isinstance(tree, dict):
    return {k: _rows(v, length) for k, v in tree.items()}
  if isinstance(tree, tuple):
    return {str(i): _rows(v, length) for i, v in enumerate(tree)}
  return np.asarray(tree)[:length]


def iterate_episodes(path: str, split: str = SPLIT
                     ) -> Tuple[Iterator[episodes_lib.Episode], Dict[str, Any]]:
  """Every episode in the dataset's order, and its metadata (env_name, dataset_id)."""
  if split not in (SPLIT, 'all'):
    raise DatasetError(f'{path}: Minari datasets have no splits; data.split must be '
                       f'{SPLIT!r} or \'all\', not {split!r}')
  try:
    import minari  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DatasetError(f'data.format=minari needs Minari: pip install "minari[hdf5]" '
                       f'({e})') from e
  directory = _data_dir(path)
  try:
    dataset = minari.MinariDataset(directory)
  except (ValueError, KeyError, OSError) as e:
    raise DatasetError(f'cannot read the Minari dataset at {directory}: '
                       f'{str(e).splitlines()[0]}') from e
  metadata = {'dataset_id': dataset.id}
  if dataset.env_spec is not None:
    metadata['env_name'] = dataset.env_spec.id

  def episodes():
    for episode in dataset.iterate_episodes():
      actions = np.asarray(episode.actions)
      steps = {'observation': _rows(episode.observations, len(actions)), 'action': actions,
               'reward': np.asarray(episode.rewards)}
      episode_metadata = {'demo': int(episode.id)}
      success = (episode.infos or {}).get('success')
      if success is not None:
        episode_metadata['success'] = bool(np.asarray(success)[-1])
      yield {'steps': steps, 'episode_metadata': episode_metadata}

  return episodes(), metadata
