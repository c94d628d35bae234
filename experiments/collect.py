"""Collect expert demonstrations as RLDS: `--config=configs/collect.py:reach --workdir=DIR`."""

import json
import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from imitation.data import collect
from imitation import console
from imitation.errors import ImitationError
from imitation.training import workdir as workdir_lib

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Collection config file:arg.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'The dataset is written to WORKDIR/demos.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  console.quiet_third_party_logs()
  config = _CONFIG.value
  try:
    workdir = workdir_lib.prepare(_WORKDIR.value)
    workdir_lib.save_config(workdir, config)
    summary = collect.collect_demonstrations(
        config.env, config.collect, os.path.join(workdir, 'demos')
    )
  except ImitationError as e:
    sys.exit(f'error: {e}')
  print(json.dumps(summary, indent=2))


if __name__ == '__main__':
  app.run(main)
