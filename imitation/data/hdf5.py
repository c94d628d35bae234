"""Demonstration files in HDF5 (h5py), read one demo at a time: robomimic's and ManiSkill's.

robomimic (robomimic.github.io/docs/datasets/overview.html), `data.format=robomimic`:

  data/               attrs: env_args (JSON: env_name, type, env_kwargs), total
    demo_N/           attrs: num_samples (and, where a writer adds them, success, source)
      obs/KEY         [N, ...] per-step observations: vectors, uint8 images [N, H, W, C]
      next_obs/KEY    [N, ...] (not read: obs of step t + 1)
      actions         [N, A]: every step's action is real
      rewards, dones  [N]
      states          [N, S] simulator states (not read)
  mask/FILTER_KEY     the demo names in a filter key ("train", "valid", ...): the splits
                      (`data.split`; `train` without such a key, or `all`: every demo)

ManiSkill trajectory files (maniskill.readthedocs.io, "Demonstrations"),
`data.format=maniskill`:

  traj_N/
    obs               [N + 1, D], or a group of them (nested: agent/qpos, sensor_data/...)
    actions           [N, A]
    rewards, success, terminated, truncated  [N]
  FILE.json           env_info.env_id beside FILE.h5 (optional)

Each episode comes out as {steps: {observation, action, reward}, episode_metadata} for
`data.formats` to map (every action real, so nothing is padding). A file is opened once and
each demo is read when the reader reaches it: a process reading its shard, or the stream
conversion, never holds the rest of the file.
"""

import json
import os
import re
from typing import Any, Callable, Dict, Iterator, List, Tuple

import h5py
import numpy as np

from imitation.data import episodes as episodes_lib
from imitation.errors import DatasetError

TRAIN = 'train'  # the default split: mask/train where the file has it, else every demo
ALL = 'all'  # every demo, whatever filter keys the file has (robomimic's filter_key=None)


def _open(path: str) -> h5py.File:
  if not os.path.isfile(path):
    raise DatasetError(f'no HDF5 file at {path}')
  try:
    return h5py.File(path, 'r')
  except OSError as e:
    raise DatasetError(f'cannot read {path} as HDF5: {str(e).splitlines()[0]}') from e


def _some(names) -> str:
  """The first few of `names`, for an error line."""
  names = list(names)
  return ', '.join(names[:4]) + (', ...' if len(names) > 4 else '')


def _numbered(names, prefix: str) -> List[str]:
  """`prefix`N names in N's order (demo_2 before demo_10), as robomimic sorts them."""
  pattern = re.compile(re.escape(prefix) + r'(\d+)$')
  found = [n for n in names if pattern.match(n)]
  return sorted(found, key=lambda n: int(pattern.match(n).group(1)))


def _read(node: Any, length: int = 0) -> Any:
  """A dataset as an array (its first `length` rows if given), a group as a dict of them."""
  if isinstance(node, h5py.Group):
    return {k: _read(node[k], length) for k in node}
  return node[:length] if length else node[()]


def _attrs(node: Any) -> Dict[str, Any]:
  """The attributes a demo records about itself that the episode schema keeps."""
  kept = {}
  for key in ('success', 'source'):
    if key in node.attrs:
      value = node.attrs[key]
      kept[key] = value.decode() if isinstance(value, bytes) else value
  return kept


def _robomimic_demos(handle: h5py.File, path: str, split: str) -> List[str]:
  if 'data' not in handle:
    raise DatasetError(f'{path}: no "data" group (it has {_some(handle)}), not a robomimic '
                       'file; for ManiSkill trajectories set data.format=maniskill')
  masks = handle['mask'] if 'mask' in handle else {}
  if split in masks:
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in masks[split][()]]
    missing = [n for n in names if n not in handle['data']]
    if missing:
      raise DatasetError(f'{path}: mask/{split} names demos the file lacks: {missing[:3]}')
    return names
  if split not in (TRAIN, ALL):
    raise DatasetError(f'{path}: no filter key {split!r} for data.split (mask/ has '
                       f'{sorted(masks)}; {ALL!r} reads every demo)')
  return _numbered(handle['data'], 'demo_')


def _episodes(path: str, list_demos: Callable[[h5py.File], Tuple[List[str], Dict[str, Any]]],
              read_demo: Callable[[h5py.File, str], episodes_lib.Episode]
              ) -> Tuple[Iterator[episodes_lib.Episode], Dict[str, Any]]:
  """(the demos `list_demos(file)` names, each read by `read_demo(file, name)` when the
  reader reaches it, and the file's metadata). The file stays open while episodes are
  read and is closed when they end, or at once if listing them fails."""
  handle = _open(path)
  try:
    names, metadata = list_demos(handle)
  except BaseException:
    handle.close()
    raise

  def episodes():
    with handle:
      for name in names:
        yield read_demo(handle, name)

  return episodes(), metadata


def _steps(group: h5py.Group, observation: Any, actions: np.ndarray) -> Dict[str, Any]:
  """A demo's steps as `data.formats` maps them: observation, action and its rewards."""
  steps = {'observation': observation, 'action': actions}
  if 'rewards' in group:
    steps['reward'] = group['rewards'][()]
  return steps


def iterate_robomimic(path: str, split: str = TRAIN
                      ) -> Tuple[Iterator[episodes_lib.Episode], Dict[str, Any]]:
  """The demos of filter key `split` (`all`, or `train` with no such key: every demo), in
  the file's order, and the metadata its `env_args` give (env_name)."""

  def list_demos(handle):
    names = _robomimic_demos(handle, path, split)
    if not names:
      raise DatasetError(f'{path}: the file holds no demos in split {split!r}')
    env_args = handle['data'].attrs.get('env_args')
    if env_args is None:
      return names, {}
    try:
      return names, {'env_name': json.loads(env_args)['env_name'], 'env_args': env_args}
    except (ValueError, KeyError, TypeError) as e:
      raise DatasetError(f'{path}: data.attrs["env_args"] is not robomimic\'s JSON '
                         f'(env_name, type, env_kwargs): {e}') from e

  def read_demo(handle, name):
    demo = handle['data'][name]
    for key in ('obs', 'actions'):
      if key not in demo:
        raise DatasetError(f'{path}: data/{name} has no {key!r} (it has {sorted(demo)})')
    return {'steps': _steps(demo, _read(demo['obs']), demo['actions'][()]),
            'episode_metadata': {'demo': name, **_attrs(demo)}}

  return _episodes(path, list_demos, read_demo)


def iterate_maniskill(path: str, split: str = TRAIN
                      ) -> Tuple[Iterator[episodes_lib.Episode], Dict[str, Any]]:
  """Every `traj_N` in N's order (ManiSkill files have no splits), the final observation
  dropped (it has no action), and the env id of the JSON file beside it, if there."""
  if split not in (TRAIN, ALL):
    raise DatasetError(f'{path}: ManiSkill trajectory files have no splits; data.split '
                       f'must be {TRAIN!r} or {ALL!r}, not {split!r}')

  def list_demos(handle):
    names = _numbered(handle, 'traj_')
    if not names:
      raise DatasetError(f'{path}: no traj_N groups (it has {_some(handle)}), not a '
                         'ManiSkill trajectory file; for robomimic set data.format=robomimic')
    sidecar = os.path.splitext(path)[0] + '.json'
    if not os.path.exists(sidecar):
      return names, {}
    with open(sidecar) as f:
      env_id = (json.load(f).get('env_info') or {}).get('env_id')
    return names, {'env_name': env_id} if env_id else {}

  def read_demo(handle, name):
    trajectory = handle[name]
    if 'obs' not in trajectory or 'actions' not in trajectory:
      raise DatasetError(f'{path}: {name} needs obs and actions (it has '
                         f'{sorted(trajectory)})')
    actions = trajectory['actions'][()]
    episode_metadata = {'demo': name}
    if 'success' in trajectory:
      episode_metadata['success'] = bool(np.asarray(trajectory['success'][()])[-1])
    return {'steps': _steps(trajectory, _read(trajectory['obs'], len(actions)), actions),
            'episode_metadata': episode_metadata}

  return _episodes(path, list_demos, read_demo)
