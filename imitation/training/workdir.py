"""The run's working directory: checked writable up front, held by one writer, holding the
resolved config."""

import errno
import fcntl
import json
import os
import socket
import tempfile
from typing import Dict, TextIO

import ml_collections

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


def save_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Saves the resolved config as JSON; a run is reproduced from this file."""
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def write_json(workdir: str, name: str, data) -> str:
  path = os.path.join(workdir, name)
  with open(path + '.tmp', 'w') as f:
    json.dump(data, f, indent=2, sort_keys=False)
  os.replace(path + '.tmp', path)
  return path
