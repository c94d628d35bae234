"""The reference comparison: single-task policies vs one multi-task policy, per task.

  python -m experiments.multitask_comparison --config=configs/multitask_comparison.py:tabletop_film \
      --workdir=/tmp/mt_study

  python -m experiments.multitask_comparison --config=configs/multitask_comparison.py:suite \
      --workdir=/tmp/suite_study

The config is the multi-task config (configs/multitask.py, same args: an environment or a
preset, then optional `debug`) plus a `study` section; every run of the study is built from
it, so any `--config.*` override (network, optimizer, train, env) reaches the single-task and
the multi-task runs alike (imitation/studies/multitask_comparison.py).
"""

import ml_collections

from configs import common
from configs import multitask


PRESETS = multitask.PRESETS  # accepted after the colon, as configs/multitask.py takes them


def get_config(arg: str = 'tabletop_film') -> ml_collections.ConfigDict:
  config = multitask.get_config(arg or 'tabletop_film')
  config.algorithm = 'multitask_comparison'
  config.study = ml_collections.ConfigDict()
  config.study.seeds = (0, 1, 2)
  config.study.tasks = tuple(config.env.kwargs.tasks)  # tabletop: grasp, push, insert
  # Each task's own dataset; the multi-task run uses all of them.
  config.study.demos_per_task = 4096 if config.env.name == 'tabletop' else 256
  # On seen combinations, and again on held-out ones.
  config.study.eval_episodes_per_task = 256 if config.env.name == 'tabletop' else 128
  config.study.loss_weights = ('uniform', 'success_rate')  # one multi-task run per rule
  common.add_study_engine(config.study)
  if 'debug' in (arg or '').split(','):
    config.study.seeds = (0,)
    config.study.demos_per_task = 16
    config.study.eval_episodes_per_task = 8
  return config
