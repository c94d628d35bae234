"""Task mixtures: how often each task id's examples are sampled for training.

`data.task_mixture` picks the share of each task in the batches, separately from the loss
weights (agents/multitask.py). A task is what the env names (tabletop: grasp, push, insert,
each covering several task ids), or each task id for an env without names:
* `size`: every example alike, so a task's share is its share of the data (plain BC).
* `uniform`: every task present in the data alike, whatever its number of examples.
* `explicit`: `data.task_shares`, one non-negative number per task (normalised), in the
  order of their first task id.
Within a task, examples are sampled alike.
"""

from typing import Dict, Optional, Sequence

import numpy as np

from imitation import config_rules as rules
from imitation import envs
from imitation.errors import ConfigError


def _groups(task_ids: np.ndarray, names: Optional[Sequence[str]]):
  """(group index per row, group names): the named tasks, or each task id its own."""
  num_ids = len(names) if names is not None else int(task_ids.max()) + 1
  group_names, group_of_id = envs.group_index(names, num_ids)
  return group_of_id[task_ids], list(group_names)


MIXTURES = ('size', 'uniform', 'explicit')


def row_weights(task_ids: np.ndarray, mixture: str, shares: Sequence[float] = (),
                names: Optional[Sequence[str]] = None) -> Optional[np.ndarray]:
  """Per-example sampling weights realising `mixture` (None: uniform over examples);
  `names`: the env's task name of each task id (None: each id is a task)."""
  if mixture not in MIXTURES:
    raise ConfigError(f'data.task_mixture={mixture!r}: expected one of {", ".join(MIXTURES)}')
  if mixture == 'size':
    return None
  task_ids, group_names = _groups(np.asarray(task_ids, np.int64), names)
  counts = np.bincount(task_ids, minlength=len(group_names))
  if mixture == 'uniform':  # every task id present alike
    shares = (counts > 0).astype(np.float64)
  else:
    requested = tuple(shares)
    shares = np.asarray(requested, np.float64)
    if shares.ndim != 1 or len(shares) < len(counts) or np.any(shares < 0):
      raise ConfigError(f'data.task_shares needs a non-negative share for each task '
                        f'({", ".join(group_names)}), got {requested}')
    counts = np.pad(counts, (0, len(shares) - len(counts)))  # ids beyond the data: 0
    group_names = group_names + [str(i) for i in range(len(group_names), len(shares))]
    if np.any((shares > 0) & (counts == 0)):
      raise ConfigError(f'data.task_shares gives a share to tasks without data: '
                        f'{[group_names[i] for i in np.flatnonzero((shares > 0) & (counts == 0))]}')
    if shares.sum() <= 0:
      raise ConfigError('data.task_shares are all 0')
  per_example = np.divide(shares, counts, out=np.zeros_like(shares), where=counts > 0)
  return per_example[task_ids]


def task_shares(task_ids: np.ndarray, weights: Optional[np.ndarray],
                names: Optional[Sequence[str]] = None) -> Dict[str, float]:
  """{task: share of the sampled examples} that `weights` (or uniform rows) give."""
  task_ids, group_names = _groups(np.asarray(task_ids, np.int64), names)
  weights = np.ones(len(task_ids)) if weights is None else np.asarray(weights, np.float64)
  totals = np.bincount(task_ids, weights=weights, minlength=len(group_names))
  return {group_names[t]: float(totals[t] / weights.sum()) for t in np.flatnonzero(totals > 0)}


CONFIG_RULES = {'data.task_mixture': rules.one_of(MIXTURES)}
