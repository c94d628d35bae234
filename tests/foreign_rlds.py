r"""RLDS datasets as other tools write them, made with TFDS's own dataset builder.

Our expert's episodes are rewritten in two foreign layouts by `tfds.dataset_builders.
store_as_tfds_dataset` (not by this project's writer), so tests and docs/data.md can check that
`data.format` reads data this project did not write:

  envlogger  steps/observation is one flat tensor (`flat=True`) or {'state': ...}; episode
             metadata are top-level fields (`episode_id`); the final step holds the last
             observation and a zero action that is not a real one.
  open_x     steps/observation/{state, image} (or the image only), a per-step
             `language_instruction`, and only the L steps that carry real actions (no
             extra final observation).

  python -m tests.foreign_rlds --demos=WORKDIR/demos --out=/tmp/foreign
"""

import os
from typing import Any, Dict, Iterator, Sequence

from absl import app
from absl import flags
import numpy as np

from imitation.data import rlds  # hides TensorFlow from the accelerators first

tfds = rlds.tfds

_FLAGS = {'reward': np.float32, 'discount': np.float32, 'is_first': np.bool_,
          'is_last': np.bool_, 'is_terminal': np.bool_}



def envlogger_episodes(episodes: Sequence[Dict[str, Any]], flat: bool,
                       with_actions: bool = True) -> Iterator[Dict]:
  for index, episode in enumerate(episodes):
    steps = episode['steps']
    state = np.asarray(steps['observation']['state'], np.float32)
    actions = {'action': np.asarray(steps['action'], np.float32)} if with_actions else {}
    yield {'steps': {'observation': state if flat else {'state': state}, **actions,
                     **{k: np.asarray(steps[k]) for k in _FLAGS}},
           'episode_id': np.int64(index)}


def open_x_episodes(episodes: Sequence[Dict[str, Any]], image_size: int,
                    instructions: Sequence[str], with_state: bool = True) -> Iterator[Dict]:
  """Episode i gets instruction i mod len(instructions) and its own camera images where it
  has them (else random ones); without `with_state`, the camera is the only observation."""
  rng = np.random.default_rng(0)
  for index, episode in enumerate(episodes):
    steps = episode['steps']
    real = ~np.asarray(steps['is_last'], bool)  # drop the final observation-only step
    length = int(real.sum())
    is_last = np.arange(length) == length - 1
    if 'image' in steps['observation']:
      image = np.asarray(steps['observation']['image'], np.uint8)[real]
    else:
      image = rng.integers(0, 256, (length, image_size, image_size, 3), np.uint8)
    observation = {'image': image}
    if with_state:
      observation['state'] = np.asarray(steps['observation']['state'], np.float32)[real]
    yield {'steps': {
        'observation': observation,
        'action': np.asarray(steps['action'], np.float32)[real],
        'language_instruction': np.asarray(
            [instructions[index % len(instructions)]] * length, object),
        'reward': np.asarray(steps['reward'], np.float32)[real],
        'discount': np.ones(length, np.float32),
        'is_first': np.arange(length) == 0,
        'is_last': is_last,
        'is_terminal': is_last & bool(np.asarray(steps['is_terminal']).any())}}


def _write(name: str, data_dir: str, episodes: Sequence[Dict], features: Dict[str, Any]
           ) -> str:
  tfds.dataset_builders.store_as_tfds_dataset(
      name=name, version='1.2.0', features=tfds.features.FeaturesDict(features),
      split_datasets={'train': [(str(i), e) for i, e in enumerate(episodes)]},
      data_dir=data_dir, disable_shuffling=True,
      description=f'{name}: foreign-layout RLDS written by TFDS')
  return os.path.join(data_dir, name, '1.2.0')


def write_envlogger(episodes: Sequence[Dict[str, Any]], data_dir: str, flat: bool,
                    name: str = '', state_dim: int = 10, action_dim: int = 2,
                    with_actions: bool = True) -> str:
  """The episodes in envlogger's layout at data_dir/NAME/1.2.0 (returned); the sizes
  are the episodes' own (the defaults, reach's, serve an empty dataset). Without
  `with_actions`, a state-only dataset: no action feature at all."""
  rows = list(envlogger_episodes(episodes, flat, with_actions))
  if rows:
    if with_actions:
      action_dim = rows[0]['steps']['action'].shape[-1]
    state_dim = np.shape(episodes[0]['steps']['observation']['state'])[-1]
  state = tfds.features.Tensor(shape=(state_dim,), dtype=np.float32)
  actions = ({'action': tfds.features.Tensor(shape=(action_dim,), dtype=np.float32)}
             if with_actions else {})
  features = {'steps': tfds.features.Dataset({
      'observation': state if flat else {'state': state}, **actions,
      **_FLAGS}), 'episode_id': np.int64}
  return _write(name or ('envlogger_flat' if flat else 'envlogger_dict'), data_dir, rows,
                features)


def write_open_x(episodes: Sequence[Dict[str, Any]], data_dir: str, image_size: int = 8,
                 instructions: Sequence[str] = ('reach the target',),
                 name: str = 'open_x_style', with_state: bool = True) -> str:
  """The episodes in an Open X-style layout at data_dir/NAME/1.2.0 (returned); without
  `with_state`, images and instructions only."""
  rows = list(open_x_episodes(episodes, image_size, instructions, with_state))
  first = rows[0]['steps']
  action_dim = first['action'].shape[-1]
  image_shape = first['observation']['image'].shape[1:]
  # TFDS's Image holds 1, 3 or 4 channels; a frame stack is a plain uint8 tensor.
  image = (tfds.features.Image(shape=image_shape) if image_shape[-1] in (1, 3, 4)
           else tfds.features.Tensor(shape=image_shape, dtype=np.uint8))
  observation = {'image': image}
  if with_state:
    observation['state'] = tfds.features.Tensor(
        shape=first['observation']['state'].shape[1:], dtype=np.float32)
  features = {'steps': tfds.features.Dataset({
      'observation': observation,
      'action': tfds.features.Tensor(shape=(action_dim,), dtype=np.float32),
      'language_instruction': tfds.features.Text(),
      **_FLAGS})}
  return _write(name, data_dir, rows, features)


def main(argv):
  del argv
  episodes, _ = rlds.load_episodes(flags.FLAGS.demos)
  for path in (write_envlogger(episodes, flags.FLAGS.out, flat=False),
               write_envlogger(episodes, flags.FLAGS.out, flat=True),
               write_open_x(episodes, flags.FLAGS.out),
               write_open_x(episodes, flags.FLAGS.out, name='open_x_images_only',
                            with_state=False)):
    print(path)


if __name__ == '__main__':
  flags.DEFINE_string('demos', None, 'a dataset of ours (e.g. WORKDIR/demos)', required=True)
  flags.DEFINE_string('out', None, 'the data_dir to write the foreign datasets to',
                      required=True)
  app.run(main)
