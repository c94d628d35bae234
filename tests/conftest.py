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


def pytest_collection_modifyitems(config, items):
  """The kill harness (tests/test_kill.py) takes minutes: it runs only when `-m` names it."""
  if 'kill' in (config.getoption('markexpr') or ''):
    return
  skip = pytest.mark.skip(reason='the kill harness takes minutes: run it with -m kill')
  for item in items:
    if 'kill' in item.keywords:
      item.add_marker(skip)
