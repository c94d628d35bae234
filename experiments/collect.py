"""Collect expert demonstrations as RLDS: `--config=configs/collect.py:reach --workdir=DIR`.

The dataset is written to WORKDIR/demos/NAME/VERSION (collect.dataset_name, default
`<task>_expert`, and collect.dataset_version), its summary to WORKDIR/results.json.
"""

import json

from experiments import common


def collect(config, workdir):
  from imitation.agents import expert  # pylint: disable=g-import-not-at-top
  results = expert.collect(config, workdir)
  print(json.dumps({k: v for k, v in results.items() if k != 'config'}, indent=2))


def main():
  common.run(collect, doc=__doc__, config_file='configs/collect.py')


if __name__ == '__main__':
  main()
