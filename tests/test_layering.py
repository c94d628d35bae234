"""Imports go down the floors only, as docs/layout.md orders them.

Floors, lowest first: errors < the leaf modules (config_rules, streams, atomic, progress) <
envs < data, networks < training < evaluation < agents < studies < validation < the entry
points (experiments, benchmarks). Configs are
plain ConfigDicts and import nothing of the library. Modules on the same floor do not
import each other's package (data and networks are siblings), and the library never
imports configs, experiments or benchmarks.
"""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
FLOORS = {
    'errors': 0,
    'config_rules': 1, 'streams': 1, 'atomic': 1, 'progress': 1,
    'envs': 2,
    'data': 3, 'networks': 3,
    'training': 4,
    'evaluation': 5,
    'agents': 6,
    'studies': 7,
    'validation': 8,  # the whole config checked: gathers every module's declared rules
}
ENTRY_POINTS = ('experiments', 'benchmarks')


def _imports(path: pathlib.Path):
  """(line, module) for each absolute import in `path`, including inside functions."""
  tree = ast.parse(path.read_text(), filename=str(path))
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      yield node.lineno, node.module
      for alias in node.names:  # `from imitation import envs` imports the envs floor
        yield node.lineno, f'{node.module}.{alias.name}'
    elif isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name


def _floor_of(module: str):
  parts = module.split('.')
  if parts[0] != 'imitation' or len(parts) < 2:
    return None
  return parts[1] if parts[1] in FLOORS else None


def _library_modules():
  """(path, floor name) of every module under imitation/ but the package's __init__."""
  for path in sorted((REPO / 'imitation').rglob('*.py')):
    parts = path.relative_to(REPO / 'imitation').with_suffix('').parts
    if parts != ('__init__',):
      yield path, parts[0]


def test_every_library_module_is_on_a_floor():
  for path, own in _library_modules():
    assert own in FLOORS, f'{path}: add its package to FLOORS and docs/layout.md'


def _violations(path: pathlib.Path, own: str):
  """The imports of `path` (a module on floor `own`) that climb a floor, reach a sibling's
  package on the same floor, or leave the library."""
  found = []
  for line, module in _imports(path):
    top = module.split('.')[0]
    if top in ('configs',) + ENTRY_POINTS:
      found.append(f'{path}:{line} imports {module} (not library)')
    floor = _floor_of(module)
    if floor is None or floor == own:
      continue
    if FLOORS[floor] >= FLOORS[own]:
      found.append(f'{path}:{line} ({own}) imports {module} ({floor})')
  return found


def test_no_library_module_imports_a_higher_floor_or_a_sibling():
  violations = [v for path, own in _library_modules() for v in _violations(path, own)]
  assert not violations, '\n'.join(violations)


def test_configs_import_no_library_code():
  for path in sorted((REPO / 'configs').glob('*.py')):
    for line, module in _imports(path):
      assert not module.startswith('imitation'), f'{path.relative_to(REPO)}:{line}: {module}'


@pytest.mark.parametrize('source, module', [
    ('data', 'imitation.evaluation.rollout'),  # a climb
    ('evaluation', 'imitation.agents'),
    ('data', 'imitation.networks.policy'),  # a sibling on the same floor
    ('training', 'experiments.common'),  # out of the library
])
def test_the_check_flags_a_module_that_breaks_the_floors(tmp_path, source, module):
  """The check run on a fake module of floor `source` with one bad import flags that
  import, at its line; the same module without it passes."""
  fake = tmp_path / 'fake.py'
  parent, _, name = module.rpartition('.')
  fake.write_text(f'import os\nfrom {parent} import {name}\n')
  found = _violations(fake, source)
  assert found and all(':2 ' in v for v in found), found
  fake.write_text('import os\nfrom imitation.errors import ConfigError\n')
  assert not _violations(fake, source)
