"""Collect expert demonstrations as RLDS: `--config=configs/collect.py:reach --workdir=DIR`.

The dataset is written to WORKDIR/demos/NAME/VERSION (collect.dataset_name, default
`<task>_expert`, and collect.dataset_version), its summary to WORKDIR/results.json.
"""

import json

from experiments import common
from imitation.agents import expert


def collect(config, workdir):
  results = expert.collect(config, workdir)
  print(json.dumps({k: v for k, v in results.items() if k != 'config'}, indent=2))


if __name__ == '__main__':
  common.run(collect)
