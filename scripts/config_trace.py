"""Which library files a run's config enters, following the calls from bc.train.

A file counts when one of its functions is called with the config, a section of it, or an
object holding it as `.config` (the run frame) as an argument; a climb is a return from
such a call to a caller on a higher floor (tests/test_layering.py's floors), counted as
distinct caller -> callee function pairs, and as trips: distinct caller function -> callee
file (reading a function top down, its calls into one lower file are one trip).

  python scripts/config_trace.py /tmp/config_trace   # the argument: a fresh workdir

Run from the repository root; it trains configs/bc.py:reach,debug (about a minute).
"""

import os
import sys

ROOT = os.getcwd()
sys.path.insert(0, ROOT)

import ml_collections  # pylint: disable=g-import-not-at-top

from configs import bc as bc_config  # pylint: disable=g-import-not-at-top
from imitation.agents import bc  # pylint: disable=g-import-not-at-top
from tests.test_layering import FLOORS  # pylint: disable=g-import-not-at-top


def _floor(path):
  relative = os.path.relpath(path, os.path.join(ROOT, 'imitation'))
  if relative.startswith('..'):
    return None
  return FLOORS.get(relative.split(os.sep)[0].removesuffix('.py'))


def _sections(config, ids):
  ids.add(id(config))
  for value in config.values():
    if isinstance(value, ml_collections.ConfigDict):
      _sections(value, ids)
  return ids


def main(workdir: str) -> None:
  config = bc_config.get_config('reach,debug')
  ids = _sections(config, set())

  def carries(value):
    if id(value) in ids:
      return True
    try:
      return id(object.__getattribute__(value, 'config')) in ids
    except Exception:  # pylint: disable=broad-except
      return False

  entered, climbs, stack = {}, set(), []

  def profile(frame, event, unused_arg):
    if event == 'call':
      path, name = frame.f_code.co_filename, frame.f_code.co_name
      floor = _floor(path)
      has = floor is not None and any(carries(v) for v in list(frame.f_locals.values()))
      stack.append((path, name, floor, has))
      if has:
        entered.setdefault(os.path.relpath(path, ROOT), set()).add(name)
    elif event == 'return' and stack:
      path, name, floor, has = stack.pop()
      caller = next((s for s in reversed(stack) if s[2] is not None), None)
      if has and caller and caller[2] > floor:
        climbs.add((f'{os.path.relpath(caller[0], ROOT)}:{caller[1]}',
                    f'{os.path.relpath(path, ROOT)}:{name}'))

  sys.setprofile(profile)
  bc.train(config, workdir)
  sys.setprofile(None)
  print(len(entered), 'files entered by config:')
  for path, functions in sorted(entered.items()):
    print('  ', path, sorted(functions))
  print(len(climbs), 'climbs back up a floor (distinct caller <- callee):')
  for caller, callee in sorted(climbs):
    print('  ', caller, '<-', callee)
  # Read top down, a function's calls into one lower file are one trip down and back.
  trips = sorted({(caller, callee.split(':')[0]) for caller, callee in climbs})
  print(len(trips), 'trips down and back (distinct caller function -> callee file):')
  for caller, callee in trips:
    print('  ', caller, '->', callee)


if __name__ == '__main__':
  main(sys.argv[1])
