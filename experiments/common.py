"""What every entry point shares: the --config/--workdir flags and one-line user errors."""

import sys
from typing import Any, Callable

from absl import app
from absl import flags
import ml_collections
from ml_collections import config_flags

from imitation import console
from imitation.errors import ImitationError

CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file:arg, e.g. configs/bc.py:reach.')
WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for everything the run writes.')
flags.mark_flags_as_required(['config', 'workdir'])


def run(job: Callable[[ml_collections.ConfigDict, str], Any]) -> None:
  """Runs `job(config, workdir)` under absl; a user error exits with its one-line message."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    console.quiet_third_party_logs()
    try:
      job(CONFIG.value, WORKDIR.value)
    except ImitationError as e:
      sys.exit(f'error: {e}')

  app.run(main)
