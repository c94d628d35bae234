"""Task mixtures: how often each task id's examples are sampled for training.

`data.task_mixture` picks the share of each task in the batches, separately from the loss
weights (agents/multitask.py):
* `size`: every example alike, so a task's share is its share of the data (plain BC).
* `uniform`: every task id present in the data alike, whatever its number of examples.
* `explicit`: `data.task_shares`, one non-negative number per task id (normalised).
"""

from typing import Dict, Optional, Sequence

import numpy as np

from imitation.errors import ConfigError

MIXTURES = ('size', 'uniform', 'explicit')


def row_weights(task_ids: np.ndarray, mixture: str,
                shares: Sequence[float] = ()) -> Optional[np.ndarray]:
  """Per-example sampling weights realising `mixture` (None: uniform over examples)."""
  if mixture not in MIXTURES:
    raise ConfigError(f'unknown data.task_mixture {mixture!r}; available: {", ".join(MIXTURES)}')
  if mixture == 'size':
    return None
  task_ids = np.asarray(task_ids, np.int64)
  counts = np.bincount(task_ids)
  if mixture == 'uniform':  # every task id present alike
    shares = (counts > 0).astype(np.float64)
  else:
    requested = tuple(shares)
    shares = np.asarray(requested, np.float64)
    if shares.ndim != 1 or len(shares) < len(counts) or np.any(shares < 0):
      raise ConfigError(f'data.task_shares needs a non-negative share for each of the '
                        f'{len(counts)} task ids in the data, got {requested}')
    counts = np.pad(counts, (0, len(shares) - len(counts)))  # ids beyond the data: 0
    if np.any((shares > 0) & (counts == 0)):
      raise ConfigError(f'data.task_shares gives a share to task ids without data: '
                        f'{np.flatnonzero((shares > 0) & (counts == 0)).tolist()}')
    if shares.sum() <= 0:
      raise ConfigError('data.task_shares are all 0')
  per_example = np.divide(shares, counts, out=np.zeros_like(shares), where=counts > 0)
  return per_example[task_ids]


def task_shares(task_ids: np.ndarray, weights: Optional[np.ndarray]) -> Dict[int, float]:
  """{task id: share of the sampled examples} that `weights` (or uniform rows) give."""
  task_ids = np.asarray(task_ids, np.int64)
  weights = np.ones(len(task_ids)) if weights is None else np.asarray(weights, np.float64)
  totals = np.bincount(task_ids, weights=weights)
  return {int(t): float(totals[t] / weights.sum()) for t in np.flatnonzero(totals > 0)}
