"""The training data pipeline: from a dataset on disk to the batches a compiled chunk reads.

One function per way a run is fed, each returning a `TrainingInput`:

* `closed_loop`: the run's dataset checked against its environment, held on the devices
  (`data.pipeline=device`, replicated or sharded by `data.layout`, sampled by the task
  mixture) or streamed from disk (`stream`); multi-host runs read their own shards and
  merge the counts and normalisation statistics.
* `offline`: no environment; whole episodes held out to score the policy on.
* `members`: one dataset per seed (or one shared), stacked for the vmapped members.

The run frame (training/run.py) owns the workdir, keys and mesh these read from; nothing
here trains or writes results.
"""

import os
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from absl import logging
import jax
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import envs
from imitation import streams
from imitation.data import demonstrations
from imitation.data import mixtures
from imitation.data import normalization as normalization_lib
from imitation.data import streaming
from imitation.data import transitions as transitions_lib
from imitation.data import windows as windows_lib
from imitation.data.device_dataset import WINDOWS, DeviceDataset
from imitation.errors import ConfigError
from imitation.networks import policy as policy_lib
from imitation.training import distributed
from imitation.training import members as members_lib
from imitation.training import sharding

LAYOUTS = ('auto', 'sharded', 'replicated')
PIPELINES = ('device', 'stream')


class TrainingInput(NamedTuple):
  """What training needs from the dataset, whichever pipeline delivers it."""
  dataset: Union[DeviceDataset, streaming.Stream]  # the batches' source
  example_observation: Dict[str, Any]  # a batch of observations (at least one) for init
  normalization: normalization_lib.Normalization  # of the whole dataset (stacked: members)
  task_ids: np.ndarray  # every training example's task id, all processes'
  info: Dict[str, Any]  # num_demos, num_transitions, dataset, ... (results.json's fields)
  action_size: int
  heldout: Optional[Dict[str, Any]] = None  # offline: the held-out transitions
  per_seed: Optional[Dict[int, Dict[str, Any]]] = None  # members: each seed's own info


def is_sharded(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> bool:
  """Whether the device-resident dataset is split over the mesh (`data.layout`): `auto`
  shards it when the mesh has more than one device, as it must across processes."""
  layout = config.data.get('layout', 'auto')
  if layout == 'replicated' and jax.process_count() > 1:
    raise ConfigError('data.layout=replicated cannot span processes; use auto or sharded')
  return layout == 'sharded' or (layout == 'auto' and mesh.size > 1)


def is_streamed(config: ml_collections.ConfigDict) -> bool:
  """Whether training reads batches from disk (`data.pipeline=stream`) instead of holding
  the dataset in device memory (`device`, the default)."""
  return config.data.get('pipeline', 'device') == 'stream'


def dataset_path(run: Any) -> str:
  """`data.path`, or the default demonstrations, collected by process 0 alone (the
  others wait for them) into WORKDIR/demos (see `demonstrations.resolve_dataset`)."""
  path = demonstrations.resolve_dataset(run.config, run.workdir) if run.is_writer else ''
  distributed.barrier('dataset_path')
  return path or demonstrations.resolve_dataset(run.config, run.workdir)


def normalization(config: ml_collections.ConfigDict, transitions: Mapping[str, Any] = None,
                  *, precomputed: Optional[Mapping[str, np.ndarray]] = None,
                  ) -> normalization_lib.Normalization:
  """Statistics of `transitions` (of every process's, merged), or the dataset's
  `precomputed` moments, as the config's `normalization` section asks."""
  section = config.normalization
  stats = precomputed or normalization_lib.moments(transitions)
  if jax.process_count() > 1 and not precomputed:
    stats = {k: normalization_lib.merge_moments(distributed.all_gather(v))
             for k, v in stats.items()}
  return normalization_lib.from_moments(
      stats, min_std=section.min_std, normalize_observations=section.observations,
      normalize_actions=section.actions)


def device_dataset(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
                   transitions: Mapping[str, Any], windows: policy_lib.Windows,
                   task_names: Optional[Sequence[str]] = None,
                   capacity: Optional[int] = None) -> DeviceDataset:
  """The training pairs (observation, action) with the policy's `windows`, moved to the
  devices once, sampled with the config's task mixture (`data.task_mixture` over the env's
  `task_names`, see `data.mixtures`); replicated, or split into one shard per device
  (`is_sharded`).
  A replicated dataset is padded to `capacity` rows if given (see `DeviceDataset`)."""
  section = config.data
  mixture = section.get('task_mixture', 'size'), section.get('task_shares', ())

  def weights_of(task_ids):
    weights = mixtures.row_weights(task_ids, *mixture, task_names)
    if weights is not None:
      logging.info('task mixture %s: sampled shares %s', mixture[0],
                   mixtures.task_shares(task_ids, weights, task_names))
    return weights

  if not is_sharded(config, mesh):
    return DeviceDataset.from_numpy(training_rows(transitions, windows),
                                    sharding.replicated(mesh),
                                    row_weights=weights_of(transitions['task_id']),
                                    capacity=capacity)
  # Each shard mixes its own rows: every device's part of a batch follows the mixture.
  num_shards = mesh.size
  shard_of_row = transitions['episode_index'] % num_shards
  rows = [np.flatnonzero(shard_of_row == s) for s in distributed.process_shards(mesh)]
  if not all(len(r) for r in rows):
    raise ConfigError(f'the dataset has too few episodes for {num_shards} data shards')
  # A shard's rows are whole episodes in order, so its windows index its own rows.
  def shard(r):
    return training_rows({k: jax.tree.map(lambda x: np.asarray(x)[r], transitions[k])
                          for k in ('observation', 'action', 'episode_index')}, windows)

  shards = [shard(r) for r in rows]
  weights = [weights_of(transitions['task_id'][r]) for r in rows]
  longest = int(distributed.all_gather(np.asarray(max(map(len, rows)), np.int32)).max())
  size = int(distributed.sum_over_processes([sum(map(len, rows))])[0])
  return DeviceDataset.from_shards(
      shards, sharding.batch_sharded(mesh), num_shards=num_shards, rows=longest,
      size=size, row_weights=None if weights[0] is None else weights)


def training_rows(transitions: Mapping[str, Any],
                  windows: policy_lib.Windows) -> Dict[str, Any]:
  """What a device dataset holds of `transitions`: observations, actions and, for a policy
  over action chunks or observation histories, each row's window indices
  (`data.windows`; `DeviceDataset.sample` gathers them)."""
  rows = {'observation': transitions['observation'], 'action': transitions['action']}
  indices = windows_lib.window_indices(
      transitions['episode_index'], windows.horizon, windows.history)
  return {**rows, WINDOWS: indices} if indices else rows


def first_observation(observations: Dict[str, Any],
                      windows: policy_lib.Windows) -> Dict[str, Any]:
  """A copy of the first observation (as a batch of one), so the host arrays can go; with
  an observation history, as the history of an episode's first step."""
  first = {k: v[:1].copy() for k, v in observations.items()}
  return policy_lib.history_of_first(first, windows.history)


def _counts(info: Mapping[str, Any], path: str) -> Dict[str, Any]:
  return {'num_demos': info['num_demos'], 'num_transitions': info['num_transitions'],
          'dataset': path}


def _local_transitions(run: Any, path: str, env: Any):
  """This process's training transitions and the counts of the whole dataset.

  With sharded data each process reads only the episodes of its shards (episode i goes
  to shard i mod num_shards, see `data.demonstrations`); the counts (`num_demos`, ...)
  are summed over processes, so results.json reports the whole dataset.
  """
  shards = None
  if is_sharded(run.config, run.mesh):
    shards = (distributed.process_shards(run.mesh), run.mesh.size)
  transitions, info = demonstrations.load_transitions(run.config, path, env, shards=shards)
  if jax.process_count() > 1:
    known = info['demo_success_rate'] is not None  # foreign data may not record success
    demos, steps, successes = distributed.sum_over_processes([
        info['num_demos'], info['num_transitions'],
        (info['demo_success_rate'] or 0.0) * info['num_demos']])
    info = {**info, 'num_demos': int(demos), 'num_transitions': int(steps),
            'demo_success_rate': float(successes / demos) if known else None}
  return transitions, info


def stream(run: Any, path: str, windows: policy_lib.Windows, env: Any = None,
           ) -> Tuple[Dict[str, Any], streaming.Stream]:
  """The streaming view of the dataset at `path`, each record with the policy's `windows`
  (see `data.streaming`): converted once
  by process 0 into `data.stream_dir` (default WORKDIR/stream; reused while the datasets
  and filters match) and opened by every process. With `env`, a guessed state-key order
  is checked against its resets while converting, as the device pipeline checks it.

  Returns the conversion's metadata (counts, moments, task counts) and the `Stream`.
  """
  config, section = run.config, run.config.data
  if section.get('task_mixture', 'size') != 'size':
    raise ConfigError('data.pipeline=stream samples every transition alike: '
                      f'data.task_mixture={section.task_mixture!r} needs data.pipeline=device')
  directory = section.get('stream_dir') or run.path('stream')
  source = streaming.source_of(config, path)
  meta = streaming.read_meta(directory)
  if run.is_writer and not streaming.matches(meta, source):
    logging.info('converting %s into transition records in %s', path, directory)
    episodes = demonstrations.iterate_training_episodes(config, path)
    if env is not None:
      episodes = demonstrations.checked_state_order(episodes, env, path)
    meta = streaming.convert(
        episodes, directory,
        frame_stack=config.env.frame_stack, action_key=section.action_key, source=source)
  distributed.barrier('stream_conversion')
  meta = streaming.read_meta(directory)
  if not streaming.matches(meta, source):
    raise ConfigError(f'{directory} holds no conversion of {path} with these filters')
  options = section.streaming
  seed = int(jax.random.randint(run.key(streams.DATA_ORDER), (), 0, 2**31 - 1))
  return meta, streaming.Stream(
      directory, meta, seed=seed, batch_size=config.train.batch_size,
      steps_per_call=config.train.steps_per_call,
      sharding=sharding.steps_batch_sharded(run.mesh), num_threads=options.num_threads,
      prefetch=options.prefetch, device_prefetch=options.device_prefetch,
      horizon=windows.horizon, history=windows.history)


def closed_loop(run: Any, env: Any, windows: policy_lib.Windows) -> TrainingInput:
  """The run's dataset (`data.path`, or demos collected into the workdir) as training reads
  it for `env` and the policy's `windows`: held on the devices or streamed from disk, as
  `data.pipeline` says."""
  path = dataset_path(run)
  if is_streamed(run.config):
    meta, batches = stream(run, path, windows, env)
    example = streaming.example_batch(meta)
    transitions_lib.check_matches_env(
        example, envs.observation_spec(env), env.action_size, source=path)
    return TrainingInput(
        batches, policy_lib.history_of_first(example['observation'], windows.history),
        normalization(run.config, precomputed=streaming.normalization_moments(meta)),
        streaming.task_ids(meta), _counts(meta, path), env.action_size)
  transitions, info = _local_transitions(run, path, env)
  # Only the device copy outlives this call: the host arrays go once it is made.
  return TrainingInput(
      device_dataset(run.config, run.mesh, transitions, windows, envs.task_names(env)),
      first_observation(transitions['observation'], windows),
      normalization(run.config, transitions),
      distributed.gather_rows(transitions['task_id']), _counts(info, path), env.action_size)


def offline(run: Any, windows: policy_lib.Windows) -> TrainingInput:
  """BC on data alone: `data.holdout_fraction` of the episodes held out whole (drawn from
  the run's HOLDOUT key), the rest on the devices."""
  config = run.config
  if not config.data.path:
    raise ConfigError('env.name is empty (an offline run): data.path must name the dataset, '
                      'as there is no environment to collect demonstrations in')
  if (len(run.members) > 1 or is_streamed(config)
      or jax.process_count() > 1):
    raise ConfigError('offline runs train one seed on device-resident data in one process: '
                      "set num_seeds=1, vmap.name='' and data.pipeline=device")
  path = dataset_path(run)
  split_rng = np.random.default_rng(np.asarray(jax.random.key_data(run.key(streams.HOLDOUT))))
  train, heldout, info = demonstrations.load_holdout_split(config, path, split_rng)
  return TrainingInput(
      device_dataset(config, run.mesh, train, windows),
      first_observation(train['observation'], windows),
      normalization(config, train), train['task_id'],
      {**_counts(info, path), 'num_heldout_demos': info['num_heldout_demos']},
      int(train['action'].shape[-1]), heldout=heldout)


def members(run: Any, env: Any, windows: policy_lib.Windows) -> TrainingInput:
  """Every seed's own demonstrations (collected into WORKDIR/seed_S/demos, as a run of
  that seed would), stacked along the member axis; one `data.path` serves every seed.
  The normalisation is stacked per member."""
  config, members_ = run.config, run.members
  if jax.process_count() > 1:
    raise ConfigError('members (num_seeds > 1 or vmap) run in one process; '
                      'across hosts, run one seed per job (experiments.sweep)')
  if is_streamed(config):
    raise ConfigError('members (num_seeds > 1 or vmap) need data.pipeline=device')
  if config.env.get('held_out_kwargs'):
    raise ConfigError(f'{config.env.name} evaluates held-out tasks, which members do not; '
                      'run its seeds separately')
  shared = bool(config.data.path)
  seeds = list(dict.fromkeys(m.seed for m in members_))
  by_seed = {}
  for seed in seeds[:1] if shared else seeds:
    member_config = next(m for m in members_ if m.seed == seed).config(config)
    path = demonstrations.resolve_dataset(member_config, run.path(f'seed_{seed}'))
    transitions, info = demonstrations.load_transitions(member_config, path, env)
    by_seed[seed] = (transitions, _counts(info, path))
  if shared:
    by_seed = {seed: by_seed[seeds[0]] for seed in seeds}
  data = [by_seed[s][0] for s in seeds]
  per_seed_normalization = {s: normalization(config, by_seed[s][0]) for s in seeds}
  if shared:
    dataset = device_dataset(config, run.mesh, data[0], windows)
  else:
    dataset = DeviceDataset.stack([training_rows(d, windows) for d in data],
                                  sharding.replicated(run.mesh))
  per_seed = {s: info for s, (_, info) in by_seed.items()}
  info = {'num_demos': int(np.mean([per_seed[m.seed]['num_demos'] for m in members_])),
          'num_transitions': int(np.mean([per_seed[m.seed]['num_transitions']
                                          for m in members_])),
          'dataset': per_seed[seeds[0]]['dataset'] if shared
                     else os.path.join(run.workdir, 'seed_*', 'demos')}
  # Only the device copy outlives this call: the host transitions go once it is made.
  return TrainingInput(
      dataset, first_observation(data[0]['observation'], windows),
      members_lib.stack([per_seed_normalization[m.seed] for m in members_]),
      data[0]['task_id'], info, env.action_size, per_seed=per_seed)


CONFIG_RULES = {'data.layout': rules.one_of(LAYOUTS), 'data.pipeline': rules.one_of(PIPELINES)}
