"""The command line: --help without JAX, presets named, the package usable from anywhere,
progress on every long phase (and none when the config says so)."""

import os
import subprocess
import sys

import jax
import pytest

from experiments import common
from imitation import progress
from imitation.data import collect
from imitation.evaluation.evaluator import Evaluator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY_POINTS = ('train', 'dagger', 'bco', 'collect', 'evaluate', 'diagnose', 'sweep',
                'compounding_error', 'multitask_comparison', 'bco_comparison', 'export',
                'source_tables')


@pytest.mark.parametrize('entry_point', ENTRY_POINTS)
def test_help_shows_its_own_flags_first_and_imports_no_jax(entry_point):
  result = subprocess.run(
      [sys.executable, '-X', 'importtime', '-m', f'experiments.{entry_point}', '--help'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert lines[2:5] == ['Flags:', lines[3], lines[4]]
  assert lines[3].startswith('  --config: ') and lines[4].startswith('  --workdir: ')
  assert 'where ARG is a task (drive, grasp' in result.stdout
  imported = {line.split('|')[-1].strip() for line in result.stderr.splitlines()
              if line.startswith('import time:')}
  assert not imported & {'jax', 'tensorflow', 'brax', 'imitation.training'}, (
      imported & {'jax', 'tensorflow', 'brax', 'imitation.training'})


def test_help_names_the_presets_of_the_config():
  lines = common.config_choices('configs/bc.py')
  assert any('push_image' in line and 'grasp_mixture' in line for line in lines)
  assert any('tabletop_film' in line for line in common.config_choices('configs/multitask.py'))


def test_a_config_path_is_found_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  argv = common.resolve_config_path(['prog', '--config=configs/bc.py:reach,debug', '--workdir=w'])
  assert argv[1] == f'--config={os.path.join(REPO, "configs/bc.py")}:reach,debug'
  (tmp_path / 'configs').mkdir()
  (tmp_path / 'configs' / 'bc.py').write_text('')  # a config of the user's own wins
  assert common.resolve_config_path(['p', '--config=configs/bc.py'])[1] == '--config=configs/bc.py'


@pytest.fixture
def progress_on():
  was = progress.enabled()
  progress.set_enabled(True)
  yield
  progress.set_enabled(was)


def test_collection_writing_and_evaluation_show_progress(tmp_path, debug_config, reach_env,
                                                          progress_on, capfd):
  config = debug_config.copy_and_resolve_references()
  collect.collect_demonstrations(config.env, config.collect, str(tmp_path / 'on'))
  Evaluator(reach_env, None, 4, config.env.horizon)(None, jax.random.PRNGKey(0), 1.0)
  shown = capfd.readouterr().err
  for phase in ('collecting demos: 100%', 'writing reach_expert: 100%', 'evaluating: 100%'):
    assert phase in shown, phase
  progress.set_enabled(False)  # config.progress_bar=False
  collect.collect_demonstrations(config.env, config.collect, str(tmp_path / 'off'))
  assert 'collecting demos' not in capfd.readouterr().err


def test_every_entry_point_is_a_command():
  import glob  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  modules = {os.path.splitext(os.path.basename(p))[0]
             for p in glob.glob(os.path.join(REPO, 'experiments', '*.py'))} - {'__init__', 'common'}
  with open(os.path.join(REPO, 'pyproject.toml')) as f:
    commands = dict(re.findall(r'^(imitation-[\w-]+) = "experiments\.(\w+):main"$', f.read(),
                               re.MULTILINE))
  assert modules == set(ENTRY_POINTS) == set(commands.values())
  assert all(name == 'imitation-' + module.replace('_', '-') for name, module in commands.items())
