"""What every entry point shares: the --config/--workdir flags, quiet logs, one-line errors."""

import logging
import os
import sys
from typing import Any, Callable, List, NamedTuple, Sequence

from absl import app
from absl import flags
from absl import logging as absl_logging
import jax
import ml_collections
from ml_collections import config_flags

from imitation import validation
from imitation.errors import ConfigError, ImitationError
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


class CommandLine(NamedTuple):
  """The flags every entry point defines (see `define_flags`)."""
  config: Any  # the --config flag holder
  workdir: Any
  compilation_cache: Any


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> CommandLine:
  """Defines --config, --workdir and --compilation_cache in `flag_values`."""
  config = config_flags.DEFINE_config_file(
      'config', None, 'Config file:arg, e.g. configs/bc.py:reach.', flag_values=flag_values)
  workdir = flags.DEFINE_string('workdir', None, 'Directory for everything the run writes.',
                                flag_values=flag_values)
  cache = flags.DEFINE_string(
      'compilation_cache', DEFAULT_COMPILATION_CACHE,
      'Persistent JAX compilation cache directory; empty turns it off.',
      flag_values=flag_values)
  flags.mark_flags_as_required(['config', 'workdir'], flag_values=flag_values)
  return CommandLine(config, workdir, cache)


def _last_line(error: BaseException) -> str:
  """What went wrong, in one line: the innermost cause's message (ml_collections wraps a
  missing file or a bad override in layers of context)."""
  while error.__cause__ is not None:
    error = error.__cause__
  lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
  line = lines[-1] if lines else type(error).__name__
  while len(line) > 1 and line[0] in '"\'' and line[-1] == line[0]:  # KeyError's repr
    line = line[1:-1]
  return line


def parse_flags(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> List[str]:
  """absl's flag parsing, with a bad flag or config override (an unknown key, a value of the
  wrong type, a config argument the file rejects) raised as a one-line ConfigError."""
  try:
    return flag_values(argv)
  except flags.Error as e:  # its message may hold a config file's whole traceback
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    raise ConfigError(lines[0].rstrip(':') + (f': {lines[-1]}' if len(lines) > 1 else '')
                      ) from None
  except (AttributeError, KeyError) as e:
    raise ConfigError(f'unknown config key {_last_line(e)}') from None
  except (OSError, ValueError, TypeError) as e:
    raise ConfigError(f'--config: {_last_line(e)}') from None


def load_config(command_line: CommandLine,
                flag_values: flags.FlagValues = flags.FLAGS) -> ml_collections.ConfigDict:
  """The parsed --config, checked whole (`validation.validate`) before any work."""
  config = command_line.config.value
  try:
    config.get('seed')  # a config file that failed to load raises on first use
  except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
    raise ConfigError(f'cannot load --config={flag_values["config"].config_filename}: '
                      f'{_last_line(e)}') from None
  validation.validate(config)
  return config


def _exit_on_error(function: Callable[..., Any], *args: Any) -> Any:
  try:
    return function(*args)
  except ImitationError as e:
    sys.exit(f'error: {e}')


def run(job: Callable[[ml_collections.ConfigDict, str], Any]) -> None:
  """Runs `job(config, workdir)` under absl; a user error (a bad flag, config value, dataset
  or workdir) exits non-zero with its one-line message, before any work where it can.

  The flags are defined here, not at import, so scripts with flags of their own (the
  benchmarks) can import this module.
  """
  command_line = define_flags()

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    quiet_third_party_logs()
    use_compilation_cache(command_line.compilation_cache.value)
    config = _exit_on_error(load_config, command_line)
    workdir = command_line.workdir.value

    def start():
      distributed.initialize(config.get('distributed'))  # before any device is used
      job(config, workdir)

    _exit_on_error(start)

  app.run(main, flags_parser=lambda argv: _exit_on_error(parse_flags, argv))
