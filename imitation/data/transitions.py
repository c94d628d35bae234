"""Flattening RLDS episodes to (observation, action) transitions and checking them."""

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from imitation.data import episodes as episodes_lib
from imitation.data import state_only
from imitation.errors import DatasetError


def episodes_to_transitions(
    episodes: Sequence[episodes_lib.Episode], action_key: str = 'action',
    episode_indices: Optional[Sequence[int]] = None,
) -> Dict[str, Any]:
  """Concatenates every step with a real action (not `action_is_pad`; by default every
  non-final step): `{'observation': {...}, 'action': [N, A], ...}`.

  Args:
    episodes: RLDS episodes as numpy dicts.
    action_key: the step field that is the training target: 'action' (what was executed)
      or 'expert_action' (the expert's label, which is what DAgger learns from).
    episode_indices: each episode's number in the whole dataset (a process's shard keeps
      the whole's numbers); default 0, 1, ... Rows carry it as `episode_index`.
  """
  if not episodes:
    raise DatasetError('the dataset holds no episodes')
  if not any(key in episodes[0]['steps'] for key in state_only.ACTION_KEYS):
    raise DatasetError(state_only.REFUSAL)
  if action_key not in episodes[0]['steps']:
    raise DatasetError(
        f'steps have no {action_key!r} field; fields: {sorted(episodes[0]["steps"])}'
    )
  if episode_indices is None:
    episode_indices = range(len(episodes))
  # Filled in place, episode by episode: no second (masked) copy of the steps is ever held.
  keeps = [episodes_lib.real_actions(e['steps']) for e in episodes]
  total = int(sum(k.sum() for k in keeps))
  first = episodes[0]['steps']
  result = {
      'observation': {k: np.empty((total,) + np.shape(v)[1:], np.asarray(v).dtype)
                      for k, v in first['observation'].items()},
      'action': np.empty((total,) + np.shape(first[action_key])[1:], np.float32),
      'task_id': np.empty(total, np.int32),
      'episode_index': np.empty(total, np.int32),
  }
  row = 0
  for index, episode, keep in zip(episode_indices, episodes, keeps):
    steps, end = episode['steps'], row + int(keep.sum())
    for k, v in steps['observation'].items():
      result['observation'][k][row:end] = v[keep]
    result['action'][row:end] = np.asarray(steps[action_key])[keep]
    result['task_id'][row:end] = episode.get('episode_metadata', {}).get('task_id', 0)
    result['episode_index'][row:end] = index
    row = end
  return result


def check_matches_env(
    transitions: Mapping[str, Any],
    observation_spec: Mapping[str, Any],
    action_dim: int,
    *,
    source: str,
) -> None:
  """Raises a DatasetError naming the first difference between the data and the env."""
  data_keys = set(transitions['observation'])
  env_keys = set(observation_spec)
  if data_keys == {'image'} and 'image' in env_keys:  # a camera only: the env has more
    observation_spec = {'image': observation_spec['image']}  # (the policy reads the image)
    env_keys = data_keys
  if data_keys != env_keys:
    hint = ''
    if 'image' in data_keys - env_keys:
      hint = ' (data.fields.image=none leaves the camera out)'
    raise DatasetError(
        f'dataset {source} has observation keys {sorted(data_keys)} but the environment '
        f'produces {sorted(env_keys)}{hint}'
    )
  for key, spec in observation_spec.items():
    shape = tuple(transitions['observation'][key].shape[1:])
    if shape != tuple(spec.shape):
      raise DatasetError(
          f'dataset {source} has observation {key!r} of shape {shape} but the environment '
          f'produces {tuple(spec.shape)}'
      )
    dtype, wanted = np.dtype(transitions['observation'][key].dtype), np.dtype(spec.dtype)
    if dtype != wanted and not (dtype.kind == wanted.kind == 'f'):
      raise DatasetError(
          f'dataset {source} has observation {key!r} of dtype {dtype} but the environment '
          f'produces {wanted}'
      )
  data_action_dim = transitions['action'].shape[-1]
  if data_action_dim != action_dim:
    raise DatasetError(
        f'dataset {source} has actions of size {data_action_dim} but the environment '
        f'takes {action_dim}'
    )


def mismatched_state_columns(data_first: np.ndarray, env_first: np.ndarray,
                             z_limit: float = 4.0, spread_ratio: float = 4.0,
                             atol: float = 1e-3) -> List[int]:
  """The state columns where a dataset's first steps ([n, D]) cannot be the env's resets
  ([m, D]). A column the env starts at one value (a velocity at rest) must start there in
  the data too; any other column's mean must lie within `z_limit` standard errors of the
  env's and its spread within a factor `spread_ratio` of the env's (the spread is judged
  from 8 episodes on). A column order that is not the env's fails on the columns it moves.
  """
  data_first, env_first = np.asarray(data_first, np.float64), np.asarray(env_first, np.float64)
  mean_e, std_e = env_first.mean(0), env_first.std(0)
  std_d = data_first.std(0)
  constant = std_e <= atol
  off_constant = np.abs(data_first - mean_e).max(0) > atol * (1 + np.abs(mean_e))
  standard_error = std_e * np.sqrt(1 / len(data_first) + 1 / len(env_first))
  off_mean = np.abs(data_first.mean(0) - mean_e) > z_limit * np.maximum(standard_error, atol)
  off_spread = (len(data_first) >= 8) & ((std_d * spread_ratio < std_e)
                                         | (std_d > spread_ratio * std_e))
  return [int(c) for c in np.flatnonzero(np.where(constant, off_constant,
                                                  off_mean | off_spread))]


def filter_episodes(
    episodes: Sequence[episodes_lib.Episode],
    *,
    only_successful: bool = False,
    min_return: float = -np.inf,
) -> list:
  """Quality filter: keeps episodes that succeeded (if asked) and reached `min_return`."""
  return [e for e in episodes
          if passes_filters(e, only_successful=only_successful, min_return=min_return)]


def passes_filters(
    episode: episodes_lib.Episode, *, only_successful: bool = False,
    min_return: float = -np.inf,
) -> bool:
  """Whether one episode passes `filter_episodes`' quality filter."""
  metadata = episode.get('episode_metadata', {})
  if only_successful and not metadata.get('success', False):
    return False
  return float(metadata.get('return', np.inf)) >= min_return
