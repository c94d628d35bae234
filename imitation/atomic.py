"""Writes that are whole or absent, so a run killed at any moment leaves nothing half-written.

A file is written to a temporary name beside it and renamed over it (`write_text`,
`write_json`). A directory (a dataset, an exported policy) is built under
`FINAL.incomplete` and renamed into place only when complete (`directory`); a leftover
`.incomplete` from a killed writer is removed by the next. Replacing an existing directory
takes two renames (the old one goes to `FINAL.replaced` first); a kill between them leaves
`.replaced` behind, which `recover` puts back, so readers see the old version whole.
"""

import contextlib
import glob
import json
import os
import shutil
from typing import Any, Callable, Iterator

from absl import logging

INCOMPLETE = '.incomplete'
REPLACED = '.replaced'


def write_with(path: str, write: Callable[[Any], None], mode: str = 'wb') -> str:
  """Calls `write(file)` on a temporary file beside `path`, then renames it over `path`."""
  temporary = f'{path}.tmp'
  with open(temporary, mode, **({'newline': ''} if 'b' not in mode else {})) as f:
    write(f)
  os.replace(temporary, path)
  return path


def write_text(path: str, text: str) -> str:
  """Writes `text` to `path` via a temporary file renamed over it."""
  return write_with(path, lambda f: f.write(text), mode='w')


def save_figure(fig: Any, path: str, dpi: int = 120) -> str:
  """A matplotlib figure saved as a PNG at `path`, whole or not at all."""
  return write_with(path, lambda f: fig.savefig(f, dpi=dpi, format='png'))


def write_json(path: str, data: Any) -> str:
  return write_text(path, json.dumps(data, indent=2, sort_keys=False))


def _link_or_copy(source: str, target: str) -> None:
  """Hard-links record shards (never rewritten in place); copies everything else."""
  if '.tfrecord' in os.path.basename(source):
    try:
      os.link(source, target)
      return
    except OSError:
      pass
  shutil.copy2(source, target)


def begin(final: str, *, start_from_existing: bool = False) -> str:
  """Returns the empty temporary directory `final` is built in (`commit` renames it into
  place). With `start_from_existing` it starts as a copy of `final`, record shards
  hard-linked, so an append to a large dataset copies only its small files."""
  final = os.path.abspath(final)
  recover(final)
  temporary = final + INCOMPLETE
  if os.path.exists(temporary):
    logging.info('removing %s, left by an interrupted write', temporary)
    shutil.rmtree(temporary)
  if start_from_existing and os.path.isdir(final):
    shutil.copytree(final, temporary, copy_function=_link_or_copy)
  else:
    os.makedirs(temporary)
  return temporary


def commit(temporary: str, final: str) -> None:
  """Puts the complete `temporary` (from `begin`) in the place of `final`."""
  final = os.path.abspath(final)
  replaced = final + REPLACED
  if os.path.exists(final):
    os.rename(final, replaced)
  os.rename(temporary, final)
  if os.path.exists(replaced):
    shutil.rmtree(replaced)


@contextlib.contextmanager
def directory(final: str, *, start_from_existing: bool = False) -> Iterator[str]:
  """Yields a temporary directory to build `final` in (`begin`) and renames it into place
  when the block ends (`commit`): a directory is replaced whole, or (on an exception or a
  kill) left as it was."""
  temporary = begin(final, start_from_existing=start_from_existing)
  try:
    yield temporary
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  commit(temporary, final)


def recover(path: str) -> None:
  """Undoes what a kill between `directory`'s two renames left at or below `path` (two
  levels down): a `.replaced` directory goes back to its name if nothing took its place,
  and is removed if its replacement is in place."""
  patterns = [path + REPLACED] + [
      os.path.join(path, *['*'] * depth) + REPLACED for depth in (1, 2)]
  for replaced in (p for pattern in patterns for p in glob.glob(pattern)):
    final = replaced[:-len(REPLACED)]
    if os.path.exists(final):
      shutil.rmtree(replaced)
    else:
      logging.info('restoring %s: a write replacing it was interrupted', final)
      os.rename(replaced, final)
