"""The compounding-error study: BC given more demos vs DAgger given labels, on one budget axis.

  python -m experiments.compounding_error --config=configs/compounding_error.py:drive \
      --workdir=/tmp/study_drive --config.study.seeds='(0, 1, 2)' \
      --config.study.bc_demos='(8, 12, 16, 24, 32)'

The config is the DAgger config of the task (configs/dagger.py) plus a `study` section. Every
run of the study is built from it: DAgger runs as they are (one per variant and seed), BC
baselines with `study.bc_train` in place of `train`'s step counts, `study.bc_demos`
demonstrations and `study.bc_action_key` as the target. So any `--config.*` override
(network, optimizer, env, eval) reaches both.
Args after the colon: the task, then optional `debug` (one seed, tiny runs).
"""

import ml_collections

from configs import common
from configs import dagger


def get_config(arg: str = 'drive') -> ml_collections.ConfigDict:
  config = dagger.get_config(arg)
  config.algorithm = 'compounding_error_study'
  debug = 'debug' in (arg or '').split(',')
  config.study = ml_collections.ConfigDict()
  config.study.seeds = (0, 1, 2)
  config.study.bc_demos = (8, 16, 24, 32)  # BC dataset sizes (episodes)
  config.study.variants = ('classic', 'intervention', 'ensemble')  # DAgger variants
  config.study.horizons = (50, 100, 200, 300, 450, 600)  # for success vs horizon
  # BC baselines train for this many updates (DAgger's train.num_steps is per round).
  config.study.bc_train = dict(num_steps=20_000, eval_every=5_000, checkpoint_every=5_000)
  # BC learns the executed action (DAgger the expert's label; the same on expert demos).
  config.study.bc_action_key = 'action'
  common.add_study_engine(config.study)
  if debug:
    config.study.seeds = (0,)
    config.study.bc_demos = (config.collect.num_episodes,)
    config.study.variants = ('classic',)
    config.study.horizons = (50, 100)
    config.study.bc_train = dict(num_steps=40, eval_every=20, checkpoint_every=20)
  return config
