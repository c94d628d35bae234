"""Windows of a transition's episode: the actions after it (an action chunk) and the
observations before it (an observation history), as row indices.

Transitions are stored one row per step, episodes contiguous (data/transitions.py). A
chunked policy trains on the next H actions of each row, a policy with history on the n
observations up to it. Holding those windows as copies would multiply the dataset by H or
n; instead each row keeps the indices of its window ([rows, H] and [rows, n] int32), and
sampling gathers the rows (`DeviceDataset.sample`). Past the episode's end a chunk repeats
its last action and is masked out of the loss (`chunk_mask`); before the episode's start a
history repeats the first observation, as the policy's state does when acting
(evaluation/acting.py).
"""

from typing import Dict

import numpy as np

FUTURE_INDEX, CHUNK_MASK, PAST_INDEX = 'future_index', 'chunk_mask', 'past_index'


def window_indices(episode_index: np.ndarray, horizon: int = 1,
                   history: int = 1) -> Dict[str, np.ndarray]:
  """The window indices of rows whose episodes are the runs of equal `episode_index`.

  Returns (only the parts asked for, horizon > 1 / history > 1):
    future_index: int32 [rows, horizon], rows i .. i + H - 1, clipped to the episode's last;
    chunk_mask: bool [rows, horizon], whether each of them is still in the episode;
    past_index: int32 [rows, history], rows i - n + 1 .. i (oldest first), clipped to the
      episode's first.
  """
  episode_index = np.asarray(episode_index)
  rows = len(episode_index)
  starts_new = np.ones(rows, bool)
  starts_new[1:] = episode_index[1:] != episode_index[:-1]
  start = np.maximum.accumulate(np.where(starts_new, np.arange(rows), 0))
  ends_here = np.ones(rows, bool)
  ends_here[:-1] = starts_new[1:]
  # The last row of each row's episode: the next episode end at or after it.
  end = np.minimum.accumulate(np.where(ends_here, np.arange(rows), rows)[::-1])[::-1]
  windows = {}
  if horizon > 1:
    future = np.arange(rows)[:, None] + np.arange(horizon)[None, :]
    windows[CHUNK_MASK] = future <= end[:, None]
    windows[FUTURE_INDEX] = np.minimum(future, end[:, None]).astype(np.int32)
  if history > 1:
    past = np.arange(rows)[:, None] + np.arange(-history + 1, 1)[None, :]
    windows[PAST_INDEX] = np.maximum(past, start[:, None]).astype(np.int32)
  return windows
