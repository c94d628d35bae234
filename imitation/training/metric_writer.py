"""Scalar metrics to TensorBoard (tensorboardX, no TensorFlow) and to a JSON-lines file."""

import json
import os
from typing import Mapping

import jax
import numpy as np
from tensorboardX import SummaryWriter


class MetricWriter:
  """Writes from process 0 only, so multi-host runs log once."""

  def __init__(self, workdir: str):
    self._active = jax.process_index() == 0
    if self._active:
      self._tensorboard = SummaryWriter(logdir=os.path.join(workdir, 'tensorboard'))
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')

  def write(self, step: int, metrics: Mapping[str, float], prefix: str = '') -> None:
    if not self._active:
      return
    scalars = {f'{prefix}{k}': float(np.asarray(v)) for k, v in metrics.items()}
    for name, value in scalars.items():
      self._tensorboard.add_scalar(name, value, global_step=step)
    self._jsonl.write(json.dumps({'step': int(step), **scalars}) + '\n')
    self._jsonl.flush()

  def close(self) -> None:
    if self._active:
      self._tensorboard.close()
      self._jsonl.close()
