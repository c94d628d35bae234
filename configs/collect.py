"""Collect expert demonstrations of a task as an RLDS dataset.

  python -m experiments.collect --config=configs/collect.py:reach --workdir=/tmp/demos_reach

Args after the colon: the task, then optional `debug` (a handful of episodes).
The dataset is written to WORKDIR/demos/NAME/VERSION (collect.dataset_name, default
`<task>_expert`, and collect.dataset_version), its summary to WORKDIR/results.json.
"""

import ml_collections

from configs import common


def get_config(arg: str = 'reach') -> ml_collections.ConfigDict:
  args = common.parse_arg(arg, task='reach', debug=False)
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.env = common.env_config(args['task'])
  config.collect = common.collect_config(args['task'], seed=config.get_ref('seed'))
  if args['debug']:
    config.collect.num_episodes = 8
    config.collect.num_parallel_envs = 8
  return config
