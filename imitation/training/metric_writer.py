"""Scalar metrics to TensorBoard (tensorboardX, no TensorFlow) and to a JSON-lines file."""

import json
import os
from typing import Any, Dict, Mapping, Optional

import numpy as np
from tensorboardX import SummaryWriter

from imitation import atomic
from imitation.training import distributed

METRICS_FILE = 'metrics.jsonl'


def _drop_rows_after(path: str, step: int) -> None:
  """Keeps the rows of a metrics file logged at or before `step` (and drops a last row that a
  killed process left half-written)."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    rows = [line for line in f if line.strip()]
  kept = [line for line, at in zip(rows, map(_step_of, rows)) if at is not None and at <= step]
  if len(kept) < len(rows):
    atomic.write_text(path, ''.join(kept))


def _step_of(row: str) -> Optional[int]:
  try:
    return json.loads(row)['step']
  except (ValueError, KeyError):
    return None


def _flatten(metrics: Mapping[str, Any], prefix: str) -> Dict[str, float]:
  """Scalars by name: mappings and lists become `a/b` and `a/0` names; None is skipped."""
  scalars = {}
  for key, value in metrics.items():
    if isinstance(value, (list, tuple)):
      value = {str(i): v for i, v in enumerate(value)}
    if isinstance(value, Mapping):
      scalars.update(_flatten(value, f'{prefix}{key}/'))
    elif value is not None:
      scalars[f'{prefix}{key}'] = float(np.asarray(value))
  return scalars


class MetricWriter:
  """Writes from process 0 only, so multi-host runs log once.

  A run restarted from a checkpoint at `resume_step` first forgets what the preempted
  process logged after that step (in both outputs), since those steps are trained and
  logged again; otherwise a curve would hold two values for each of them.
  """

  def __init__(self, workdir: str, resume_step: Optional[int] = None):
    self._active = distributed.is_writer()
    if self._active:
      metrics_path = os.path.join(workdir, METRICS_FILE)
      purge_step = None
      if resume_step is not None:
        _drop_rows_after(metrics_path, resume_step)
        purge_step = resume_step + 1  # TensorBoard hides events at steps >= purge_step
      self._tensorboard = SummaryWriter(
          logdir=os.path.join(workdir, 'tensorboard'), purge_step=purge_step)
      self._jsonl = open(metrics_path, 'a')

  def write(self, step: int, metrics: Mapping[str, Any], prefix: str = '') -> None:
    """Logs scalars; nested mappings (e.g. per-task metrics) become `a/b/c` names."""
    if not self._active:
      return
    scalars = _flatten(metrics, prefix)
    for name, value in scalars.items():
      self._tensorboard.add_scalar(name, value, global_step=step)
    self._jsonl.write(json.dumps({'step': int(step), **scalars}) + '\n')
    self._jsonl.flush()

  def flush(self) -> None:
    """Makes everything logged so far durable (the loop calls it at each checkpoint, so a
    killed run's TensorBoard holds the steps its checkpoints resume from)."""
    if self._active:
      self._tensorboard.flush()
      self._jsonl.flush()
      os.fsync(self._jsonl.fileno())

  def close(self) -> None:
    if self._active:
      self._tensorboard.close()
      self._jsonl.close()
