"""The run frame: what surrounds every agent's training, written once.

`Run(config, workdir)` starts a run: it prepares the workdir, saves the resolved config and
holds the run's key streams and the device mesh. `init_state` and `fit` initialise (or
restore) a `Learner`'s train state and train it with checkpoints and metric logs. `finish`
exports the policy and writes `results.json` in the one schema every experiment shares.

Every file a run writes once (config, results, the exported policy's JSON, progress files)
goes through `write_json`, so multi-host runs gate those writes on process 0 here. The frame
takes final metrics as values: it imports nothing above training/.
"""

import os
import time
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence

from absl import logging
import jax
import ml_collections

from imitation import streams
from imitation.data import mixtures
from imitation.data import normalization as normalization_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import loop
from imitation.training import metric_writer
from imitation.training import sharding
from imitation.training import workdir as workdir_lib
from imitation.training.learner import Learner, example_observation

RESULTS_FILE = 'results.json'
POLICY_DIR = 'policy'
CHECKPOINT_DIR = 'checkpoints'


class FitResult(NamedTuple):
  state: Any  # the train state after the last step this process ran
  final_eval: Optional[Dict[str, float]]  # the evaluation at train.num_steps, if reached here
  resumed_from_step: Optional[int]  # the checkpoint this process started from, if any


def results_record(
    config: ml_collections.ConfigDict, algorithm: str, *, wall_time_s: float, **fields: Any
) -> Dict[str, Any]:
  """The results.json schema: task, algorithm and seed first; the run's own fields; then the
  process's wall time and the resolved config. Training runs add `steps`, the evaluation
  (`success_rate`, `expert_success_rate`, ...), `num_demos`, `num_transitions`, `dataset`."""
  return {
      'task': config.env.name,
      'algorithm': algorithm,
      'seed': config.get('seed'),
      **fields,
      'wall_time_s': wall_time_s,  # of this process only: a resumed run counts its own time
      'config': config.to_dict(),
  }


class Run:
  """One experiment in one workdir: its files, keys, mesh, writers and compiled init."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.start_time = time.time()
    self.config = config
    self.workdir = workdir_lib.prepare(workdir)
    self.is_writer = jax.process_index() == 0  # the one process that writes run files
    if self.is_writer:
      workdir_lib.save_config(self.workdir, config)
    self._mesh = None
    self._writers: Dict[str, metric_writer.MetricWriter] = {}
    self._compiled_inits: Dict[int, Callable[..., Any]] = {}

  # Keys, devices, data.

  def key(self, stream: int, *indices: int) -> jax.Array:
    """The run's key for a named stream (see `imitation.streams`), with indices folded in."""
    return streams.key(self.config.seed, stream, *indices)

  @property
  def mesh(self) -> jax.sharding.Mesh:
    if self._mesh is None:
      self._mesh = sharding.make_mesh(self.config.num_devices)
    return self._mesh

  @property
  def replicated(self) -> jax.sharding.NamedSharding:
    return sharding.replicated(self.mesh)

  def path(self, *parts: str) -> str:
    return os.path.join(self.workdir, *parts)

  def device_dataset(self, transitions: Mapping[str, Any],
                     task_names: Optional[Sequence[str]] = None) -> DeviceDataset:
    """The training pairs (observation, action), moved to the devices once, sampled with
    the config's task mixture (`data.task_mixture` over the env's `task_names`, see
    `data.mixtures`)."""
    data = {'observation': transitions['observation'], 'action': transitions['action']}
    section = self.config.data
    weights = mixtures.row_weights(transitions['task_id'], section.get('task_mixture', 'size'),
                                   section.get('task_shares', ()), task_names)
    if weights is not None:
      logging.info('task mixture %s: sampled shares %s', section.task_mixture,
                   mixtures.task_shares(transitions['task_id'], weights, task_names))
    return DeviceDataset.from_numpy(data, self.replicated, row_weights=weights)

  def normalization(self, transitions: Mapping[str, Any]) -> normalization_lib.Normalization:
    """Statistics of `transitions` as the config's `normalization` section asks."""
    section = self.config.normalization
    return normalization_lib.compute(
        transitions,
        min_std=section.min_std,
        normalize_observations=section.observations,
        normalize_actions=section.actions,
    )

  # Train states.

  def init_state(
      self, learner: Learner, rng: jax.Array, observations: Mapping[str, Any],
      normalization: normalization_lib.Normalization,
  ) -> Any:
    """A fresh train state, created replicated on the mesh; compiled once per learner."""
    init = self._compiled_inits.get(id(learner))
    if init is None:
      init = jax.jit(learner.init, out_shardings=self.replicated)
      self._compiled_inits[id(learner)] = init
    return init(rng, example_observation=example_observation(observations),
                normalization=normalization)

  def checkpointer(self, directory: str = '', keep: Optional[int] = None):
    """The checkpoints under `directory` (relative to the workdir; '' for the workdir)."""
    keep = self.config.train.keep_checkpoints if keep is None else keep
    return checkpoint_lib.Checkpointer(self.path(directory, CHECKPOINT_DIR), max_to_keep=keep)

  def restore(self, template: Any, directory: str = '') -> Any:
    """The latest checkpoint under `directory`, in the structure of `template`."""
    checkpointer = self.checkpointer(directory, keep=1)
    try:
      return jax.device_put(checkpointer.restore(template), self.replicated)
    finally:
      checkpointer.close()

  def fit(
      self,
      learner: Learner,
      state: Any,
      dataset: DeviceDataset,
      *,
      directory: str = '',
      evaluate: Optional[Callable[[Any], Dict[str, float]]] = None,
      stop_at_step: Optional[int] = None,
  ) -> FitResult:
    """Trains `state` (or the latest checkpoint under `directory`, which replaces it) to
    `train.num_steps`, checkpointing and logging to `directory`, as `training.loop.fit`."""
    checkpointer = self.checkpointer(directory)
    try:
      resumed_from_step = checkpointer.latest_step()
      if resumed_from_step is not None:
        logging.info('resuming from checkpoint at step %d', resumed_from_step)
        state = jax.device_put(checkpointer.restore(state), self.replicated)
      state, final_eval = loop.fit(
          state, dataset, learner.update, config=self.config.train, mesh=self.mesh,
          checkpointer=checkpointer, writer=self.writer(directory, resume_step=resumed_from_step),
          evaluate=evaluate, after_eval=learner.after_eval if evaluate else None,
          progress_bar=self.config.progress_bar, stop_at_step=stop_at_step,
      )
    finally:
      checkpointer.close()
    if directory:  # a sub-run's curve is complete; the run's own writer stays open
      self._writers.pop(directory).close()
    return FitResult(state, final_eval, resumed_from_step)

  # Files.

  def writer(self, directory: str = '', resume_step: Optional[int] = None):
    """The metric writer of `directory`, opened on first use (see `MetricWriter`)."""
    if directory not in self._writers:
      self._writers[directory] = metric_writer.MetricWriter(
          self.path(directory), resume_step=resume_step)
    return self._writers[directory]

  def write_json(self, name: str, data: Any) -> str:
    """Writes `data` to workdir/name whole (via a temporary file), from process 0 only."""
    path = self.path(name)
    if self.is_writer:
      workdir_lib.write_json(self.workdir, name, data)
    return path

  def export_policy(self, learner: Learner, state: Any, action_size: int, algorithm: str) -> None:
    """workdir/policy: what `checkpoint.load_policy` needs to act elsewhere."""
    checkpoint_lib.export_policy(
        self.path(POLICY_DIR), state.params, state.normalization,
        network_config=self.config.network, action_dim=action_size,
        extra={'env': self.config.env.to_dict(), 'algorithm': algorithm},
    )

  def write_results(self, algorithm: str, **fields: Any) -> Dict[str, Any]:
    """results.json in the shared schema (see `results_record`); returns what it wrote."""
    results = results_record(
        self.config, algorithm, wall_time_s=time.time() - self.start_time, **fields)
    self.write_json(RESULTS_FILE, results)
    return results

  def finish(
      self,
      algorithm: str,
      *,
      learner: Learner,
      state: Any,
      action_size: int,
      evaluation: Mapping[str, Any],
      final_step: int,
      **fields: Any,
  ) -> Dict[str, Any]:
    """Ends a training run: exports the policy (if the learner is one network), writes
    results.json (`steps`, the `evaluation`, then `fields`), logs the final success rates
    at `final_step` under `final/`, and closes the writers."""
    if learner.exportable:
      self.export_policy(learner, state, action_size, algorithm)
    results = self.write_results(
        algorithm, steps=int(jax.device_get(state.step)), **evaluation, **fields)
    self.writer().write(
        final_step, {k: results[k] for k in ('success_rate', 'expert_success_rate')},
        prefix='final/')
    self.close()
    return results

  def stop(self) -> Dict[str, Any]:
    """Ends a run stopped before its last step (as a preempted job): no results."""
    self.close()
    return {}

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()
    self._writers.clear()
