"""Sweeps on Ray Tune: trials from a sweep file, skip and resume, the aggregated table."""

import csv
import json
import os
import subprocess
import sys

import pytest

from imitation.errors import ConfigError
from imitation.studies import sweep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(tmp_path, spec, name='sweep.json'):
  path = tmp_path / name
  path.write_text(json.dumps(spec))
  return str(path)


def test_a_grid_times_seeds_makes_one_trial_per_cell_and_seed_run(tmp_path, debug_config):
  spec = sweep.read_sweep(_write(tmp_path, {
      'grid': {'optimizer.learning_rate': [1e-3, 1e-4], 'network.hidden_sizes': [[8], [16]]},
      'seeds': [0, 1, 2, 7]}))
  trials = sweep.make_trials(debug_config, spec, str(tmp_path))
  assert len(trials) == 4 * 2  # 4 cells x seed runs (0, 1, 2) and (7,)
  first = trials[0]
  assert first.seeds == (0, 1, 2) and first.config.num_seeds == 3
  assert first.config.network.hidden_sizes == (8,)
  assert first.name == 'learning_rate=0.001,hidden_sizes=[8]/seeds_0-2'
  assert trials[1].seeds == (7,) and trials[1].config.seed == 7
  assert trials[1].config.collect.seed == 7
  alone = sweep.make_trials(debug_config, spec, str(tmp_path), share_seeds=False)
  assert len(alone) == 16 and all(len(t.seeds) == 1 for t in alone)


def test_bad_sweeps_are_config_errors(tmp_path, debug_config):
  with pytest.raises(ConfigError, match='grid'):
    sweep.read_sweep(_write(tmp_path, {'grid': {}, 'list': [], 'seeds': [0]}))
  with pytest.raises(ConfigError, match='distinct seeds'):
    sweep.read_sweep(_write(tmp_path, {'list': [{}], 'seeds': [0, 0]}))
  spec = sweep.read_sweep(_write(tmp_path, {'list': [{'optimizer.nope': 1}], 'seeds': [0]}))
  with pytest.raises(ConfigError, match='no field'):
    sweep.make_trials(debug_config, spec, str(tmp_path))


BAD_SWEEP_FILES = [
    (None, "--sweep=MISSING: No such file or directory"),
    ('{"grid": {"optimizer.learning_rate": [0.1,]}}', 'not JSON: Expecting value at line 1'),
    ('[1, 2]', 'a sweep is a JSON object'),
    ('{"grid": {"optimizer.learning_rate": 0.1}}', '"grid" maps each config key to a non-empty'),
    ('{"list": {"optimizer.learning_rate": 0.1}}', '"list" is a list of objects'),
    ('{"list": [{}], "seeds": ["0"]}', '"seeds" is a list of integers, got ["0"]'),
    ('{"list": [{}], "seeds": 3}', '"seeds" is a list of integers, got 3'),
]


@pytest.mark.parametrize('text, line', BAD_SWEEP_FILES,
                         ids=['missing', 'malformed', 'not_object', 'grid_value', 'list_type',
                              'seed_type', 'seeds_type'])
def test_a_bad_sweep_file_is_one_line_naming_it(tmp_path, text, line):
  path = tmp_path / 'sweep.json'
  if text is not None:
    path.write_text(text)
  with pytest.raises(ConfigError) as error:
    sweep.read_sweep(str(path))
  message = str(error.value)
  assert line.replace('MISSING', str(path)) in message and '\n' not in message
  assert str(path) in message


def test_a_sweep_value_of_the_wrong_type_is_one_line(tmp_path, debug_config):
  spec = sweep.read_sweep(_write(tmp_path, {'list': [{'train.batch_size': 'big'}]}))
  with pytest.raises(ConfigError, match=r'sweep override train.batch_size="big": ') as error:
    sweep.make_trials(debug_config, spec, str(tmp_path))
  assert '\n' not in str(error.value)


def test_the_table_is_the_mean_and_interval_per_cell():
  rows = [{'cell': 'a', 'success_rate': s, 'expert_success_rate': 1.0} for s in (0.5, 0.7, 0.9)]
  rows.append({'cell': 'b', 'success_rate': 0.2, 'expert_success_rate': 1.0})
  table = sweep.markdown_table(rows)
  assert '| a | 3 | 0.700 +- 0.497 | 1.000 +- 0.000 |' in table  # t(.975, 2) * 0.2 / sqrt(3)
  assert '| b | 1 | 0.200 +- 0.000 |' in table


@pytest.fixture(scope='module')
def finished_sweep(tmp_path_factory):
  """2 learning rates x seeds (0, 1) of reach,debug through experiments.sweep on local Ray:
  two trials, each one vmapped run of two seeds."""
  root = tmp_path_factory.mktemp('sweep')
  spec = root / 'lr.json'
  spec.write_text(json.dumps({'grid': {'optimizer.learning_rate': [3e-3, 1e-3]},
                              'seeds': [0, 1]}))
  workdir = str(root / 'sweep')
  command = [sys.executable, '-m', 'experiments.sweep', '--config=configs/bc.py:reach,debug',
             f'--sweep={spec}', f'--workdir={workdir}', '--cpus_per_trial=1']
  first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert first.returncode == 0, first.stderr[-3000:]
  return command, workdir, first.stdout


def test_a_sweep_runs_every_trial_and_writes_the_table_csv_and_plot(finished_sweep):
  _, workdir, stdout = finished_sweep
  with open(os.path.join(workdir, sweep.CSV_FILE)) as f:
    rows = list(csv.DictReader(f))
  assert sorted((r['cell'], r['seed']) for r in rows) == [
      ('learning_rate=0.001', '0'), ('learning_rate=0.001', '1'),
      ('learning_rate=0.003', '0'), ('learning_rate=0.003', '1')]
  assert all(0.0 <= float(r['success_rate']) <= 1.0 for r in rows)
  assert os.path.getsize(os.path.join(workdir, sweep.PLOT_FILE)) > 0
  assert '| learning_rate=0.003 | 2 |' in stdout
  with open(os.path.join(workdir, 'trials', 'learning_rate=0.001', 'seeds_0-1',
                         'results.json')) as f:
    assert json.load(f)['config']['optimizer']['learning_rate'] == 1e-3


def test_a_rerun_trains_only_what_is_missing(finished_sweep):
  command, workdir, _ = finished_sweep
  trial = os.path.join(workdir, 'trials', 'learning_rate=0.003', 'seeds_0-1')
  os.remove(os.path.join(trial, 'results.json'))  # as if stopped after its last checkpoint
  done = os.path.join(workdir, 'trials', 'learning_rate=0.001', 'seeds_0-1', 'results.json')
  before = os.path.getmtime(done)
  rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert os.path.getmtime(done) == before  # the finished trial was not run again
  with open(os.path.join(trial, 'results.json')) as f:
    assert json.load(f)['resumed_from_step'] == 40  # resumed from its checkpoint
  assert '1 of 2 trials finished; running 1' in rerun.stderr
