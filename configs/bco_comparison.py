"""The BCO study: BC with actions vs BCO(0) and BCO(alpha) on the same demos, over seeds.

  python -m experiments.bco_comparison --config=configs/bco_comparison.py:reach \
      --workdir=/tmp/bco_study_reach

The config is BCO's (configs/bco.py, same args: the task, then optional `debug`) plus a
`study` section; BC runs take its sections as they are (the demos with their actions),
so any `--config.*` override (network, train, env) reaches both
(imitation/studies/bco_comparison.py).
"""

import ml_collections

from configs import bco
from configs import common


def get_config(arg: str = 'reach') -> ml_collections.ConfigDict:
  config = bco.get_config(arg)
  config.algorithm = 'bco_study'
  config.study = ml_collections.ConfigDict()
  config.study.seeds = (0, 1, 2)
  common.add_study_engine(config.study)
  if 'debug' in (arg or '').split(','):
    config.study.seeds = (0, 1)
  return config
