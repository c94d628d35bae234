"""The run's working directory: checked writable up front, holding the resolved config."""

import errno
import json
import os
import tempfile

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
