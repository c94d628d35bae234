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
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from absl import logging
import jax
import ml_collections
import numpy as np

from imitation import atomic
from imitation import envs
from imitation import progress
from imitation import streams
from imitation.data import demonstrations
from imitation.data import mixtures
from imitation.data import normalization as normalization_lib
from imitation.data import streaming
from imitation.data import transitions as transitions_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import CheckpointError, ConfigError
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import distributed
from imitation.training import loop
from imitation.training import metric_writer
from imitation.training import sharding
from imitation.training import workdir as workdir_lib
from imitation.training.learner import Learner, example_observation

RESULTS_FILE = 'results.json'
POLICY_DIR = 'policy'
CHECKPOINT_DIR = 'checkpoints'


class TrainingInput(NamedTuple):
  """What training needs from the dataset, whichever pipeline delivers it."""
  dataset: Union[DeviceDataset, streaming.Stream]  # the batches' source
  example_observation: Dict[str, Any]  # a batch of observations (at least one) for init
  normalization: normalization_lib.Normalization  # of the whole dataset
  task_ids: np.ndarray  # every training example's task id, all processes'
  info: Dict[str, Any]  # num_demos, num_transitions, demo_success_rate, ...


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

  @property
  def sharded_data(self) -> bool:
    """Whether the device-resident dataset is split over the mesh (`data.layout`): `auto`
    shards it when the mesh has more than one device, as it must across processes."""
    layout = self.config.data.get('layout', 'auto')
    if layout not in ('auto', 'sharded', 'replicated'):
      raise ConfigError(f'data.layout={layout!r}: expected auto, sharded or replicated')
    if layout == 'replicated' and jax.process_count() > 1:
      raise ConfigError('data.layout=replicated cannot span processes; use auto or sharded')
    return layout == 'sharded' or (layout == 'auto' and self.mesh.size > 1)

  def dataset_path(self) -> str:
    """`data.path`, or the default demonstrations, collected by process 0 alone (the
    others wait for them) into WORKDIR/demos (see `demonstrations.resolve_dataset`)."""
    path = demonstrations.resolve_dataset(self.config, self.workdir) if self.is_writer else ''
    distributed.barrier('dataset_path')
    return path or demonstrations.resolve_dataset(self.config, self.workdir)

  def training_data(self, path: str, env: Any):
    """This process's training transitions and the counts of the whole dataset.

    With sharded data each process reads only the episodes of its shards (episode i goes
    to shard i mod num_shards, see `data.demonstrations`); the counts (`num_demos`, ...)
    are summed over processes, so results.json reports the whole dataset.
    """
    shards = None
    if self.sharded_data:
      shards = (distributed.process_shards(self.mesh), self.mesh.size)
    transitions, info = demonstrations.load_transitions(self.config, path, env, shards=shards)
    if jax.process_count() > 1:
      known = info['demo_success_rate'] is not None  # foreign data may not record success
      demos, steps, successes = distributed.sum_over_processes([
          info['num_demos'], info['num_transitions'],
          (info['demo_success_rate'] or 0.0) * info['num_demos']])
      info = {**info, 'num_demos': int(demos), 'num_transitions': int(steps),
              'demo_success_rate': float(successes / demos) if known else None}
    return transitions, info

  @property
  def streams_data(self) -> bool:
    """Whether training reads batches from disk (`data.pipeline=stream`) instead of holding
    the dataset in device memory (`device`, the default)."""
    pipeline = self.config.data.get('pipeline', 'device')
    if pipeline not in ('device', 'stream'):
      raise ConfigError(f'data.pipeline={pipeline!r}: expected device or stream')
    return pipeline == 'stream'

  def training_input(self, path: str, env: Any,
                     task_names: Optional[Sequence[str]] = None) -> TrainingInput:
    """The dataset at `path` as training reads it: held on the devices (`device_dataset`)
    or streamed from disk (`stream`), as `data.pipeline` says."""
    if self.streams_data:
      meta, stream = self.stream(path)
      example = streaming.example_batch(meta)
      transitions_lib.check_matches_env(
          example, envs.observation_spec(env), env.action_size, source=path)
      return TrainingInput(
          stream, example['observation'],
          self.normalization(precomputed=streaming.normalization_moments(meta)),
          streaming.task_ids(meta),
          {k: meta[k] for k in ('num_demos', 'num_transitions', 'demo_success_rate')})
    transitions, info = self.training_data(path, env)
    # Only the device copy outlives this call: the host arrays go once it is made.
    return TrainingInput(
        self.device_dataset(transitions, task_names),
        jax.tree.map(lambda x: x[:1].copy(), transitions['observation']),
        self.normalization(transitions), distributed.gather_rows(transitions['task_id']), info)

  def stream(self, path: str) -> Tuple[Dict[str, Any], streaming.Stream]:
    """The streaming view of the dataset at `path` (see `data.streaming`): converted once
    by process 0 into `data.stream_dir` (default WORKDIR/stream; reused while the datasets
    and filters match) and opened by every process.

    Returns the conversion's metadata (counts, moments, task counts) and the `Stream`.
    """
    section = self.config.data
    if section.get('task_mixture', 'size') != 'size':
      raise ConfigError('data.pipeline=stream samples every transition alike: '
                        f'data.task_mixture={section.task_mixture!r} needs data.pipeline=device')
    directory = section.get('stream_dir') or self.path('stream')
    source = streaming.source_of(self.config, path)
    meta = streaming.read_meta(directory)
    if self.is_writer and not streaming.matches(meta, source):
      logging.info('converting %s into transition records in %s', path, directory)
      meta = streaming.convert(
          demonstrations.iterate_training_episodes(self.config, path), directory,
          frame_stack=self.config.env.frame_stack, action_key=section.action_key,
          source=source)
    distributed.barrier('stream_conversion')
    meta = streaming.read_meta(directory)
    if not streaming.matches(meta, source):
      raise ConfigError(f'{directory} holds no conversion of {path} with these filters')
    options = section.streaming
    stream = streaming.Stream(
        directory, meta, seed=int(jax.random.randint(self.key(streams.DATA_ORDER), (), 0, 2**31 - 1)),
        batch_size=self.config.train.batch_size, steps_per_call=self.config.train.steps_per_call,
        sharding=sharding.steps_batch_sharded(self.mesh), num_threads=options.num_threads,
        prefetch=options.prefetch, device_prefetch=options.device_prefetch)
    return meta, stream

  def device_dataset(self, transitions: Mapping[str, Any],
                     task_names: Optional[Sequence[str]] = None,
                     capacity: Optional[int] = None) -> DeviceDataset:
    """The training pairs (observation, action), moved to the devices once, sampled with
    the config's task mixture (`data.task_mixture` over the env's `task_names`, see
    `data.mixtures`); replicated, or split into one shard per device (`sharded_data`).
    A replicated dataset is padded to `capacity` rows if given (see `DeviceDataset`)."""
    data = {'observation': transitions['observation'], 'action': transitions['action']}
    section = self.config.data
    mixture = section.get('task_mixture', 'size'), section.get('task_shares', ())

    def weights_of(task_ids):
      weights = mixtures.row_weights(task_ids, *mixture, task_names)
      if weights is not None:
        logging.info('task mixture %s: sampled shares %s', mixture[0],
                     mixtures.task_shares(task_ids, weights, task_names))
      return weights

    if not self.sharded_data:
      return DeviceDataset.from_numpy(data, self.replicated,
                                      row_weights=weights_of(transitions['task_id']),
                                      capacity=capacity)
    # Each shard mixes its own rows: every device's part of a batch follows the mixture.
    num_shards = self.mesh.size
    shard_of_row = transitions['episode_index'] % num_shards
    rows = [np.flatnonzero(shard_of_row == s) for s in distributed.process_shards(self.mesh)]
    if not all(len(r) for r in rows):
      raise ConfigError(f'the dataset has too few episodes for {num_shards} data shards')
    shards = [jax.tree.map(lambda x, r=r: np.asarray(x)[r], data) for r in rows]
    weights = [weights_of(transitions['task_id'][r]) for r in rows]
    longest = int(distributed.all_gather(np.asarray(max(map(len, rows)), np.int32)).max())
    size = int(distributed.sum_over_processes([sum(map(len, rows))])[0])
    return DeviceDataset.from_shards(
        shards, sharding.batch_sharded(self.mesh), num_shards=num_shards, rows=longest,
        size=size, row_weights=None if weights[0] is None else weights)

  def normalization(self, transitions: Mapping[str, Any] = None, *,
                    precomputed: Optional[Mapping[str, np.ndarray]] = None,
                    ) -> normalization_lib.Normalization:
    """Statistics of `transitions` (of every process's, merged), or the dataset's
    `precomputed` moments, as the config's `normalization` section asks."""
    section = self.config.normalization
    stats = precomputed or normalization_lib.moments(transitions)
    if jax.process_count() > 1 and not precomputed:
      stats = {k: normalization_lib.merge_moments(distributed.all_gather(v))
               for k, v in stats.items()}
    return normalization_lib.from_moments(
        stats,
        min_std=section.min_std,
        normalize_observations=section.observations,
        normalize_actions=section.actions,
    )

  # Train states.

  def init_state(
      self, learner: Learner, rng: jax.Array, observations: Mapping[str, Any],
      normalization: normalization_lib.Normalization, members: bool = False,
  ) -> Any:
    """A fresh train state, created replicated on the mesh; compiled once per learner.

    With `members`, `rng` and `normalization` are stacked over members and so is the
    state: one vmapped init (training/members.py)."""
    init = self._compiled_inits.get((id(learner), members))
    if init is None:
      def one(rng, example, normalization):
        return learner.init(rng, example_observation=example, normalization=normalization)
      init = jax.jit(jax.vmap(one, in_axes=(0, None, 0)) if members else one,
                     out_shardings=self.replicated)
      self._compiled_inits[(id(learner), members)] = init
    return init(rng, example_observation(observations), normalization)

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
  ) -> FitResult:
    """Trains `state` (or the latest checkpoint under `directory`, which replaces it) to
    `train.num_steps`, checkpointing and logging to `directory`, as `training.loop.fit`
    (stacked `members` train as one vmapped program)."""
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
        self._chunks[key] = loop.make_chunk(learner.update, self.config.train, self.mesh,
                                            streaming=streams_batches, members=members)
      state, final_eval = loop.fit(
          state, dataset, learner.update, config=self.config.train, mesh=self.mesh,
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

  def export_policy(self, learner: Learner, state: Any, action_size: int, algorithm: str) -> None:
    """workdir/policy: what `checkpoint.load_policy` needs to act elsewhere (every process
    takes part in saving the params, as orbax asks; process 0 writes the JSON)."""
    checkpoint_lib.export_policy(
        self.path(POLICY_DIR), state.params, state.normalization,
        network_config=self.config.network, action_dim=action_size,
        extra={'env': self.config.env.to_dict(), 'algorithm': algorithm},
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
