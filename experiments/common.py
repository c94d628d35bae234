"""What every entry point shares: the --config/--workdir flags, a --help that answers at once,
quiet logs, one-line errors.

Only absl and ml_collections are imported here: JAX and the library load after the flags
are parsed (in `load_config` and the job), so `--help` and a bad flag cost no JAX start-up.
"""

import errno
import importlib
import logging
import os
import re
import sys
from typing import Any, Callable, List, NamedTuple, Sequence

from absl import app
from absl import flags
from absl import logging as absl_logging
import ml_collections
from ml_collections import config_flags

from imitation.errors import ConfigError, ImitationError

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


def use_compilation_cache(directory: str, min_compile_time_s: float = 0.0) -> None:
  """JAX's persistent compilation cache in `directory` ('' leaves it off), keeping programs
  that compile in `min_compile_time_s` or more. JAX's default (1 s) leaves out the dozens of
  small programs every run compiles (MJX moving its model to the device, key handling),
  about 2 s per start on a 2-core CPU; 0 keeps them all (docs/scale.md, "Time to first result")."""
  import jax  # pylint: disable=g-import-not-at-top
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
  except (SyntaxError, ImportError, NameError) as e:  # the config file itself is broken
    raise ConfigError(f'--config: the file does not import: {type(e).__name__}: '
                      f'{_last_line(e)}') from None
  except Exception as e:  # pylint: disable=broad-except  # whatever its get_config raised
    raise ConfigError(f'--config: its get_config raised {type(e).__name__}: '
                      f'{_last_line(e)}') from None


def load_config(command_line: CommandLine,
                flag_values: flags.FlagValues = flags.FLAGS) -> ml_collections.ConfigDict:
  """The parsed --config, checked whole (`validation.validate`) before any work."""
  from imitation import validation  # pylint: disable=g-import-not-at-top
  config = command_line.config.value
  try:
    config.get('seed')  # a config file that failed to load raises on first use
  except Exception as e:  # pylint: disable=broad-except  # whatever its get_config raised
    known = isinstance(e, (OSError, ValueError, KeyError, AttributeError, TypeError))
    raise ConfigError(f'cannot load --config={flag_values["config"].config_filename}: '
                      f'{"" if known else type(e).__name__ + ": "}{_last_line(e)}') from None
  validation.validate(config)
  return config


INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
INTERRUPTED = ('interrupted: the checkpoints and data already written are kept; run the same '
               'command again to resume')


_ABSOLUTE_PATH = re.compile(r'(?<![\w.])(/[^\s"\';:,]+)')


def disk_full_line(error: BaseException) -> str:
  """The one line for a write that found the disk full ('' for any other error): OSError's
  ENOSPC / EDQUOT, or TensorFlow's and orbax's errors that only say so in their text."""
  errno_ = getattr(error, 'errno', None)
  if errno_ not in (errno.ENOSPC, errno.EDQUOT) and 'No space left on device' not in str(error):
    return ''
  # TensorFlow's and orbax's errors name the file only in their text ('... local file
  # "/w/checkpoints/40.orbax-checkpoint-tmp/...": ... No space left on device').
  where = getattr(error, 'filename', None) or next(iter(_ABSOLUTE_PATH.findall(str(error))), '')
  return (f'no space left on device{f" writing {where}" if where else ""}: free some space '
          'and run the same command again; what was written before is whole and is kept')


def _exit_on_error(function: Callable[..., Any], *args: Any) -> Any:
  """`function(*args)`; a user error or a full disk exits 1 with its line, Ctrl-C exits
  130 with one."""
  try:
    return function(*args)
  except ImitationError as e:
    sys.exit(f'error: {e}')
  except KeyboardInterrupt:
    print(INTERRUPTED, file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT_CODE)
  except Exception as e:  # pylint: disable=broad-except
    line = disk_full_line(e)
    if not line:
      raise
    sys.exit(f'error: {line}')


HELP_FLAGS = ('-h', '--help', '-?', '--helpshort')


def help_text(doc: str, config_file: str, flag_names: Sequence[str] = (),
              flag_values: flags.FlagValues = flags.FLAGS) -> str:
  """The first line of the entry point's `doc`, its own flags (a line each; `flag_names` are
  its extra ones), the tasks and presets its config file accepts after the colon, then the
  rest of `doc`; `--helpfull` (absl's) lists every library's flags."""
  summary, _, details = doc.strip().partition('\n')
  lines = [summary.strip(), '', 'Flags:']
  for name in ('config', 'workdir', *flag_names, 'compilation_cache'):
    lines.append(f'  --{name}: {flag_values[name].help}')
  lines.append('  --config.KEY=VALUE: override any config value, e.g. --config.seed=1 '
               '--config.train.num_steps=5000')
  if config_file:
    lines += ['', *config_choices(config_file)]
  if details.strip():
    lines += ['', details.strip('\n')]
  lines += ['', '--helpfull lists the flags of every library as well.']
  return '\n'.join(lines)


def config_choices(config_file: str) -> List[str]:
  """'tasks: ...' and 'presets: ...' for `configs/NAME.py` (its PRESETS, if it has any)."""
  module = importlib.import_module(
      'configs.' + os.path.splitext(os.path.basename(config_file))[0])
  tasks = importlib.import_module('configs.common').TASKS
  lines = [f'{config_file}:ARG, where ARG is a task ({", ".join(sorted(tasks))})']
  presets = getattr(module, 'PRESETS', {})
  if presets:
    lines.append(f'  or a preset ({", ".join(sorted(presets))})')
  lines.append('  then optional ",debug" (tiny and fast), e.g. '
               f'--config={config_file}:{next(iter(sorted(presets)), "reach")},debug')
  return lines


def resolve_config_path(argv: Sequence[str]) -> List[str]:
  """`argv` with a relative `--config=configs/...` that does not exist here pointed at the
  project's own configs, so the installed commands (imitation-train, ...) run from anywhere."""
  resolved = []
  for arg in argv:
    if arg.startswith('--config='):
      path, colon, rest = arg[len('--config='):].partition(':')
      if path and not os.path.isabs(path) and not os.path.exists(path) and os.path.exists(
          os.path.join(_PROJECT_DIR, path)):
        arg = f'--config={os.path.join(_PROJECT_DIR, path)}{colon}{rest}'
    resolved.append(arg)
  return resolved


def run(job: Callable[[ml_collections.ConfigDict, str], Any], *, doc: str = '',
        config_file: str = '', flag_names: Sequence[str] = ()) -> None:
  """Runs `job(config, workdir)` under absl; a user error (a bad flag, config value, dataset
  or workdir) exits non-zero with its one-line message, before any work where it can.

  `doc` (the entry point's docstring), `config_file` (the config it usually takes) and
  `flag_names` (flags of its own) make its --help. The flags are defined here, not at import, so scripts with flags of their own
  (the benchmarks) can import this module.
  """
  command_line = define_flags()
  if any(arg in HELP_FLAGS for arg in sys.argv[1:]):
    print(help_text(doc, config_file, flag_names))
    sys.exit(0)
  sys.argv = resolve_config_path(sys.argv)

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    quiet_third_party_logs()
    use_compilation_cache(command_line.compilation_cache.value)
    config = _exit_on_error(load_config, command_line)
    workdir = command_line.workdir.value

    def start():
      from imitation.training import distributed  # pylint: disable=g-import-not-at-top
      distributed.initialize(config.get('distributed'))  # before any device is used
      job(config, workdir)

    _exit_on_error(start)

  app.run(main, flags_parser=lambda argv: _exit_on_error(parse_flags, argv))
