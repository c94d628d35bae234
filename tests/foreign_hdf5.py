r"""Datasets as robomimic, ManiSkill and Minari write them: h5py files and Minari's own.

Our expert's episodes are rewritten by h5py directly, following robomimic's and ManiSkill's
documented schemas (nothing of imitation/data/hdf5.py is used), and by Minari's own
`create_dataset_from_buffers`, so tests and docs/data.md can check that
`data.format=robomimic` / `maniskill` / `minari` read data this project did not write:

  robomimic  data/demo_N/{obs/{robot0_proprio, object[, agentview_image]}, next_obs,
             actions, rewards, dones, states}, data.attrs[env_args] (JSON), and the filter
             keys mask/train (9 in 10 demos) and mask/valid (the rest). The state is split
             into two keys whose alphabetical order is not the env's, as real files' are.
  maniskill  traj_N/{obs [N + 1, D], actions [N, A], rewards, success, terminated,
             truncated} and FILE.json beside it with env_info.env_id.
  minari     a Minari dataset (HDF5 storage) of the same episodes: observations
             {state[, image]} [N + 1], actions [N], infos.success; images stored raw
             (Minari's default JPEG encoding would change the pixels).

  python -m tests.foreign_hdf5 --demos=WORKDIR/demos --out=/tmp/foreign
"""

import json
import os
from typing import Any, Dict, Sequence

from absl import app
from absl import flags
import h5py
import numpy as np

from imitation.data import rlds

# How robomimic's file names the split halves of our state (its order: proprio first).
PROPRIO, OBJECT, CAMERA = 'robot0_proprio', 'object', 'agentview_image'
STATE_KEYS = (PROPRIO, OBJECT)


def _real_steps(episode: Dict[str, Any]):
  """(steps with a real action, all observations incl. the final one) of our episode."""
  steps = episode['steps']
  real = ~np.asarray(steps['is_last'], bool)
  return steps, real


def write_robomimic(episodes: Sequence[Dict[str, Any]], path: str, env_name: str) -> str:
  """The episodes as one robomimic HDF5 file at `path` (returned)."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  names = [f'demo_{i}' for i in range(len(episodes))]
  with h5py.File(path, 'w') as f:
    data = f.create_group('data')
    data.attrs['env_args'] = json.dumps({'env_name': env_name, 'type': 0, 'env_kwargs': {}})
    total = 0
    for name, episode in zip(names, episodes):
      steps, real = _real_steps(episode)
      state = np.asarray(steps['observation']['state'], np.float32)
      half = state.shape[-1] // 2
      observations = {PROPRIO: state[:, :half], OBJECT: state[:, half:]}
      if 'image' in steps['observation']:
        observations[CAMERA] = np.asarray(steps['observation']['image'], np.uint8)
      demo = data.create_group(name)
      length = int(real.sum())
      for group, rows in (('obs', slice(0, length)), ('next_obs', slice(1, length + 1))):
        for key, value in observations.items():
          demo.create_dataset(f'{group}/{key}', data=value[rows])
      demo.create_dataset('actions', data=np.asarray(steps['action'], np.float32)[real])
      demo.create_dataset('rewards', data=np.asarray(steps['reward'], np.float32)[real])
      demo.create_dataset('dones', data=(np.arange(length) == length - 1).astype(np.int64))
      demo.create_dataset('states', data=state[:length])
      demo.attrs['num_samples'] = length
      total += length
    data.attrs['total'] = total
    f.create_dataset('mask/train', data=np.asarray(
        [n for i, n in enumerate(names) if i % 10 != 9], dtype='S'))
    f.create_dataset('mask/valid', data=np.asarray(
        [n for i, n in enumerate(names) if i % 10 == 9], dtype='S'))
  return path


def write_maniskill(episodes: Sequence[Dict[str, Any]], path: str, env_id: str) -> str:
  """The episodes as a ManiSkill trajectory file at `path` (returned) and its JSON."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with h5py.File(path, 'w') as f:
    for i, episode in enumerate(episodes):
      steps, real = _real_steps(episode)
      length = int(real.sum())
      trajectory = f.create_group(f'traj_{i}')
      trajectory.create_dataset(
          'obs', data=np.asarray(steps['observation']['state'], np.float32)[:length + 1])
      trajectory.create_dataset('actions', data=np.asarray(steps['action'], np.float32)[real])
      trajectory.create_dataset('rewards', data=np.asarray(steps['reward'], np.float32)[real])
      succeeded = bool(episode['episode_metadata']['success'])
      last = np.arange(length) == length - 1
      trajectory.create_dataset('success', data=last & succeeded)
      trajectory.create_dataset('terminated', data=last & succeeded)
      trajectory.create_dataset('truncated', data=np.zeros(length, bool))
  with open(os.path.splitext(path)[0] + '.json', 'w') as f:
    json.dump({'env_info': {'env_id': env_id, 'max_episode_steps': 0},
               'episodes': [{'episode_id': i, 'control_mode': 'unknown'}
                            for i in range(len(episodes))]}, f)
  return path


def write_minari(episodes: Sequence[Dict[str, Any]], datasets_dir: str,
                 dataset_id: str = 'imitation/reach/expert-v0') -> str:
  """The episodes as a Minari dataset under `datasets_dir` (returned: its folder). Our
  envs are not gymnasium's, so it records the spaces and no env spec, as a dataset from
  a robot without a registered simulator does."""
  import gymnasium  # pylint: disable=g-import-not-at-top
  import minari  # pylint: disable=g-import-not-at-top
  first = episodes[0]['steps']
  spaces = {'state': gymnasium.spaces.Box(
      -np.inf, np.inf, np.shape(first['observation']['state'])[1:], np.float32)}
  if 'image' in first['observation']:
    spaces['image'] = gymnasium.spaces.Box(
        0, 255, np.shape(first['observation']['image'])[1:], np.uint8)
  action_size = np.shape(first['action'])[-1]
  buffers = []
  for i, episode in enumerate(episodes):
    steps, real = _real_steps(episode)
    length = int(real.sum())
    last = np.arange(length) == length - 1
    succeeded = bool(episode['episode_metadata']['success'])
    buffers.append(minari.data_collector.EpisodeBuffer(
        id=i,
        observations={k: np.asarray(steps['observation'][k])[:length + 1] for k in spaces},
        actions=np.asarray(steps['action'], np.float32)[real],
        rewards=np.asarray(steps['reward'], np.float32)[real],
        terminations=last & succeeded, truncations=last & ~succeeded,
        infos={'success': np.arange(length + 1) == length if succeeded
               else np.zeros(length + 1, bool)}))
  previous = os.environ.get('MINARI_DATASETS_PATH')
  os.environ['MINARI_DATASETS_PATH'] = datasets_dir
  try:
    dataset = minari.create_dataset_from_buffers(
        dataset_id, buffers, observation_space=gymnasium.spaces.Dict(spaces),
        action_space=gymnasium.spaces.Box(-1.0, 1.0, (action_size,), np.float32),
        algorithm_name='scripted expert', author='imitation', author_email='none',
        code_permalink='tests/foreign_hdf5.py', description="this project's expert demos",
        eval_env=None, data_format='hdf5', jpeg_encoding=False)
  finally:
    if previous is None:
      del os.environ['MINARI_DATASETS_PATH']
    else:
      os.environ['MINARI_DATASETS_PATH'] = previous
  return os.path.join(datasets_dir, dataset.id)


def main(argv):
  del argv
  episodes, metadata = rlds.load_episodes(flags.FLAGS.demos)
  env_name = metadata.get('env_name', 'reach')
  out = flags.FLAGS.out
  print(write_robomimic(episodes, os.path.join(out, 'robomimic.hdf5'), env_name))
  print(write_maniskill(episodes, os.path.join(out, 'maniskill.h5'), env_name))
  print(write_minari(episodes, os.path.join(out, 'minari')))


if __name__ == '__main__':
  flags.DEFINE_string('demos', None, 'a dataset of ours (e.g. WORKDIR/demos)', required=True)
  flags.DEFINE_string('out', None, 'the folder to write the three datasets to', required=True)
  app.run(main)
