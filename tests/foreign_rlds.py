r"""RLDS datasets as other tools write them, made with TFDS's own dataset builder.

Our expert's episodes are rewritten in two foreign layouts by `tfds.dataset_builders.
store_as_tfds_dataset` (not by this project's writer), so tests and docs/data.md can check that
`data.format` reads data this project did not write:

  envlogger  steps/observation is one flat tensor (`flat=True`) or {'state': ...}; episode
             metadata are top-level fields (`episode_id`); the final step holds the last
             observation and a zero action that is not a real one.
  open_x     steps/observation/{state, image}, a per-step `language_instruction`, and only
             the L steps that carry real actions (no extra final observation).

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
                    instructions: Sequence[str]) -> Iterator[Dict]:
  """Episode i gets instruction i mod len(instructions) and a random camera image."""
  rng = np.random.default_rng(0)
  for index, episode in enumerate(episodes):
    steps = episode['steps']
    real = ~np.asarray(steps['is_last'], bool)  # drop the final observation-only step
    length = int(real.sum())
    is_last = np.arange(length) == length - 1
    yield {'steps': {
        'observation': {
            'state': np.asarray(steps['observation']['state'], np.float32)[real],
            'image': rng.integers(0, 256, (length, image_size, image_size, 3), np.uint8)},
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
                 name: str = 'open_x_style') -> str:
  """The episodes in an Open X-style layout at data_dir/NAME/1.2.0 (returned)."""
  rows = list(open_x_episodes(episodes, image_size, instructions))
  action_dim = rows[0]['steps']['action'].shape[-1]
  state_dim = rows[0]['steps']['observation']['state'].shape[-1]
  features = {'steps': tfds.features.Dataset({
      'observation': {'state': tfds.features.Tensor(shape=(state_dim,), dtype=np.float32),
                      'image': tfds.features.Image(shape=(image_size, image_size, 3))},
      'action': tfds.features.Tensor(shape=(action_dim,), dtype=np.float32),
      'language_instruction': tfds.features.Text(),
      **_FLAGS})}
  return _write(name, data_dir, rows, features)


def main(argv):
  del argv
  episodes, _ = rlds.load_episodes(flags.FLAGS.demos)
  for path in (write_envlogger(episodes, flags.FLAGS.out, flat=False),
               write_envlogger(episodes, flags.FLAGS.out, flat=True),
               write_open_x(episodes, flags.FLAGS.out)):
    print(path)


if __name__ == '__main__':
  flags.DEFINE_string('demos', None, 'a dataset of ours (e.g. WORKDIR/demos)', required=True)
  flags.DEFINE_string('out', None, 'the data_dir to write the foreign datasets to',
                      required=True)
  app.run(main)
