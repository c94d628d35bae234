"""Write demonstrations as a LeRobotDataset v3.0, for LeRobot's own tools and the hub.

  python -m experiments.export --config=configs/bc.py:reach \\
      --config.data.path=WORKDIR/demos --workdir=/tmp/reach_lerobot

The dataset is read as a training run reads it (`data.path`, `data.format`, `data.fields`,
the filters: collected demos, a DAgger run's aggregate, any format this project reads),
one episode at a time, and written to WORKDIR (`export.video`: the camera as mp4 or PNG).
`env.frame_stack` says how many frames each image stacks: only the newest is written; the
frame rate is the env's control rate unless `export.fps` says.
"""

import json
import os

from experiments import common


def export(config, workdir):
  # pylint: disable=g-import-not-at-top
  from imitation import envs
  from imitation.data import demonstrations
  from imitation.data import lerobot
  from imitation.errors import DatasetError
  # pylint: enable=g-import-not-at-top
  if not config.data.path:
    raise DatasetError('export needs --config.data.path: the dataset to write as LeRobot')
  path = demonstrations.resolve_dataset(config, workdir)
  robot_type = config.env.name
  if not config.export.fps and not robot_type:
    raise DatasetError("export.fps=0 takes the env's control rate and env.name is empty: "
                       'set --config.export.fps')
  fps = config.export.fps or int(round(1.0 / envs.make_from_config(config.env).dt))
  summary = lerobot.write_dataset(
      demonstrations.iterate_training_episodes(config, path), workdir, fps=fps,
      robot_type=robot_type, frame_stack=config.env.frame_stack,
      video=config.export.video, codec=config.export.codec, crf=config.export.crf,
      pixel_format=config.export.pixel_format,
      task_names=tuple(config.data.task_names))
  summary.update(dataset=os.path.abspath(workdir), source=path, fps=fps)
  print(json.dumps(summary, indent=2))


def main():
  common.run(export, doc=__doc__, config_file='configs/bc.py')


if __name__ == '__main__':
  main()
