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
def demos_path(tmp_path_factory, debug_config):
  """A small expert dataset on disk, collected once for the whole session."""
  from imitation.data import collect  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp('demos') / 'reach')
  collect.collect_demonstrations(debug_config.env, debug_config.collect, path)
  return path
