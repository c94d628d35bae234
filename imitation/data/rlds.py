"""Writing and reading episodes as RLDS datasets in TFDS format.

A dataset we write lives in TFDS's own layout, `DATA_DIR/NAME/VERSION/`, so that
`tfds.builder(NAME, data_dir=DATA_DIR)` (and Octo-style loaders keyed by name) find it and
datasets of several names can share a data_dir. A reader may name the version directory,
the name directory (its newest version) or a data_dir holding one dataset.

Every step we write has `action_is_pad`: True where the step's action is not a real one
(RLDS's final step carries only the last observation; we store a zero action there), so
other readers can drop it instead of training on padding.

This is the only module that imports TensorFlow. It is hidden from every accelerator
before anything else touches it, so it never takes GPU memory from JAX.
"""

import glob
import json
import os
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from google.protobuf import json_format
import numpy as np

# TensorFlow's C++ start-up banner (oneDNN, absl init) says nothing about our data.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf  # pylint: disable=g-import-not-at-top

tf.config.set_visible_devices([], 'GPU')
tf.config.set_visible_devices([], 'TPU')

import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

from imitation import atomic
from imitation import progress
from imitation.data import episodes as episodes_lib
from imitation.errors import DatasetError

DATASET_NAME = 'imitation_episodes'
DATASET_VERSION = '1.0.0'
INFO_FILE = 'dataset_info.json'
_NAME = re.compile(r'^[a-z][a-z0-9_]*$')  # TFDS dataset names: snake_case
_VERSION = re.compile(r'^\d+\.\d+\.\d+$')
_MAX_EPISODE_STEPS = 1 << 30
_WRITE_BATCH = 64  # episodes handed to the writer at a time (the progress bar's step)


def spec_to_json(observation_spec: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
  """{'state': ShapeDtypeStruct((10,), float32)} -> {'state': {'shape': [10], 'dtype': 'float32'}}."""
  return {
      k: {'shape': list(v.shape), 'dtype': np.dtype(v.dtype).name}
      for k, v in observation_spec.items()
  }


def episode_features(
    observation_spec: Mapping[str, Any], action_dim: int, expert_labels: bool = True
) -> tfds.features.FeaturesDict:
  """The TFDS feature spec of an episode (see `episodes` for the schema); without
  `expert_labels`, steps have no `expert_action` (data recorded where no expert labels)."""
  observation = {}
  for key, spec in observation_spec.items():
    if key == 'image' and spec.shape[-1] in (1, 3, 4):
      observation[key] = tfds.features.Image(shape=tuple(spec.shape), dtype=np.uint8)
    elif key == 'image':  # stacked frames (env.frame_stack): PNG takes at most 4 channels
      observation[key] = tfds.features.Tensor(
          shape=tuple(spec.shape), dtype=np.uint8, encoding=tfds.features.Encoding.ZLIB
      )
    else:
      observation[key] = tfds.features.Tensor(
          shape=tuple(spec.shape), dtype=np.dtype(spec.dtype)
      )
  action = tfds.features.Tensor(shape=(action_dim,), dtype=np.float32)
  # action_dim 0: a state-only dataset, whose steps record no action at all.
  actions = {}
  if action_dim:
    actions = {'action': action, **({'expert_action': action} if expert_labels else {})}
  return tfds.features.FeaturesDict({
      'steps': tfds.features.Dataset({
          'observation': tfds.features.FeaturesDict(observation),
          **actions,
          'reward': tfds.features.Scalar(np.float32),
          'discount': tfds.features.Scalar(np.float32),
          'is_first': tfds.features.Scalar(np.bool_),
          'is_last': tfds.features.Scalar(np.bool_),
          'is_terminal': tfds.features.Scalar(np.bool_),
          # True where `action` is padding, not a real action (the final step).
          'action_is_pad': tfds.features.Scalar(np.bool_),
      }),
      'episode_metadata': tfds.features.FeaturesDict({
          'task_id': tfds.features.Scalar(np.int32),
          'success': tfds.features.Scalar(np.bool_),
          'source': tfds.features.Text(),
          'seed': tfds.features.Scalar(np.int64),
          'episode_index': tfds.features.Scalar(np.int64),
          'return': tfds.features.Scalar(np.float32),
          'length': tfds.features.Scalar(np.int32),
          'round': tfds.features.Scalar(np.int32),
      }),
  })


def check_name(name: str, version: str) -> None:
  """Raises a DatasetError unless `name` and `version` are what TFDS accepts."""
  if not _NAME.match(name or ''):
    raise DatasetError(f'dataset name {name!r}: TFDS names are snake_case '
                       '(lower-case letters, digits and _, starting with a letter)')
  if not _VERSION.match(version or ''):
    raise DatasetError(f'dataset version {version!r}: TFDS versions are MAJOR.MINOR.PATCH')


def _versions(directory: str) -> List[str]:
  """The version directories (holding a dataset) under a name directory, oldest first."""
  found = [os.path.basename(os.path.dirname(p))
           for p in glob.glob(os.path.join(directory, '*', INFO_FILE))]
  found = [v for v in found if _VERSION.match(v)]
  return sorted(found, key=lambda v: tuple(int(x) for x in v.split('.')))


def resolve_path(path: str) -> Optional[str]:
  """The version directory that `path` names, or None if it names no dataset.

  `path` may be a version directory (holding dataset_info.json), a name directory (its
  newest version is read) or a data_dir holding exactly one named dataset.
  """
  atomic.recover(path)  # a replacing write killed between its renames
  if os.path.exists(os.path.join(path, INFO_FILE)):
    return path
  versions = _versions(path)
  if versions:
    return os.path.join(path, versions[-1])
  names = sorted(n for n in (os.listdir(path) if os.path.isdir(path) else ())
                 if _versions(os.path.join(path, n)))
  if len(names) > 1:
    raise DatasetError(f'{path} holds several datasets ({", ".join(names)}): name one, '
                       f'e.g. {os.path.join(path, names[0])}')
  if names:
    return os.path.join(path, names[0], _versions(os.path.join(path, names[0]))[-1])
  return None


def dataset_exists(path: str) -> bool:
  return resolve_path(path) is not None


def write_episodes(
    path: str,
    episodes: Sequence[episodes_lib.Episode],
    *,
    observation_spec: Mapping[str, Any],
    action_dim: int,
    metadata: Optional[Dict[str, Any]] = None,
    name: str = DATASET_NAME,
    version: str = DATASET_VERSION,
    split: str = 'train',
    append: bool = False,
    max_episodes_per_shard: int = 1000,
    expert_labels: bool = True,
) -> str:
  """Writes episodes as a TFDS dataset (TFRecord shards) at `path/name/version`, which
  `tfds.builder(name, data_dir=path)` and `builder_from_directory` open; returns that
  directory.

  With `append=True` the episodes are added to the existing dataset as new shards, which is
  how DAgger aggregates rounds; otherwise an existing dataset there is an error.

  Args:
    path: the data_dir.
    episodes: RLDS episodes as numpy dicts.
    observation_spec: shapes/dtypes of one observation (from `envs.observation_spec`).
    action_dim: size of the action vector; 0 for a state-only dataset (its episodes'
      steps have no `action` nor `expert_action`).
    metadata: JSON-serialisable facts about the data (env name, horizon, ...), stored in
      the dataset's metadata.json and checked when the dataset is loaded.
    name: the dataset's TFDS name (snake_case).
    version: its version, MAJOR.MINOR.PATCH.
    split: split to write.
    append: add to an existing dataset instead of creating one.
    max_episodes_per_shard: shard size.
    expert_labels: whether steps carry `expert_action` (not for data no expert labelled).
  """
  check_name(name, version)
  directory = os.path.join(path, name, version)
  if dataset_exists(directory) and not append:
    raise DatasetError(f'a dataset already exists at {directory}; remove it or append to it')
  metadata = dict(metadata or {})
  metadata['observation_spec'] = spec_to_json(observation_spec)
  metadata['action_dim'] = int(action_dim)
  # Built beside its final name and renamed into place whole: a writer killed midway leaves
  # no dataset (and no half-appended one), and the next write starts over (`atomic`).
  with atomic.directory(directory, start_from_existing=append) as building:
    info = tfds.core.DatasetInfo(
        builder=tfds.core.DatasetIdentity(
            name=name, version=version, data_dir=building, module_name=''
        ),
        description='RLDS episodes written by the imitation library. A step whose '
                    'action_is_pad is True carries no real action (the final step).',
        features=episode_features(observation_spec, action_dim, expert_labels),
        metadata=tfds.core.MetadataDict(metadata),
    )
    writer = tfds.core.SequentialWriter(
        info, max_examples_per_shard=max_episodes_per_shard, overwrite=not append
    )
    writer.initialize_splits([split], fail_if_exists=False)
    bar = progress.bar(total=len(episodes), desc=f'writing {name}', unit='episode')
    for start in range(0, len(episodes), _WRITE_BATCH):
      batch = episodes[start:start + _WRITE_BATCH]
      writer.add_examples({split: [_with_pad_flags(e) for e in batch]})
      bar.update(len(batch))
    bar.close()
    writer.close_all()
  return directory


def _with_pad_flags(episode: episodes_lib.Episode) -> episodes_lib.Episode:
  """The episode with `action_is_pad` on its steps (our final step's action is padding)."""
  steps = episode['steps']
  if 'action_is_pad' in steps:
    return episode
  return {**episode, 'steps': {**steps, 'action_is_pad': np.asarray(steps['is_last'], bool)}}


def _decode_steps(episode):
  """Turns the nested `steps` dataset into one dict of [L + 1, ...] tensors."""
  steps = episode['steps'].batch(_MAX_EPISODE_STEPS).get_single_element()
  return {**episode, 'steps': steps}


def load_episodes(
    path: str, split: str = 'train'
) -> Tuple[List[episodes_lib.Episode], Dict[str, Any]]:
  """Reads every episode of `split` into numpy, with the dataset's metadata (or {})."""
  episodes, metadata = iterate_episodes(path, split)
  return list(episodes), metadata


def iterate_episodes(
    path: str, split: str = 'train'
) -> Tuple[Iterator[episodes_lib.Episode], Dict[str, Any]]:
  """The episodes of `split` one at a time, in the dataset's order, and its metadata (or {}):
  a reader that keeps only some of them (a process's shard) never holds the others.

  Any RLDS dataset in TFDS format is read as it is stored (see `data.formats` for mapping
  it to the episode schema). An unreadable one raises a DatasetError naming the file.
  """
  directory = resolve_path(path)
  if directory is None:
    raise DatasetError(f'no RLDS dataset at {path} (no {INFO_FILE} there, nor in '
                       'NAME/VERSION folders under it)')
  try:
    builder = tfds.builder_from_directory(directory)
    splits = builder.info.splits
  except (ValueError, KeyError, TypeError, tf.errors.OpError, json_format.ParseError) as e:
    raise DatasetError(f'cannot read the dataset at {directory}: {_first_line(e)}') from e
  if split not in splits:
    raise DatasetError(f'{directory}: no split {split!r} (it has {sorted(splits)})')
  if not splits[split].num_examples:
    raise DatasetError(f'{directory}: the dataset holds no episodes in split {split!r}')
  try:
    dataset = builder.as_dataset(split=split)
  except (ValueError, KeyError, TypeError, tf.errors.OpError) as e:
    raise DatasetError(f'cannot read the dataset at {directory}: {_first_line(e)}') from e
  dataset = dataset.map(_decode_steps, num_parallel_calls=tf.data.AUTOTUNE)

  def episodes():
    iterator = iter(tfds.as_numpy(dataset))
    while True:
      try:
        episode = next(iterator)
      except StopIteration:
        return
      except tf.errors.OpError as e:
        raise DatasetError(_bad_shard(builder, directory, split)
                           or f'{directory}: cannot read it ({_first_line(e)})') from e
      metadata = episode.get('episode_metadata', {})
      if isinstance(metadata.get('source'), bytes):
        metadata['source'] = metadata['source'].decode()
      yield episode

  metadata = builder.info.metadata
  return episodes(), json.loads(json.dumps(dict(metadata))) if metadata else {}


def _first_line(error: Exception) -> str:
  """The error's message, one line, without TensorFlow's op and function names."""
  message = (getattr(error, 'message', None) or str(error)).strip()
  message = re.sub(r'\{\{.*?\}\}\s*|\s*\[Op:.*$', '', message.splitlines()[0] if message else '')
  return message or type(error).__name__


def _bad_shard(builder: Any, directory: str, split: str) -> Optional[str]:
  """'FILE: what is wrong' for the first shard of `split` that cannot be read to its end
  (corrupt) or holds fewer episodes than dataset_info.json says (truncated), or None."""
  info = builder.info.splits[split]
  for name, expected in zip(info.filenames, info.shard_lengths):
    shard, count = os.path.join(directory, name), 0
    try:
      for _ in tf.data.TFRecordDataset(shard):
        count += 1
    except tf.errors.OpError as e:
      return f'{shard}: corrupt or truncated shard, unreadable after {count} episodes ({_first_line(e)})'
    if count != expected:
      return f'{shard}: truncated shard, {count} of its {expected} episodes are there'
  return None
