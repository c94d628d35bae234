"""Writing and reading episodes as RLDS datasets in TFDS format.

This is the only module that imports TensorFlow. It is hidden from every accelerator
before anything else touches it, so it never takes GPU memory from JAX.
"""

import json
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

# TensorFlow's C++ start-up banner (oneDNN, absl init) says nothing about our data.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf  # pylint: disable=g-import-not-at-top

tf.config.set_visible_devices([], 'GPU')
tf.config.set_visible_devices([], 'TPU')

import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

from imitation.data import episodes as episodes_lib
from imitation.errors import DatasetError

DATASET_NAME = 'imitation_episodes'
DATASET_VERSION = '1.0.0'
_MAX_EPISODE_STEPS = 1 << 30


def spec_to_json(observation_spec: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
  """{'state': ShapeDtypeStruct((10,), float32)} -> {'state': {'shape': [10], 'dtype': 'float32'}}."""
  return {
      k: {'shape': list(v.shape), 'dtype': np.dtype(v.dtype).name}
      for k, v in observation_spec.items()
  }


def episode_features(
    observation_spec: Mapping[str, Any], action_dim: int
) -> tfds.features.FeaturesDict:
  """The TFDS feature spec of an episode (see `episodes` for the schema)."""
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
  return tfds.features.FeaturesDict({
      'steps': tfds.features.Dataset({
          'observation': tfds.features.FeaturesDict(observation),
          'action': action,
          'expert_action': action,
          'reward': tfds.features.Scalar(np.float32),
          'discount': tfds.features.Scalar(np.float32),
          'is_first': tfds.features.Scalar(np.bool_),
          'is_last': tfds.features.Scalar(np.bool_),
          'is_terminal': tfds.features.Scalar(np.bool_),
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


def dataset_exists(path: str) -> bool:
  return os.path.exists(os.path.join(path, 'dataset_info.json'))


def write_episodes(
    path: str,
    episodes: Sequence[episodes_lib.Episode],
    *,
    observation_spec: Mapping[str, Any],
    action_dim: int,
    metadata: Optional[Dict[str, Any]] = None,
    split: str = 'train',
    append: bool = False,
    max_episodes_per_shard: int = 1000,
) -> None:
  """Writes episodes as a TFDS dataset (TFRecord shards) that `builder_from_directory` opens.

  With `append=True` the episodes are added to an existing dataset as new shards, which is
  how DAgger aggregates rounds; otherwise an existing dataset at `path` is an error.

  Args:
    path: the dataset directory.
    episodes: RLDS episodes as numpy dicts.
    observation_spec: shapes/dtypes of one observation (from `envs.observation_spec`).
    action_dim: size of the action vector.
    metadata: JSON-serialisable facts about the data (env name, horizon, ...), stored in
      the dataset's metadata.json and checked when the dataset is loaded.
    split: split to write.
    append: add to an existing dataset instead of creating one.
    max_episodes_per_shard: shard size.
  """
  if dataset_exists(path) and not append:
    raise DatasetError(f'a dataset already exists at {path}; remove it or append to it')
  os.makedirs(path, exist_ok=True)
  metadata = dict(metadata or {})
  metadata['observation_spec'] = spec_to_json(observation_spec)
  metadata['action_dim'] = int(action_dim)
  info = tfds.core.DatasetInfo(
      builder=tfds.core.DatasetIdentity(
          name=DATASET_NAME, version=DATASET_VERSION, data_dir=path, module_name=''
      ),
      description='RLDS episodes written by the imitation library.',
      features=episode_features(observation_spec, action_dim),
      metadata=tfds.core.MetadataDict(metadata),
  )
  writer = tfds.core.SequentialWriter(
      info, max_examples_per_shard=max_episodes_per_shard, overwrite=not append
  )
  writer.initialize_splits([split], fail_if_exists=False)
  writer.add_examples({split: list(episodes)})
  writer.close_all()


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
  a reader that keeps only some of them (a process's shard) never holds the others."""
  if not dataset_exists(path):
    raise DatasetError(f'no RLDS dataset at {path} (no dataset_info.json there)')
  try:
    builder = tfds.builder_from_directory(path)
    dataset = builder.as_dataset(split=split)
  except (ValueError, KeyError, tf.errors.OpError) as e:
    raise DatasetError(f'cannot read the dataset at {path}: {e}') from e
  dataset = dataset.map(_decode_steps, num_parallel_calls=tf.data.AUTOTUNE)

  def episodes():
    for episode in tfds.as_numpy(dataset):
      metadata = episode.get('episode_metadata', {})
      if isinstance(metadata.get('source'), bytes):
        metadata['source'] = metadata['source'].decode()
      yield episode

  metadata = builder.info.metadata
  return episodes(), json.loads(json.dumps(dict(metadata))) if metadata else {}
