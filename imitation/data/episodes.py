"""The RLDS episode schema as numpy dicts, and cutting batched rollouts into episodes.

An episode is `{'steps': {...}, 'episode_metadata': {...}}` with one step per observation:
an episode of L actions has L + 1 steps, the last one (`is_last`) carrying the final
observation and a zero action, as RLDS prescribes; `action_is_pad` marks that action as
padding for any reader (data/rlds.py).
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

Episode = Dict[str, Any]

STEP_KEYS = (
    'observation', 'action', 'expert_action', 'reward', 'discount', 'is_first',
    'is_last', 'is_terminal', 'action_is_pad',
)
METADATA_KEYS = (
    'task_id', 'success', 'source', 'seed', 'episode_index', 'return', 'length', 'round',
)
SOURCES = ('expert', 'dagger', 'learner', 'noisy_expert', 'biased_expert', 'policy')


def real_actions(steps: Dict[str, Any]) -> np.ndarray:
  """[L] True where a step's action is a real one: not `action_is_pad` (datasets written
  before that flag: not the final, observation-only step)."""
  return ~np.asarray(steps.get('action_is_pad', steps['is_last']), bool)


def newest_frames(image: np.ndarray, frame_stack: int) -> np.ndarray:
  """[..., H, W, C / frame_stack]: the newest frame of each stacked camera observation
  (env.frame_stack frames along channels, oldest first)."""
  return image[..., image.shape[-1] - image.shape[-1] // frame_stack:]


def trajectory_to_episodes(
    trajectory: Any,
    *,
    source: Union[str, Sequence[str]],
    seed: int,
    episode_indices: Sequence[int],
    round_index: int = 0,
    labelled: Optional[np.ndarray] = None,
) -> List[Episode]:
  """Cuts a time-major batch of rollouts ([T, num_envs, ...] numpy) into RLDS episodes.

  The metadata's `task_id` is the one the episode's observations carry (`obs['task_id']`,
  drawn by multi-task environments at reset), or 0 for single-task environments.

  Args:
    trajectory: an `envs.rollout.Trajectory` fetched to the host.
    source: who produced the data, one of SOURCES, or one per column.
    seed: the collection seed; episode i was reset with fold_in(PRNGKey(seed), i).
    episode_indices: the global index of each column's episode.
    round_index: data-collection round (0 for expert demonstrations, k for DAgger round k).
    labelled: optional [T, num_envs] mask of the steps the expert labelled (gated DAgger).
      Each contiguous run of labelled steps becomes its own episode (same episode_index),
      ending with the observation after its last labelled action; unlabelled steps are
      dropped. None keeps every step.
  """
  sources = [source] * len(episode_indices) if isinstance(source, str) else list(source)
  for one in sources:
    if one not in SOURCES:
      raise ValueError(f'source must be one of {SOURCES}, got {one!r}')
  tr = {k: np.asarray(getattr(trajectory, k)) for k in ('action', 'expert_action', 'reward', 'done', 'truncation', 'success')}
  observation = {k: np.asarray(v) for k, v in trajectory.observation.items()}
  horizon, num_envs = tr['done'].shape
  if len(episode_indices) != num_envs:
    raise ValueError(f'{len(episode_indices)} episode indices for {num_envs} episodes')
  if labelled is not None and np.shape(labelled) != (horizon, num_envs):
    raise ValueError(f'labelled mask has shape {np.shape(labelled)}, want {(horizon, num_envs)}')
  task_ids = observation.get('task_id', np.zeros((horizon + 1, num_envs), np.int32))
  episodes = []
  for e in range(num_envs):
    ended = np.flatnonzero(tr['done'][:, e] > 0)
    length = int(ended[0]) + 1 if len(ended) else horizon
    terminal = bool(len(ended)) and tr['truncation'][length - 1, e] == 0
    success = bool(tr['success'][length - 1, e] > 0)
    if labelled is None:
      runs = [(0, length)]
    else:
      runs = _runs(np.asarray(labelled[:length, e]) > 0)
    for first, last in runs:
      steps = _steps(tr, observation, e, first, last, terminal and last == length)
      metadata = {
          'task_id': np.int32(task_ids[first, e]),
          'success': success,
          'source': sources[e],
          'seed': np.int64(seed),
          'episode_index': np.int64(episode_indices[e]),
          'return': np.float32(steps['reward'].sum()),
          'length': np.int32(last - first),
          'round': np.int32(round_index),
      }
      episodes.append({'steps': steps, 'episode_metadata': metadata})
  return episodes


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
  """[(first, end)] of the runs of True in a 1-D mask."""
  edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _steps(tr, observation, e: int, first: int, end: int, terminal: bool) -> Dict[str, Any]:
  """RLDS steps of column `e` for actions first..end-1, plus the final observation."""
  count = end - first

  def with_final(x, fill=0):
    return np.concatenate([x[first:end, e], np.full((1,) + x.shape[2:], fill, x.dtype)])

  is_first = np.zeros(count + 1, bool)
  is_first[0] = True
  is_last = np.zeros(count + 1, bool)
  is_last[-1] = True
  discount = np.ones(count + 1, np.float32)
  if terminal:
    discount[-1] = 0.0
  return {
      'observation': {k: v[first : end + 1, e] for k, v in observation.items()},
      'action': with_final(tr['action']).astype(np.float32),
      'expert_action': with_final(tr['expert_action']).astype(np.float32),
      'reward': with_final(tr['reward']).astype(np.float32),
      'discount': discount,
      'is_first': is_first,
      'is_last': is_last,
      'is_terminal': is_last & terminal,
      'action_is_pad': is_last.copy(),
  }
