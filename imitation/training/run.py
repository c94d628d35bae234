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
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Union

from absl import logging
import jax
import ml_collections
import numpy as np

from imitation import atomic
from imitation import progress
from imitation import streams
from imitation.data import normalization as normalization_lib
from imitation.data import streaming
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import CheckpointError, ConfigError
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import chunk as chunk_lib
from imitation.training import distributed
from imitation.training import loop
from imitation.training import members as members_lib
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
  """One experiment in one workdir: its members, files, keys, mesh, writers and compiled
  init."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.start_time = time.time()
    self.config = config
    # The seeds x hyperparameter values this run trains (one member for a plain run).
    self.members = members_lib.members_of(config)
    self.workdir = workdir_lib.prepare(workdir)
    self.is_writer = distributed.is_writer()  # the one process that writes run files
    # Progress bars (imitation/progress.py) from the writer only, unless the config says none.
    progress.set_enabled(bool(config.get('progress_bar', True)) and self.is_writer)
    self._previous_config = None  # config.json as an unfinished run in the workdir left it
    if self.is_writer:
      workdir_lib.lock(self.workdir)  # before anything is written: one writer per workdir
      changes = workdir_lib.check_unchanged_if_finished(self.workdir, config, RESULTS_FILE)
      if changes:
        logging.warning('resuming %s with a changed config: %s', self.workdir, '; '.join(changes))
        with open(self.path(workdir_lib.CONFIG_FILE)) as f:
          self._previous_config = f.read()
      workdir_lib.save_config(self.workdir, config)
    self._mesh = None
    self._writers: Dict[str, metric_writer.MetricWriter] = {}
    self._compiled_inits: Dict[Any, Callable[..., Any]] = {}
    self._chunks: Dict[Any, Callable[..., Any]] = {}  # compiled update chunks, per learner

  # Keys, devices, paths.

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

  # Train states.

  def init_state(
      self, learner: Learner, rng: jax.Array, observations: Mapping[str, Any],
      normalization: normalization_lib.Normalization,
      members: Optional[Sequence[members_lib.Member]] = None,
  ) -> Any:
    """A fresh train state, created replicated on the mesh; compiled once per learner.

    With `members`, `rng` and `normalization` are stacked over members and so is the
    state: one vmapped init (training/members.py), each member's hyperparameter values
    set in its optimizer state."""
    stacked = bool(members)
    init = self._compiled_inits.get((id(learner), stacked))
    if init is None:
      def one(rng, example, normalization):
        return learner.init(rng, example_observation=example, normalization=normalization)
      init = jax.jit(jax.vmap(one, in_axes=(0, None, 0)) if stacked else one,
                     out_shardings=self.replicated)
      self._compiled_inits[(id(learner), stacked)] = init
    state = init(rng, example_observation(observations), normalization)
    return members_lib.set_hyperparameters(state, members) if stacked else state

  @staticmethod
  def step_of(state: Any) -> int:
    """The number of updates `state` has had (stacked members share it)."""
    return int(np.ravel(jax.device_get(state.step))[0])

  def checkpointer(self, directory: str = '', keep: Optional[int] = None):
    """The checkpoints under `directory` (relative to the workdir; '' for the workdir)."""
    keep = self.config.train.keep_checkpoints if keep is None else keep
    return checkpoint_lib.Checkpointer(self.path(directory, CHECKPOINT_DIR), max_to_keep=keep)

  def _restore_latest_good(self, checkpointer: checkpoint_lib.Checkpointer, template: Any):
    """`checkpointer.restore_latest_good`; when no checkpoint can be restored, config.json
    goes back to the config that wrote them before the error is raised."""
    try:
      return checkpointer.restore_latest_good(template)
    except CheckpointError:
      if self._previous_config is not None:
        atomic.write_text(self.path(workdir_lib.CONFIG_FILE), self._previous_config)
      raise

  def restore(self, template: Any, directory: str = '') -> Any:
    """The latest checkpoint under `directory`, in the structure of `template`."""
    checkpointer = self.checkpointer(directory, keep=1)
    try:
      step, state, _ = self._restore_latest_good(checkpointer, template)
    finally:
      checkpointer.close()
    if step is None:
      raise CheckpointError(f'no checkpoint to restore in {self.path(directory, CHECKPOINT_DIR)}')
    return jax.device_put(state, self.replicated)

  def fit(
      self,
      learner: Learner,
      state: Any,
      dataset: Union[DeviceDataset, streaming.Stream],
      *,
      directory: str = '',
      evaluate: Optional[Callable[[Any], Dict[str, float]]] = None,
      stop_at_step: Optional[int] = None,
      members: Optional[Sequence[Any]] = None,
      train: Optional[ml_collections.ConfigDict] = None,
  ) -> FitResult:
    """Trains `state` (or the latest checkpoint under `directory`, which replaces it) to
    `train.num_steps`, checkpointing and logging to `directory`, as `training.loop.fit`
    (stacked `members` train as one vmapped program). `train` (default: the config's
    `train` section) is for a second model of the run (BCO's inverse dynamics model)."""
    train = train or self.config.train
    checkpointer = self.checkpointer(directory)
    try:
      resumed_from_step, state, data_state = self._restore_latest_good(checkpointer, state)
      if resumed_from_step is not None:
        logging.info('resuming from checkpoint at step %d', resumed_from_step)
        state = jax.device_put(state, self.replicated)
        if isinstance(dataset, streaming.Stream):
          if data_state is None:
            raise ConfigError(f'the checkpoint at step {resumed_from_step} has no input '
                              'position: it was not written by a streaming run')
          dataset.set_state(data_state)
      streams_batches = isinstance(dataset, streaming.Stream)
      key = (id(learner), streams_batches, tuple(members or ()))
      if key not in self._chunks:  # one compiled chunk per learner, reused by later fits
        self._chunks[key] = chunk_lib.make_chunk(
            learner.update, self.mesh, batch_size=train.batch_size,
            steps_per_call=train.steps_per_call, unroll=train.scan_unroll,
            streaming=streams_batches, members=members,
            members_at_once=members_lib.members_at_once(self.config, jax.default_backend()))
      state, final_eval = loop.fit(
          state, dataset, config=train,
          chunk=self._chunks[key],
          checkpointer=checkpointer, writer=self.writer(directory, resume_step=resumed_from_step),
          evaluate=evaluate, after_eval=learner.after_eval if evaluate else None,
          progress_bar=self.config.progress_bar and self.is_writer, stop_at_step=stop_at_step,
          members=members,
      )
    finally:
      checkpointer.close()
      if isinstance(dataset, streaming.Stream):
        dataset.close()
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

  def export_policy(self, learner: Learner, state: Any, action_size: int, algorithm: str,
                    member: Optional[members_lib.Member] = None,
                    directory: str = POLICY_DIR) -> None:
    """workdir/policy (policy/<label> for a `member` of a stacked state; `directory` in
    place of policy/): what `checkpoint.load_policy` needs to act elsewhere (every process
    takes part in saving the params, as orbax asks; process 0 writes the JSON)."""
    (params, normalization), config, extra = state.policy_params, self.config, {}
    if member is not None:
      params = members_lib.unstack(params, member.index)
      normalization = members_lib.unstack(normalization, member.index)
      config, extra = member.config(self.config), {'seed': member.seed, **dict(member.overrides)}
    checkpoint_lib.export_policy(
        self.path(directory, *([member.label] if member else [])), params, normalization,
        network_config=config.network, action_dim=action_size,
        extra={'env': self.config.env.to_dict(), 'algorithm': algorithm, **extra},
        write_config=self.is_writer,
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
      members: Optional[Sequence[members_lib.Member]] = None,
      **fields: Any,
  ) -> Dict[str, Any]:
    """Ends a training run: exports the policy (if the learner is one network; one per
    member of a stacked state), writes results.json (`steps`, the `evaluation`, then
    `fields`), logs the final success rates at `final_step` under `final/`, and closes
    the writers."""
    if learner.exportable:
      for member in members or [None]:
        self.export_policy(learner, state, action_size, algorithm, member)
    results = self.write_results(algorithm, steps=self.step_of(state), **evaluation, **fields)
    self.writer().write(
        final_step, {k: results.get(k) for k in ('success_rate', 'expert_success_rate', 'r2')},
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
