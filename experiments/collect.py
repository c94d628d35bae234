"""Collect expert demonstrations as RLDS: `--config=configs/collect.py:reach --workdir=DIR`.

The dataset is written to WORKDIR/demos.
"""

import json
import os

from experiments import common
from imitation.data import collect as collect_lib
from imitation.training import workdir as workdir_lib


def collect(config, workdir):
  workdir = workdir_lib.prepare(workdir)
  workdir_lib.save_config(workdir, config)
  summary = collect_lib.collect_demonstrations(
      config.env, config.collect, os.path.join(workdir, 'demos')
  )
  print(json.dumps(summary, indent=2))


if __name__ == '__main__':
  common.run(collect)
