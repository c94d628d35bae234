"""The host loop (training/loop.py): metrics read once per `log_every`, the NaN guard."""

import json
import os
import types

import ml_collections
import numpy as np
import pytest

from imitation.errors import TrainingError
from imitation.training import chunk as chunk_lib
from imitation.training import loop
from imitation.training import metric_writer


class _Checkpoints:
  """Records the steps saved."""

  def __init__(self):
    self.saved = []

  def save(self, step, state, data_state=None):
    del state, data_state
    self.saved.append(step)

  def wait_until_finished(self):
    pass

  def latest_step(self):
    return self.saved[-1] if self.saved else None


def _counting_chunk(steps_per_call, bad_update=None):
  """A chunk whose `loss` is each update's index (nan from `bad_update` on); its state is
  the step count."""
  def chunk(state, dataset):
    del dataset
    updates = np.arange(int(state.step), int(state.step) + steps_per_call, dtype=np.float32)
    if bad_update is not None:
      updates = np.where(updates >= bad_update, np.nan, updates)
    first_bad = int(np.argmax(np.isnan(updates))) if np.isnan(updates).any() else -1
    return (types.SimpleNamespace(step=np.int32(state.step + steps_per_call)),
            {'loss': np.float32(updates.mean()),
             chunk_lib.FIRST_NONFINITE: {'loss': np.int32(first_bad)}})
  return chunk


def _train_config(**changes):
  config = ml_collections.ConfigDict(dict(
      num_steps=100, steps_per_call=10, eval_every=50, checkpoint_every=50, log_every=30))
  config.update(changes)
  return config


def _rows(workdir):
  with open(os.path.join(workdir, metric_writer.METRICS_FILE)) as f:
    return [row for row in map(json.loads, f) if 'train/loss' in row]


def test_train_metrics_are_the_mean_since_the_last_log(tmp_path):
  """log_every=30 with chunks of 10: rows at 30, at the evaluation and checkpoint (50),
  30 on (80) and at the end (100); each the mean loss of the updates since the last."""
  writer = metric_writer.MetricWriter(str(tmp_path))
  checkpoints = _Checkpoints()
  evaluated = []
  state, final = loop.fit(
      types.SimpleNamespace(step=np.int32(0)), None, config=_train_config(),
      checkpointer=checkpoints, writer=writer, progress_bar=False,
      evaluate=lambda s: evaluated.append(int(s.step)) or {'success_rate': 1.0},
      chunk=_counting_chunk(10))
  writer.close()
  assert int(state.step) == 100 and final == {'success_rate': 1.0}
  assert evaluated == [50, 100] and checkpoints.saved == [50, 100]
  rows = _rows(str(tmp_path))
  assert [r['step'] for r in rows] == [30, 50, 80, 100]
  starts = [0, 30, 50, 80, 100]
  for row, first, last in zip(rows, starts, starts[1:]):
    assert row['train/loss'] == pytest.approx(np.mean(np.arange(first, last)))


def test_the_guard_names_the_first_bad_update_among_unread_chunks(tmp_path):
  """A nan from update 37 (the 38th) on, read at the log point 50: the error names step
  38, and nothing was saved."""
  writer = metric_writer.MetricWriter(str(tmp_path))
  checkpoints = _Checkpoints()
  with pytest.raises(TrainingError, match=r'diverged at step 38: loss became nan'):
    loop.fit(types.SimpleNamespace(step=np.int32(0)), None,
             config=_train_config(log_every=1000), checkpointer=checkpoints, writer=writer,
             progress_bar=False, chunk=_counting_chunk(10, bad_update=37))
  writer.close()
  assert checkpoints.saved == [] and _rows(str(tmp_path)) == []
