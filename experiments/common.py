"""What every entry point shares: the --config/--workdir flags, quiet logs, one-line errors."""

import logging
import os
import sys
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging as absl_logging
import jax
import ml_collections
from ml_collections import config_flags

from imitation.errors import ImitationError
from imitation.training import distributed

# The project's own source folders: their INFO lines are the run's story.
_PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OUR_DIRS = tuple(
    os.path.join(_PROJECT_DIR, name) + os.sep
    for name in ('imitation', 'experiments', 'configs', 'benchmarks')
)


def _is_ours(record: logging.LogRecord) -> bool:
  return record.levelno >= logging.WARNING or record.pathname.startswith(_OUR_DIRS)


def quiet_third_party_logs() -> None:
  """Orbax, TFDS and XLA log every file they touch at INFO, drowning the run's own lines."""
  absl_logging.get_absl_handler().addFilter(_is_ours)


# Compiled programs persist here across runs (a second run of the same config skips most
# compilation); `--compilation_cache=` (empty) turns it off, $IMITATION_COMPILATION_CACHE moves it.
DEFAULT_COMPILATION_CACHE = os.environ.get(
    'IMITATION_COMPILATION_CACHE',
    os.path.join(os.path.expanduser('~'), '.cache', 'imitation', 'jax_compilation_cache'))


def use_compilation_cache(directory: str, min_compile_time_s: float = 1.0) -> None:
  """JAX's persistent compilation cache in `directory` ('' leaves it off); programs that
  compile in under `min_compile_time_s` are not worth a file."""
  if directory:
    jax.config.update('jax_compilation_cache_dir', directory)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', min_compile_time_s)


def run(job: Callable[[ml_collections.ConfigDict, str], Any]) -> None:
  """Runs `job(config, workdir)` under absl; a user error exits with its one-line message.

  The flags are defined here, not at import, so scripts with flags of their own (the
  benchmarks) can import this module.
  """
  config = config_flags.DEFINE_config_file(
      'config', None, 'Config file:arg, e.g. configs/bc.py:reach.')
  workdir = flags.DEFINE_string('workdir', None, 'Directory for everything the run writes.')
  cache = flags.DEFINE_string(
      'compilation_cache', DEFAULT_COMPILATION_CACHE,
      'Persistent JAX compilation cache directory; empty turns it off.')
  flags.mark_flags_as_required(['config', 'workdir'])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    quiet_third_party_logs()
    use_compilation_cache(cache.value)
    try:
      distributed.initialize(config.value.get('distributed'))  # before any device is used
      job(config.value, workdir.value)
    except ImitationError as e:
      sys.exit(f'error: {e}')

  app.run(main)
