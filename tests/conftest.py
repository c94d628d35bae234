"""Shared, module- or session-scoped fixtures so compiled functions are reused across tests."""

import os
import tempfile

import jax
import pytest

# Identical programs compiled by different tests (each `train` call builds its own closures)
# hit this on-disk cache instead of recompiling; it only saves time.
jax.config.update(
    'jax_compilation_cache_dir', os.path.join(tempfile.gettempdir(), 'imitation_test_jax_cache')
)
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)

from imitation import envs  # pylint: disable=g-import-not-at-top
from configs import bc as bc_config  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope='session')
def reach_env():
  return envs.make('reach')


@pytest.fixture(scope='session')
def debug_config():
  """A fresh copy per use is made by tests that change it (`copy_and_resolve_references`)."""
  return bc_config.get_config('reach,debug')


@pytest.fixture(scope='session')
def collect_run(tmp_path_factory, debug_config):
  """A small expert dataset collected once for the whole session by the expert's run:
  (workdir, results); the dataset is workdir/demos."""
  from imitation.agents import expert  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('collect'))
  return workdir, expert.collect(debug_config, workdir)


@pytest.fixture(scope='session')
def demos_path(collect_run):
  return os.path.join(collect_run[0], 'demos')


# Markers whose tests take minutes and run only when `-m` names them: the kill harness
# (tests/test_kill.py) and the device-figures script at its small scale.
OPT_IN = {'kill': 'the kill harness takes minutes: run it with -m kill',
          'bench': 'benchmarks.device_figures at small scale takes minutes: run it with -m bench'}


def pytest_collection_modifyitems(config, items):
  selected = config.getoption('markexpr') or ''
  for marker, reason in OPT_IN.items():
    if marker in selected:
      continue
    skip = pytest.mark.skip(reason=reason)
    for item in items:
      if marker in item.keywords:
        item.add_marker(skip)
