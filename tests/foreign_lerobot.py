r"""Our demos through LeRobot's own code: written by LeRobot's writer, opened by its dataset class.

LeRobot (0.4.4) pulls PyTorch and pins numpy 2.2, so it lives in a venv of its own
(docs/data.md, "LeRobot"); this script's `write` and `check` run there and import nothing
of this project. `export` runs in the project's venv and dumps our episodes to .npz files
(one per episode, the steps with a real action; the camera's newest frame) for them:

  python -m tests.foreign_lerobot export --demos=WORKDIR/demos --out=/tmp/lr_npz --frame_stack=2
  LEROBOT_VENV/bin/python tests/foreign_lerobot.py write --npz=/tmp/lr_npz --out=/tmp/lr_ds
  LEROBOT_VENV/bin/python tests/foreign_lerobot.py check --npz=/tmp/lr_npz --dataset=/tmp/lr_ds

`write` records every frame with LeRobotDataset.create / add_frame / save_episode /
finalize (its default video codec, libsvtav1, or with --images=png its lossless `image`
feature); `check` opens a dataset with
LeRobotDataset(root=...) and compares its frame count, actions, states and statistics with
the .npz files, for a dataset LeRobot wrote or one `imitation.data.lerobot` wrote.
"""

import argparse
import glob
import json
import os

import numpy as np

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # local datasets only: never ask the hub
CAMERA = 'observation.images.front'


def export(demos: str, out: str, frame_stack: int) -> None:
  from imitation.data import episodes as episodes_lib  # pylint: disable=g-import-not-at-top
  from imitation.data import rlds  # pylint: disable=g-import-not-at-top
  os.makedirs(out, exist_ok=True)
  reader, metadata = rlds.iterate_episodes(demos, 'train')
  count = 0
  for i, episode in enumerate(reader):
    steps = episode['steps']
    real = episodes_lib.real_actions(steps)
    arrays = {'state': np.asarray(steps['observation']['state'], np.float32)[real],
              'action': np.asarray(steps['action'], np.float32)[real],
              'reward': np.asarray(steps['reward'], np.float32)[real],
              'success': np.asarray(bool(episode['episode_metadata'].get('success', False))),
              'task_id': np.asarray(int(episode['episode_metadata'].get('task_id', 0)))}
    if 'image' in steps['observation']:
      arrays['image'] = episodes_lib.newest_frames(
          np.asarray(steps['observation']['image'], np.uint8)[real], frame_stack)
    np.savez(os.path.join(out, f'episode_{i:06d}.npz'), **arrays)
    count += 1
  with open(os.path.join(out, 'meta.json'), 'w') as f:
    json.dump({'env_name': metadata.get('env_name', ''), 'num_episodes': count}, f)
  print(f'{count} episodes to {out}')


def _episodes(npz: str):
  for path in sorted(glob.glob(os.path.join(npz, 'episode_*.npz'))):
    with np.load(path) as data:
      yield {k: data[k] for k in data.files}


def write(npz: str, out: str, fps: int, vcodec: str, video: bool = True) -> None:
  from lerobot.datasets.lerobot_dataset import LeRobotDataset  # pylint: disable=g-import-not-at-top
  with open(os.path.join(npz, 'meta.json')) as f:
    env_name = json.load(f)['env_name']
  first = next(_episodes(npz))
  features = {
      'observation.state': {'dtype': 'float32', 'shape': first['state'].shape[1:],
                            'names': None},
      'action': {'dtype': 'float32', 'shape': first['action'].shape[1:], 'names': None},
      'next.reward': {'dtype': 'float32', 'shape': (1,), 'names': None},
      'next.success': {'dtype': 'bool', 'shape': (1,), 'names': None},
  }
  if 'image' in first:
    features[CAMERA] = {'dtype': 'video' if video else 'image', 'shape': first['image'].shape[1:],
                        'names': ['height', 'width', 'channels']}
  dataset = LeRobotDataset.create(repo_id=f'imitation/{env_name}', fps=fps,
                                  features=features, root=out, robot_type=env_name,
                                  use_videos=video, vcodec=vcodec)
  for episode in _episodes(npz):
    length = len(episode['action'])
    for t in range(length):
      frame = {'observation.state': episode['state'][t], 'action': episode['action'][t],
               'next.reward': episode['reward'][t:t + 1],
               'next.success': np.asarray([bool(episode['success']) and t == length - 1]),
               'task': f'task {int(episode["task_id"])}'}
      if 'image' in episode:
        frame[CAMERA] = episode['image'][t]
      dataset.add_frame(frame)
    dataset.save_episode()
  dataset.finalize()
  print(f'LeRobot wrote {dataset.meta.total_episodes} episodes, '
        f'{dataset.meta.total_frames} frames to {out}')


def check(npz: str, dataset_root: str) -> None:
  from lerobot.datasets.lerobot_dataset import LeRobotDataset  # pylint: disable=g-import-not-at-top
  dataset = LeRobotDataset(repo_id='imitation/check', root=dataset_root, video_backend='pyav')
  episodes = list(_episodes(npz))
  actions = np.concatenate([e['action'] for e in episodes])
  states = np.concatenate([e['state'] for e in episodes])
  assert len(dataset) == len(actions), (len(dataset), len(actions))
  assert dataset.num_episodes == len(episodes), (dataset.num_episodes, len(episodes))
  table = dataset.hf_dataset.with_format('numpy')
  np.testing.assert_array_equal(np.stack(table['action']), actions)
  np.testing.assert_array_equal(np.stack(table['observation.state']), states)
  stats = dataset.meta.stats
  for key, values in (('action', actions), ('observation.state', states)):
    np.testing.assert_allclose(stats[key]['mean'], values.astype(np.float64).mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats[key]['std'], values.astype(np.float64).std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats[key]['min'], values.min(0))
    np.testing.assert_allclose(stats[key]['max'], values.max(0))
  line = (f'LeRobotDataset opened {dataset_root}: {dataset.num_episodes} episodes, '
          f'{len(dataset)} frames; actions and states equal, stats match')
  if CAMERA in dataset.meta.features:
    item = dataset[len(dataset) - 1]  # a frame as LeRobot decodes it (video or PNG)
    frame = (item[CAMERA].numpy().transpose(1, 2, 0) * 255.0).round()
    error = np.abs(frame - episodes[-1]['image'][-1].astype(np.float64)).mean()
    line += f'; last frame decoded, mean abs pixel error {error:.2f} / 255'
  print(line)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('mode', choices=('export', 'write', 'check'))
  parser.add_argument('--demos', help='export: our RLDS dataset')
  parser.add_argument('--npz', help='write, check: the exported episodes')
  parser.add_argument('--out', help='export: the .npz folder; write: the dataset root')
  parser.add_argument('--dataset', help='check: the LeRobot dataset root')
  parser.add_argument('--frame_stack', type=int, default=1)
  parser.add_argument('--fps', type=int, default=10)
  parser.add_argument('--vcodec', default='libsvtav1')
  parser.add_argument('--images', choices=('video', 'png'), default='video',
                      help="write: the camera as LeRobot's video or as its PNG `image` feature")
  args = parser.parse_args()
  if args.mode == 'export':
    export(args.demos, args.out, args.frame_stack)
  elif args.mode == 'write':
    write(args.npz, args.out, args.fps, args.vcodec, video=args.images == 'video')
  else:
    check(args.npz, args.dataset)


if __name__ == '__main__':
  main()
