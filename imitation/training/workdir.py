"""The run's working directory: checked writable up front, held by one writer, holding the
resolved config (which a finished run keeps)."""

import errno
import fcntl
import json
import os
import socket
import tempfile
from typing import Any, Dict, List, TextIO

import ml_collections

from imitation import atomic
from imitation.errors import WorkdirError


def prepare(workdir: str) -> str:
  """Creates `workdir` if needed and checks that files can be written in it."""
  if not workdir:
    raise WorkdirError('no workdir given (pass --workdir=DIR)')
  workdir = os.path.abspath(os.path.expanduser(workdir))
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=workdir, prefix='.write_test'):
      pass
  except OSError as e:
    reason = e.strerror or errno.errorcode.get(e.errno, str(e))
    raise WorkdirError(f'cannot write to workdir {workdir}: {reason}') from None
  return workdir


LOCK_FILE = '.lock'
CONFIG_FILE = 'config.json'
_HELD: Dict[str, TextIO] = {}  # workdir -> its lock file, open until this process exits


def lock(workdir: str) -> None:
  """Makes this process the one writer of `workdir`: an exclusive `flock` on WORKDIR/.lock,
  held until the process exits. The OS drops it when the process dies, so a killed run
  never blocks the next; a second live process gets one line naming the holder. A process
  may lock the same workdir again (a run resumed in-process)."""
  if workdir in _HELD:
    return
  handle = open(os.path.join(workdir, LOCK_FILE), 'a+')
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    handle.seek(0)
    holder = handle.read().strip() or 'another process'
    handle.close()
    raise WorkdirError(f'workdir {workdir} is in use by {holder}: wait for that run to end '
                       'or pass another --workdir') from None
  handle.seek(0)
  handle.truncate()
  handle.write(f'pid {os.getpid()} on {socket.gethostname()}\n')
  handle.flush()
  _HELD[workdir] = handle


# Keys a finished run may be rerun with changed: how it executes, not what it computes (on
# another machine, without the bar), and which runs a study gathers (`study`: its seeds,
# tasks, ...; each of its runs keeps its own workdir, refused there when changed).
_RERUNNABLE_KEYS = ('progress_bar', 'num_devices', 'distributed', 'data.streaming', 'study')


def _flat(tree: Any, prefix: str = '') -> Dict[str, Any]:
  if isinstance(tree, dict):
    flat = {}
    for key, value in tree.items():
      flat.update(_flat(value, f'{prefix}{key}.'))
    return flat
  return {prefix[:-1]: tree}


def config_changes(workdir: str, config: ml_collections.ConfigDict) -> List[str]:
  """'key: saved -> new' for each config value that differs from the workdir's config.json
  (none when there is no config.json), leaving out the keys a rerun may change."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return []
  try:
    with open(path) as f:
      saved = _flat(json.load(f))
  except ValueError:
    return [f'{CONFIG_FILE}: unreadable']
  new = _flat(json.loads(config.to_json_best_effort()))
  return [f'{key}: {saved.get(key, "absent")} -> {new.get(key, "absent")}'
          for key in sorted(set(saved) | set(new))
          if saved.get(key) != new.get(key)
          and not any(key == k or key.startswith(k + '.') for k in _RERUNNABLE_KEYS)]


def check_unchanged_if_finished(workdir: str, config: ml_collections.ConfigDict,
                                results_file: str) -> List[str]:
  """Refuses (a WorkdirError) a config that differs from that of the finished run in
  `workdir` (it holds `results_file`), before anything is written; returns the changes of an
  unfinished run's config (resuming with, e.g., more steps is allowed)."""
  changes = config_changes(workdir, config)
  if changes and os.path.exists(os.path.join(workdir, results_file)):
    shown = '; '.join(changes[:3]) + (f' (and {len(changes) - 3} more)' if len(changes) > 3 else '')
    raise WorkdirError(
        f'workdir {workdir} holds a finished run with another config ({shown}): pass another '
        f'--workdir, or delete {os.path.join(workdir, results_file)} to continue that run with '
        'this config')
  return changes


def save_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Saves the resolved config as JSON; a run is reproduced from this file."""
  atomic.write_text(os.path.join(workdir, CONFIG_FILE),
                    config.to_json_best_effort(indent=2, sort_keys=True))


def write_json(workdir: str, name: str, data) -> str:
  return atomic.write_json(os.path.join(workdir, name), data)
