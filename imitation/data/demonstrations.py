"""Getting the training demonstrations a config asks for: load them, or collect defaults."""

import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import envs
from imitation.data import collect
from imitation.data import formats
from imitation.data import hdf5
from imitation.data import lerobot
from imitation.data import minari_datasets
from imitation.data import quality
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.errors import DatasetError

DEFAULT_DEMOS_DIR = 'demos'
# A guessed state order is checked on this many first steps against as many env resets
# (drawn from LAYOUT_CHECK_SEED: the check's own draws, the same every run).
LAYOUT_CHECK_EPISODES = 256
LAYOUT_CHECK_SEED = 0
# The formats that are not TFDS directories, each with its own episode reader.
READERS = {'robomimic': hdf5.iterate_robomimic, 'maniskill': hdf5.iterate_maniskill,
           'minari': minari_datasets.iterate_episodes, 'lerobot': lerobot.iterate_episodes}


def resolve_dataset(config: ml_collections.ConfigDict, workdir: str) -> str:
  """`config.data.path`, or expert demos collected into `workdir/demos` (reused on restart).

  `data.path` may name several datasets, comma-separated (e.g. one per task): they are
  read as one mixture (see `load_episodes`)."""
  if config.data.path:
    return ','.join(os.path.abspath(os.path.expanduser(p.strip()))
                    for p in config.data.path.split(',') if p.strip())
  path = os.path.join(workdir, DEFAULT_DEMOS_DIR)
  if rlds.dataset_exists(path):
    logging.info('reusing demonstrations in %s', path)
    return path
  logging.info('no dataset given: collecting %d expert episodes into %s',
               config.collect.num_episodes, path)
  summary = collect.collect_demonstrations(config.env, config.collect, path)
  logging.info('collected: %s', summary)
  return path


def load_episodes(
    config: ml_collections.ConfigDict, path: str,
    shards: Optional[Tuple[Sequence[int], int]] = None,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any], int]:
  """The dataset's episodes that pass `config.data`'s filters, its metadata, and how many
  episodes it holds in all; checks that it was collected on `config.env.name`.

  `path` may list several datasets, comma-separated: each is read and filtered
  (`data.max_episodes` applies to each), then their episodes are concatenated in order; the
  metadata is the first one's. Which task each episode shows travels in its `task_id`, so
  the task mixture (`data.task_mixture`) then samples across the datasets.

  `shards=(mine, num_shards)` keeps only episode i (counted over the filtered, concatenated
  episodes) with i mod num_shards in `mine`: a process of a multi-host run reads its own
  shard and never holds the rest (`load_transitions` numbers its rows by i).
  """
  episodes, _, metadata, num_available = _read_episodes(config, path, shards)
  return episodes, metadata, num_available


def _read_episodes(config, path, shards):
  """`load_episodes`, with each kept episode's index i."""
  episodes, indices, metadata, num_available, first_index = [], [], None, 0, 0
  vocabulary = task_vocabulary(config)
  for one_path in path.split(','):
    one, one_indices, one_metadata, available, num_kept = _load_one_dataset(
        config, one_path, shards, first_index, vocabulary)
    if episodes and one and _step_shapes(one[0]) != _step_shapes(episodes[0]):
      raise DatasetError(
          f'dataset {one_path} does not match {path.split(",")[0]}: steps of shapes '
          f'{_step_shapes(one[0])} vs {_step_shapes(episodes[0])}; datasets mixed into one '
          'run need the same observations and actions')
    episodes += one
    indices += one_indices
    first_index += num_kept
    metadata = one_metadata if metadata is None else metadata
    num_available += available
  return episodes, indices, metadata, num_available


def _step_shapes(episode: Dict[str, Any]) -> Dict[str, Any]:
  """The per-step shape of each observation key and of the action (time axis dropped)."""
  steps = episode['steps']
  shapes = {f'observation/{k}': tuple(np.shape(v)[1:]) for k, v in steps['observation'].items()}
  action = tuple(np.shape(steps['action'])[1:]) if 'action' in steps else None  # state-only
  return {**shapes, 'action': action}


def iterate_training_episodes(config: ml_collections.ConfigDict,
                              path: str) -> Iterator[Dict[str, Any]]:
  """The episodes `load_episodes` keeps (same filters, same order), read one at a time:
  for converting a dataset too large to hold (`data.streaming`)."""
  vocabulary = task_vocabulary(config)
  for one_path in path.split(','):
    reader = _open_dataset(config, one_path, vocabulary)[0]
    yield from _filtered_episodes(config, one_path, reader, {})


def task_vocabulary(config: ml_collections.ConfigDict) -> formats.TaskVocabulary:
  """Instruction -> task id for datasets whose task is a string (`data.task_names` fixes
  the order; otherwise ids follow first appearance)."""
  return formats.TaskVocabulary(tuple(config.data.get('task_names', ())))


def _open_dataset(config: ml_collections.ConfigDict, path: str,
                  vocabulary: formats.TaskVocabulary):
  """(an iterator over the episodes of `config.data.split` in the episode schema, mapped
  from `data.format`'s layout, and the dataset's metadata), after checking that the
  dataset was collected on `config.env.name` where its metadata says."""
  data_format = config.data.get('format', 'imitation')
  reader, metadata = READERS.get(data_format, rlds.iterate_episodes)(
      path, config.data.split)
  data_env = metadata.get('env_name')
  if data_env is not None and config.env.name and data_env != config.env.name:
    raise DatasetError(
        f'dataset {path} was collected on {data_env!r} but the config trains on '
        f'{config.env.name!r}'
    )
  if data_env is None and config.env.name:
    logging.warning('dataset %s has no metadata naming its environment: it is checked '
                    'against %r by observation and action shapes only', path, config.env.name)
  standardize = formats.get(data_format)
  fields = formats.fields_from_config(config.data.get('fields'))

  def standardized():
    said = set()  # the guessed state orders the log has named, once per dataset
    for position, episode in enumerate(reader):
      episode = standardize(episode, fields, vocabulary, path)
      formats.check_episode(episode, path)
      if data_format != 'imitation':  # other tools store one camera frame per step
        episode = formats.stack_frames(episode, config.env.get('frame_stack', 1))
      # Foreign episodes are numbered by position, which quality scores key by.
      episode['episode_metadata'].setdefault('episode_index', np.int64(position))
      guessed = episode['episode_metadata'].get(formats.GUESSED_STATE_KEYS)
      if guessed and guessed not in said:
        said.add(guessed)
        logging.warning('%s: data.fields.state not given, so state joins %s in name order; '
                        "if the environment's order differs, name it: "
                        "--config.data.fields.state='(\"%s\")'", path,
                        guessed.replace(',', ', '), guessed.replace(',', '","'))
      yield episode

  return standardized(), metadata


def _filtered_episodes(config: ml_collections.ConfigDict, path: str, reader: Iterator,
                       counts: Dict[str, int]) -> Iterator[Dict[str, Any]]:
  """The episodes of `reader` that pass `config.data`'s filters (success, return, and
  `data.filter`: sources and quality scores, see `data.quality`), the first
  `data.max_episodes` of them (0: all); `counts['read']` ends as the episodes in it."""
  counts['read'], kept = 0, 0
  if config.data.only_successful:
    reader = _with_success(reader, path)
  # A dataset that is one file (HDF5) is its own place for scores (`quality.scores_path`).
  episode_filter = quality.EpisodeFilter(config.data.get('filter'),
                                         rlds.resolve_path(path) or path)
  for episode in reader:
    counts['read'] += 1
    if config.data.max_episodes and kept >= config.data.max_episodes:
      continue  # counted, not kept
    if transitions_lib.passes_filters(episode, only_successful=config.data.only_successful,
                                      min_return=config.data.min_return) and (
                                          episode_filter.keep(episode)):
      kept += 1
      yield episode
  if not counts['read']:
    raise DatasetError(f'{path}: the dataset holds no episodes in split '
                       f'{config.data.split!r}')
  if not kept:
    raise DatasetError(f'no episodes of {path} pass the data filters')


def _with_success(reader: Iterator, path: str) -> Iterator:
  """`reader`, refusing episodes whose success is unknown (data.only_successful)."""
  for episode in reader:
    if 'success' not in episode['episode_metadata']:
      raise DatasetError(f'{path}: data.only_successful needs each episode\'s success, '
                         'and this dataset does not record it')
    yield episode


def _load_one_dataset(config: ml_collections.ConfigDict, path: str,
                      shards: Optional[Tuple[Sequence[int], int]], first_index: int,
                      vocabulary: formats.TaskVocabulary):
  """(kept episodes, their indices, metadata, episodes in the dataset, episodes that pass
  the filters, up to `data.max_episodes`)."""
  reader, metadata = _open_dataset(config, path, vocabulary)
  mine, num_shards = shards if shards is not None else ((0,), 1)
  mine = set(mine)
  episodes, indices, counts, num_kept = [], [], {}, 0
  for episode in _filtered_episodes(config, path, reader, counts):
    if (first_index + num_kept) % num_shards in mine:
      episodes.append(episode)
      indices.append(first_index + num_kept)
    num_kept += 1
  return episodes, indices, metadata, counts['read'], num_kept


def load_transitions(
    config: ml_collections.ConfigDict, path: str, env: Any,
    shards: Optional[Tuple[Sequence[int], int]] = None,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """Reads, filters and flattens the dataset (this process's `shards` of it, see
  `load_episodes`), and checks that it fits `env`.

  Returns:
    (transitions, info) where info counts the episodes and transitions used.
  """
  episodes, indices, _, num_available = _read_episodes(config, path, shards)
  if not episodes:
    raise DatasetError(f'the dataset {path} has no episodes for data shards {shards[0]}')
  transitions = transitions_lib.episodes_to_transitions(
      episodes, config.data.action_key, episode_indices=indices)
  transitions_lib.check_matches_env(
      transitions, envs.observation_spec(env), env.action_size, source=path
  )
  _check_guessed_state_order(episodes, env, path)
  return transitions, data_info(episodes, transitions, num_available)


def _check_guessed_state_order(episodes: Sequence[Dict[str, Any]], env: Any,
                               path: str) -> None:
  """Where the state's keys were joined in name order (`data.fields.state` not given),
  a DatasetError unless those episodes' first states could be `env`'s resets: a column
  order that is not the env's trains and evaluates without any other error."""
  by_order = {}
  for episode in episodes:
    _add_first_state(by_order, episode)
  _check_first_states(by_order, env, path)


def checked_state_order(episodes: Iterable[Dict[str, Any]], env: Any,
                        path: str) -> Iterator[Dict[str, Any]]:
  """`episodes`, read one at a time (a stream's conversion), with the check of
  `load_transitions` on the guessed state orders: made once the first
  `LAYOUT_CHECK_EPISODES` episodes of an order are read, or at the end."""
  by_order, checked = {}, set()
  for episode in episodes:
    guessed = _add_first_state(by_order, episode)
    if guessed and guessed not in checked and (
        len(by_order[guessed]) >= LAYOUT_CHECK_EPISODES):
      _check_first_states({guessed: by_order.pop(guessed)}, env, path)
      checked.add(guessed)
    yield episode
  _check_first_states({k: v for k, v in by_order.items() if k not in checked}, env, path)


def _add_first_state(by_order: Dict[str, list], episode: Dict[str, Any]) -> Optional[str]:
  """Keeps `episode`'s first state under its guessed state order (if any); the order."""
  guessed = episode['episode_metadata'].get(formats.GUESSED_STATE_KEYS)
  if guessed and len(by_order.setdefault(guessed, [])) < LAYOUT_CHECK_EPISODES:
    by_order[guessed].append(np.asarray(episode['steps']['observation']['state'][0]))
  return guessed


def _check_first_states(by_order: Dict[str, list], env: Any, path: str) -> None:
  if not by_order:
    return
  resets = envs.reset_observations(env, jax.random.PRNGKey(LAYOUT_CHECK_SEED),
                                   LAYOUT_CHECK_EPISODES)['state']
  for guessed, first in by_order.items():
    columns = transitions_lib.mismatched_state_columns(np.stack(first), resets)
    if columns:
      names = guessed.split(',')
      named = "'(" + ','.join(f'"{name}"' for name in names) + ")'"
      raise DatasetError(
          f'{path}: the state joined from {", ".join(names)} (in name order) does not start '
          f"as the environment's observations do (columns {columns[:6]} differ at the first "
          f"step): name the keys in the environment's order, --config.data.fields.state="
          f'{named} with them reordered')


def data_info(episodes: Sequence[Dict[str, Any]], transitions: Dict[str, Any],
              num_available: int) -> Dict[str, Any]:
  """Counts of the data used; `demo_success_rate` over the episodes that record success
  (None when none does, as in most foreign datasets)."""
  success = [e['episode_metadata']['success'] for e in episodes
             if 'success' in e['episode_metadata']]
  return {
      'num_demos': len(episodes),
      'num_available_episodes': num_available,
      'num_transitions': int(transitions['action'].shape[0]),
      'demo_success_rate': float(np.mean(success)) if success else None,
  }


def load_holdout_split(
    config: ml_collections.ConfigDict, path: str, rng: np.random.Generator,
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
  """(training transitions, held-out transitions, info) for a run without an environment:
  `data.holdout_fraction` of the filtered episodes (at least one, drawn with `rng`) are
  held out whole, so no held-out step shares an episode with a training step."""
  episodes, _, _, num_available = _read_episodes(config, path, None)
  fraction = config.data.holdout_fraction
  if not 0.0 < fraction < 1.0:
    raise DatasetError(f'data.holdout_fraction={fraction}: expected a fraction in (0, 1)')
  if len(episodes) < 2:
    raise DatasetError(f'{path}: {len(episodes)} episode(s) kept; an offline run holds out '
                       'whole episodes, so it needs at least 2')
  num_held_out = min(max(1, int(round(fraction * len(episodes)))), len(episodes) - 1)
  held_out = set(rng.permutation(len(episodes))[:num_held_out].tolist())
  train = [e for i, e in enumerate(episodes) if i not in held_out]
  test = [e for i, e in enumerate(episodes) if i in held_out]
  action_key = config.data.action_key
  train_transitions = transitions_lib.episodes_to_transitions(train, action_key)
  test_transitions = transitions_lib.episodes_to_transitions(test, action_key)
  info = data_info(train, train_transitions, num_available)
  info.update(num_heldout_demos=len(test))
  return train_transitions, test_transitions, info


CONFIG_RULES = {
    'data.action_key': rules.one_of(('action', 'expert_action')),
    'data.max_episodes': rules.non_negative_int(),
    'data.holdout_fraction': rules.fraction(low_open=True, high_open=True),
}
