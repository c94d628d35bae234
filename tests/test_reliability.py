"""Reliability: every bad input is one line and touches nothing; NaN stops a run before it
saves; corrupt checkpoints fall back; writes are whole or absent.

The table of docs/reliability.md lists each bad input tested here and its line.
The kill harness (runs SIGKILLed at random moments) is tests/test_kill.py.
"""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys

from absl import flags
import pytest

from configs import bc as bc_config
from configs import dagger as dagger_config
from configs import multitask as multitask_config
from experiments import common
from imitation import atomic
from imitation import envs
from imitation import validation
from imitation.agents import bc
from imitation.data import demonstrations
from imitation.data import rlds
from imitation.errors import CheckpointError, ConfigError, DatasetError, TrainingError
from imitation.errors import WorkdirError
from imitation.training import metric_writer
from imitation.training import run as run_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tree_digest(path):
  """A digest of every file's name and bytes under `path` (but the lock, which says who
  held the workdir last): equal iff nothing changed."""
  digest = hashlib.sha256()
  for root, dirs, files in sorted(os.walk(path)):
    dirs.sort()
    for name in sorted(set(files) - {'.lock'}):
      full = os.path.join(root, name)
      digest.update(os.path.relpath(full, path).encode())
      with open(full, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()


def _one_line(message):
  assert '\n' not in message and 'Traceback' not in message, message
  return message


# (config, override key, value, what the line says). Each is checked before any work.
BAD_VALUES = [
    ('bc', 'train.batch_size', 0, 'train.batch_size=0: expected a positive integer'),
    ('bc', 'train.batch_size', -4, 'train.batch_size=-4: expected a positive integer'),
    ('bc', 'train.num_steps', 0, 'train.num_steps=0: expected a positive integer'),
    ('bc', 'train.num_steps', -100, 'train.num_steps=-100: expected a positive integer'),
    ('bc', 'train.num_steps', 45, 'train.num_steps=45: expected a multiple of train.steps_per_call=10'),
    ('bc', 'train.steps_per_call', 0, 'train.steps_per_call=0: expected a positive integer'),
    ('bc', 'train.eval_every', 0, 'train.eval_every=0: expected a positive integer'),
    ('bc', 'train.checkpoint_every', -20, 'train.checkpoint_every=-20: expected a positive integer'),
    ('bc', 'train.keep_checkpoints', 0, 'train.keep_checkpoints=0: expected a positive integer'),
    ('bc', 'optimizer.learning_rate', float('nan'), 'optimizer.learning_rate=nan: expected a finite number > 0'),
    ('bc', 'optimizer.learning_rate', float('inf'), 'optimizer.learning_rate=inf: expected a finite number > 0'),
    ('bc', 'optimizer.learning_rate', -1e-3, 'optimizer.learning_rate=-0.001: expected a finite number > 0'),
    ('bc', 'optimizer.learning_rate', 0.0, 'optimizer.learning_rate=0.0: expected a finite number > 0'),
    ('bc', 'optimizer.name', 'sgd', "optimizer.name='sgd': expected one of adam, adamw"),
    ('bc', 'optimizer.schedule', 'linear', "optimizer.schedule='linear': expected one of constant, cosine"),
    ('bc', 'optimizer.warmup_steps', 40, 'optimizer.warmup_steps=40: expected fewer than train.num_steps=40'),
    ('bc', 'optimizer.final_lr_fraction', 2.0, 'optimizer.final_lr_fraction=2.0: expected a number in [0, 1]'),
    ('bc', 'optimizer.weight_decay', 0.1, "optimizer.weight_decay=0.1: has no effect with optimizer.name='adam'"),
    ('bc', 'network.head', 'nope', "network.head='nope': expected one of deterministic, gaussian, mixture, categorical"),
    ('bc', 'network.encoder', 'resnet', "network.encoder='resnet': expected one of mlp, cnn, vit, entities"),
    ('bc', 'network.hidden_sizes', (0, 32), 'network.hidden_sizes=(0, 32): expected a list of positive integers'),
    ('bc', 'network.activation', 'swish2', "network.activation='swish2': expected one of"),
    ('bc', 'network.encoder', 'cnn', "network.encoder='cnn' reads images but env.kwargs.image_size=0"),
    ('bc', 'env.kwargs.image_size', -8, 'env.kwargs.image_size=-8: expected an integer >= 0'),
    ('bc', 'network.max_scale', 0.01, 'network.max_scale=0.01: expected more than network.min_scale=0.05'),
    ('bc', 'network.num_components', 0, 'network.num_components=0: expected a positive integer'),
    ('bc', 'network.cnn.strides', (1, 2), 'network.cnn.strides=(1, 2): expected one stride per layer'),
    ('bc', 'network.task.fusion', 'sum', "network.task.fusion='sum': expected one of none, concat, film"),
    ('bc', 'collect.num_episodes', 0, 'collect.num_episodes=0: expected a positive integer'),
    ('bc', 'collect.num_parallel_envs', 0, 'collect.num_parallel_envs=0: expected a positive integer'),
    ('bc', 'eval.num_episodes', 0, 'eval.num_episodes=0: expected a positive integer'),
    ('bc', 'data.format', 'rlds2', "data.format='rlds2': expected one of envlogger, imitation, lerobot, maniskill, minari, open_x, robomimic"),
    ('bc', 'export.codec', 'vp9', "export.codec='vp9': expected one of libsvtav1, h264, hevc"),
    ('bc', 'export.pixel_format', 'yuv444p', "export.pixel_format='yuv444p': expected 'yuv420p' with export.codec='libsvtav1'"),
    ('bc', 'data.pipeline', 'disk', "data.pipeline='disk': expected one of device, stream"),
    ('bc', 'data.holdout_fraction', 1.5, 'data.holdout_fraction=1.5: expected a number in (0, 1)'),
    ('bc', 'data.task_mixture', 'nope', "data.task_mixture='nope': expected one of size, uniform, explicit"),
    ('bc', 'data.action_key', 'act', "data.action_key='act': expected one of action, expert_action"),
    ('bc', 'env.name', 'walker', "env.name='walker': expected one of"),
    ('bc', 'normalization.min_std', 0.0, 'normalization.min_std=0.0: expected a finite number > 0'),
    ('dagger', 'dagger.variant', 'nope', "dagger.variant='nope': expected one of classic, intervention, ensemble"),
    ('dagger', 'dagger.num_rounds', 0, 'dagger.num_rounds=0: expected a positive integer'),
    ('dagger', 'dagger.beta.beta0', 2.0, 'dagger.beta.beta0=2.0: expected a number in [0, 1]'),
    ('dagger', 'dagger.beta.p', 1.5, 'dagger.beta.p=1.5: expected a number in [0, 1]'),
    ('dagger', 'dagger.beta.p', -0.1, 'dagger.beta.p=-0.1: expected a number in [0, 1]'),
    ('dagger', 'dagger.episodes_per_round', 0, 'dagger.episodes_per_round=0: expected a positive integer'),
    ('dagger', 'dagger.beta.schedule', 'cosine', "dagger.beta.schedule='cosine': expected one of"),
    ('dagger', 'dagger.ensemble.num_members', 1, 'dagger.ensemble.num_members=1: expected an integer >= 2'),
    ('dagger', 'dagger.gate.num_samples', 1, 'dagger.gate.num_samples=1: expected an integer >= 2'),
    ('dagger', 'dagger.gate.action_threshold', -0.2, 'dagger.gate.action_threshold=-0.2: expected a number > 0 (inf: off)'),
    ('dagger', 'dagger.gate.uncertainty_threshold', float('nan'), 'dagger.gate.uncertainty_threshold=nan: expected a number > 0 (inf: off)'),
    ('dagger', 'dagger.gate.return_fraction', 0.0, 'dagger.gate.return_fraction=0.0: expected a number in (0, 1]'),
    ('dagger', 'dagger.warm_start', 1, 'dagger.warm_start=1: expected true or false'),
    ('multitask', 'multitask.loss_weights', 'nope', "multitask.loss_weights='nope': expected one of uniform"),
    ('multitask', 'network.task.embedding_factors', (0, 3), 'network.task.embedding_factors=(0, 3): expected distinct indices into the 3 task factors'),
]


def _preset(name):
  return {'bc': lambda: bc_config.get_config('reach,debug'),
          'dagger': lambda: dagger_config.get_config('reach,debug'),
          'multitask': lambda: multitask_config.get_config('tabletop,debug')}[name]()


@pytest.mark.parametrize('preset, key, value, line', BAD_VALUES,
                         ids=[f'{k}={v}' for _, k, v, _ in BAD_VALUES])
def test_a_bad_config_value_is_one_line_naming_key_value_and_what_is_allowed(
    preset, key, value, line):
  config = _preset(preset)
  assert validation.problems(config) == []
  *parents, leaf = key.split('.')
  section = config
  for part in parents:
    section = section[part]
  with section.ignore_type():
    section[leaf] = value
  with pytest.raises(ConfigError) as error:
    validation.validate(config)
  assert _one_line(str(error.value)).startswith(line)


def test_a_vit_patch_must_tile_the_image():
  config = bc_config.get_config('reach_image,debug')
  config.network.encoder = 'vit'
  config.env.kwargs.image_size = 30
  with pytest.raises(ConfigError, match=r'^env.kwargs.image_size=30: expected a multiple of '
                     r'network.vit.patch_size=4'):
    validation.validate(config)


def _command_line(*args):
  """Parses `args` as an entry point does, with a fresh set of flags."""
  flag_values = flags.FlagValues()
  command_line = common.define_flags(flag_values)
  common.parse_flags(['prog', *args], flag_values)
  return common.load_config(command_line, flag_values)


BAD_COMMAND_LINES = [
    (['--config=configs/nope.py', '--workdir=w'],
     "cannot load --config=configs/nope.py: [Errno 2] No such file or directory: 'configs/nope.py'"),
    (['--config=configs/bc.py:nope', '--workdir=w'],
     "unknown task or preset 'nope' (tasks: drive, grasp, grasp_multimodal, obstacle, pick_place, "
     'push, reach, reach_multi, suite, tabletop; presets: grasp_mixture, grasp_mse, '
     'obstacle_diffusion, obstacle_flow, obstacle_mixture, obstacle_mse, offline, push_image, '
     'reach_discrete, reach_image, reach_multi_task)'),
    (['--config=configs/bc.py:reach,nope=3', '--workdir=w'], "unknown config arg 'nope'"),
    (['--config=configs/bc.py:reach', '--config.nope=1', '--workdir=w'], 'unknown config key nope'),
    (['--config=configs/bc.py:reach', '--config.train.nope.deeper=1', '--workdir=w'],
     'unknown config key nope'),
    (['--config=configs/bc.py:reach', '--config.train.batch_size=abc', '--workdir=w'],
     "flag --config.train.batch_size=abc: invalid literal for int() with base 10: 'abc'"),
    (['--config=configs/bc.py:reach', '--config.seed=1.5', '--workdir=w'],
     'flag --config.seed=1.5'),
    (['--config=configs/bc.py:reach', '--nope=3', '--workdir=w'], "Unknown command line flag 'nope'"),
    (['--config=configs/bc.py:reach'], 'Flag --workdir must have a value other than None'),
    (['--config=configs/bc.py:reach', '--config.train.batch_size=-4', '--workdir=w'],
     'train.batch_size=-4: expected a positive integer'),
]


@pytest.mark.parametrize('args, line', BAD_COMMAND_LINES, ids=[a[-1] for a, _ in BAD_COMMAND_LINES])
def test_a_bad_command_line_is_one_line(args, line, monkeypatch):
  monkeypatch.chdir(REPO)
  monkeypatch.setattr(sys, 'argv', ['prog', *args])  # config overrides are read from sys.argv
  with pytest.raises(ConfigError) as error:
    _command_line(*args)
  assert line in _one_line(str(error.value))


@pytest.mark.parametrize('source, line', [
    ('def get_config(:\n  pass\n',
     'the file does not import: SyntaxError: invalid syntax (broken.py, line 1)'),
    ('import no_such_module\n', "ModuleNotFoundError: No module named 'no_such_module'"),
    ('def get_config():\n  return 1 / 0\n',
     'its get_config raised ZeroDivisionError: division by zero'),
], ids=['syntax', 'import', 'raises'])
def test_a_config_file_that_fails_to_import_is_one_line(tmp_path, monkeypatch, source, line):
  path = tmp_path / 'broken.py'
  path.write_text(source)
  args = [f'--config={path}', '--workdir=w']
  monkeypatch.setattr(sys, 'argv', ['prog', *args])
  with pytest.raises(ConfigError) as error:
    _command_line(*args)
  assert line in _one_line(str(error.value))


@pytest.mark.parametrize('error, where', [
    (OSError(errno.ENOSPC, 'No space left on device', '/w/checkpoints/200'),
     ' writing /w/checkpoints/200'),
    (RuntimeError('/w/demos/x.tfrecord; No space left on device'),  # TF's own errors
     ' writing /w/demos/x.tfrecord'),
    (ValueError('RESOURCE_EXHAUSTED: Error writing local file "/w/checkpoints/40.orbax-'
                'checkpoint-tmp/_sharding": Failed to write 6355 bytes to file 9: No space '
                "left on device [os_error_code='28']"),  # orbax's, as a real full disk gave
     ' writing /w/checkpoints/40.orbax-checkpoint-tmp/_sharding'),
])
def test_a_full_disk_is_one_line(error, where):
  def writes():
    raise error
  with pytest.raises(SystemExit) as exit_:
    common._exit_on_error(writes)  # pylint: disable=protected-access
  assert exit_.value.code == (f'error: no space left on device{where}: free some space and '
                              'run the same command again; what was written before is whole '
                              'and is kept')
  with pytest.raises(ValueError):  # any other error is not dressed up as one
    common._exit_on_error(lambda: int('x'))  # pylint: disable=protected-access


def test_ctrl_c_is_one_line_and_exit_130(capsys):
  def interrupted():
    raise KeyboardInterrupt
  with pytest.raises(SystemExit) as exit_:
    common._exit_on_error(interrupted)  # pylint: disable=protected-access
  assert exit_.value.code == common.INTERRUPTED_EXIT_CODE == 130
  assert capsys.readouterr().err.strip() == common.INTERRUPTED


def test_the_cli_refuses_a_bad_value_before_touching_a_finished_workdir(tmp_path, trained):
  """The issue's case: a rerun with batch_size=-4 on a finished workdir used to rewrite its
  config.json and results.json."""
  workdir = str(tmp_path / 'finished')
  shutil.copytree(trained[0], workdir)
  before = _tree_digest(workdir)
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.train', '--config=configs/bc.py:reach,debug',
       f'--workdir={workdir}', '--config.train.batch_size=-4'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      'error: train.batch_size=-4: expected a positive integer')
  assert _tree_digest(workdir) == before


# Datasets.


@pytest.fixture(scope='module')
def trained(tmp_path_factory, debug_config, demos_path):
  """A finished debug BC run (checkpoints at 20 and 40): (workdir, results, config)."""
  config = debug_config.copy_and_resolve_references()
  config.data.path = demos_path
  workdir = str(tmp_path_factory.mktemp('trained'))
  return workdir, bc.train(config, workdir), config


def _copy_dataset(demos_path, tmp_path):
  path = str(tmp_path / 'data')
  shutil.copytree(demos_path, path)
  return path, rlds.resolve_path(path)


def _break_shard(version_dir):
  shard = next(os.path.join(version_dir, n) for n in os.listdir(version_dir) if '.tfrecord' in n)
  with open(shard, 'r+b') as f:
    f.truncate(os.path.getsize(shard) // 2)
  return 'truncated shard'


def _break_info(version_dir):
  with open(os.path.join(version_dir, rlds.INFO_FILE), 'w') as f:
    f.write('{"name": garbage')
  return 'cannot read the dataset at'


def _drop_info(version_dir):
  os.remove(os.path.join(version_dir, rlds.INFO_FILE))
  return 'no RLDS dataset at'


def _break_features(version_dir):
  with open(os.path.join(version_dir, 'features.json'), 'w') as f:
    f.write('[]')
  return 'cannot read the dataset at'


BAD_DATASETS = {
    'truncated_shard': _break_shard,
    'garbage_dataset_info': _break_info,
    'missing_dataset_info': _drop_info,
    'garbage_features': _break_features,
}


@pytest.mark.parametrize('damage', sorted(BAD_DATASETS))
def test_an_unreadable_dataset_is_one_line_naming_it_and_is_left_as_it_was(
    damage, tmp_path, demos_path, debug_config, reach_env):
  path, version_dir = _copy_dataset(demos_path, tmp_path)
  expected = BAD_DATASETS[damage](version_dir)
  before = _tree_digest(path)
  with pytest.raises(DatasetError) as error:
    demonstrations.load_transitions(debug_config, path, reach_env)
  message = _one_line(str(error.value))
  assert expected in message and path in message
  assert _tree_digest(path) == before


@pytest.mark.parametrize('change, line', [
    (dict(path='/nonexistent/demos'), 'no RLDS dataset at /nonexistent/demos'),
    (dict(split='test'), "no split 'test'"),
    (dict(min_return=1e9), 'pass the data filters'),
    (dict(format='open_x', fields=dict(state=('nope',), image='', action='', task='')),
     "steps/observation has no 'nope' (it has ['state'])"),
    (dict(action_key='nope'), "'nope'"),
])
def test_a_dataset_that_does_not_fit_the_config_is_one_line(
    change, line, demos_path, debug_config, reach_env):
  config = debug_config.copy_and_resolve_references()
  path = change.pop('path', demos_path)
  with config.data.ignore_type():
    config.data.update(change)
  with pytest.raises(DatasetError) as error:
    demonstrations.load_transitions(config, path, reach_env)
  assert line in _one_line(str(error.value))


def test_a_dataset_of_another_task_is_one_line(demos_path, debug_config):
  config = bc_config.get_config('push,debug')
  with pytest.raises(DatasetError, match="collected on 'reach' but the config trains on 'push'"):
    demonstrations.load_transitions(config, demos_path, envs.make('push'))


# Workdirs.


def test_a_finished_workdir_refuses_another_config_and_keeps_its_own(tmp_path, trained):
  workdir = str(tmp_path / 'finished')
  shutil.copytree(trained[0], workdir)
  before = _tree_digest(workdir)
  config = trained[2].copy_and_resolve_references()
  config.network.hidden_sizes = (64, 64)
  with pytest.raises(WorkdirError) as error:
    run_lib.Run(config, workdir)
  assert _one_line(str(error.value)).startswith(
      f'workdir {workdir} holds a finished run with another config '
      '(network.hidden_sizes: [32, 32] -> [64, 64])')
  assert _tree_digest(workdir) == before
  config = trained[2].copy_and_resolve_references()
  config.progress_bar = True  # how a run executes may change
  run_lib.Run(config, workdir).close()


# Checkpoints.


def _unfinished_copy(trained, tmp_path, name):
  workdir = str(tmp_path / name)
  shutil.copytree(trained[0], workdir)
  os.remove(os.path.join(workdir, run_lib.RESULTS_FILE))
  return workdir


def _corrupt_checkpoint(workdir, step):
  state_dir = os.path.join(workdir, 'checkpoints', str(step), 'state')
  for root, _, files in os.walk(state_dir):
    for name in files:
      path = os.path.join(root, name)
      if os.path.getsize(path) > 1024:
        with open(path, 'r+b') as f:
          f.truncate(100)


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, trained, caplog):
  workdir = _unfinished_copy(trained, tmp_path, 'corrupt')
  _corrupt_checkpoint(workdir, 40)
  resumed = bc.train(trained[2], workdir)
  assert any(r.getMessage().startswith('cannot read the checkpoint at step 40')
             for r in caplog.records)
  assert resumed['resumed_from_step'] == 20
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', 'unreadable', '40'))
  for key in ('steps', 'success_rate', 'mean_return', 'closed_loop_action_mse'):
    assert resumed[key] == trained[1][key], key


def test_no_readable_checkpoint_is_one_line(tmp_path, trained):
  workdir = _unfinished_copy(trained, tmp_path, 'all_corrupt')
  for step in (20, 40):
    _corrupt_checkpoint(workdir, step)
  with pytest.raises(CheckpointError) as error:
    bc.train(trained[2], workdir)
  assert _one_line(str(error.value)).startswith(
      f'no checkpoint in {os.path.join(workdir, "checkpoints")} can be read (step 40: ')


def test_a_checkpoint_of_other_shapes_is_one_line_and_the_config_stays(tmp_path, trained):
  workdir = _unfinished_copy(trained, tmp_path, 'reshaped')
  before = _tree_digest(workdir)
  config = trained[2].copy_and_resolve_references()
  config.network.hidden_sizes = (64, 64)
  with pytest.raises(CheckpointError) as error:
    bc.train(config, workdir)
  assert _one_line(str(error.value)).startswith(
      f'the checkpoint at step 40 in {os.path.join(workdir, "checkpoints")} was written by a '
      'different config (params/')
  assert 'saved (32,), this config (64,)' in str(error.value)
  assert _tree_digest(workdir) == before  # config.json is still the checkpoints' own


# The NaN guard.


def test_a_diverging_run_stops_at_once_and_saves_nothing(tmp_path, debug_config, demos_path):
  config = debug_config.copy_and_resolve_references()
  config.data.path = demos_path
  config.optimizer.learning_rate = 1e12
  workdir = str(tmp_path / 'diverged')
  with pytest.raises(TrainingError) as error:
    bc.train(config, workdir)
  message = _one_line(str(error.value))
  assert message.startswith('training diverged at step ')
  step = int(message.split('at step ')[1].split(':')[0])
  assert step <= config.train.steps_per_call  # within the first chunk
  assert 'loss' in message and 'no checkpoint was saved' in message
  assert os.listdir(os.path.join(workdir, 'checkpoints')) == []
  assert not os.path.exists(os.path.join(workdir, run_lib.RESULTS_FILE))


def test_a_resumed_diverging_run_keeps_the_good_checkpoints(tmp_path, trained):
  """Resumed with more steps and a diverging learning rate, the run stops before saving:
  checkpoints 20 and 40 stay (keep_checkpoints=2 would rotate 20 out at 60), and the good
  one restores and evaluates as before."""
  workdir = _unfinished_copy(trained, tmp_path, 'resumed_diverging')
  config = trained[2].copy_and_resolve_references()
  config.train.num_steps = 80
  config.optimizer.learning_rate = 1e12
  with pytest.raises(TrainingError, match=r'the last good checkpoint, step 40, is kept'):
    bc.train(config, workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['20', '40']
  restored = bc.train(trained[2], workdir)  # the good checkpoint, evaluated
  assert restored['resumed_from_step'] == 40
  for key in ('steps', 'success_rate', 'mean_return', 'closed_loop_action_mse'):
    assert restored[key] == trained[1][key], key


# Whole-or-absent writes.


def test_an_interrupted_directory_write_leaves_the_old_one_whole(tmp_path):
  final = str(tmp_path / 'dataset')
  os.makedirs(final)
  atomic.write_text(os.path.join(final, 'a'), 'old')
  with pytest.raises(RuntimeError):
    with atomic.directory(final) as building:
      atomic.write_text(os.path.join(building, 'a'), 'new')
      raise RuntimeError('killed')
  assert open(os.path.join(final, 'a')).read() == 'old'
  assert not os.path.exists(final + atomic.INCOMPLETE)
  # A kill between the two renames of a replacement: the old version comes back.
  os.rename(final, final + atomic.REPLACED)
  atomic.recover(str(tmp_path))
  assert open(os.path.join(final, 'a')).read() == 'old'
  with atomic.directory(final, start_from_existing=True) as building:
    atomic.write_text(os.path.join(building, 'b'), 'added')
  assert sorted(os.listdir(final)) == ['a', 'b']


def test_a_dataset_write_killed_midway_is_redone(tmp_path, demos_path):
  """What a writer killed mid-write leaves (DIR.incomplete) is no dataset, and the next
  write replaces it."""
  episodes, metadata = rlds.load_episodes(demos_path)
  spec = {'state': envs.observation_spec(envs.make('reach'))['state']}
  path = str(tmp_path / 'demos')
  partial = os.path.join(path, 'reach_expert', '1.0.0' + atomic.INCOMPLETE)
  os.makedirs(partial)
  atomic.write_text(os.path.join(partial, rlds.INFO_FILE), '{}')
  assert not rlds.dataset_exists(path)
  rlds.write_episodes(path, episodes[:3], observation_spec=spec, action_dim=2,
                      metadata=metadata, name='reach_expert')
  assert len(rlds.load_episodes(path)[0]) == 3
  assert not os.path.exists(partial)
  rlds.write_episodes(path, episodes[3:5], observation_spec=spec, action_dim=2,
                      name='reach_expert', append=True)
  assert len(rlds.load_episodes(path)[0]) == 5


def test_metrics_survive_a_kill_mid_row_and_tensorboard_is_flushed(tmp_path):
  workdir = str(tmp_path)
  writer = metric_writer.MetricWriter(workdir)
  writer.write(10, {'loss': 1.0}, prefix='train/')
  writer.write(20, {'loss': 0.5}, prefix='train/')
  writer.flush()
  events = [os.path.join(root, n) for root, _, names in os.walk(os.path.join(workdir, 'tensorboard'))
            for n in names]
  assert events and all(os.path.getsize(e) > 0 for e in events)
  with open(os.path.join(workdir, metric_writer.METRICS_FILE), 'a') as f:
    f.write('{"step": 30, "train/lo')  # a killed process's last, half-written row
  writer.close()
  metric_writer.MetricWriter(workdir, resume_step=20).close()
  with open(os.path.join(workdir, metric_writer.METRICS_FILE)) as f:
    assert [json.loads(line)['step'] for line in f] == [10, 20]


def test_a_collection_killed_after_its_dataset_is_summarised_not_redone(tmp_path, collect_run,
                                                                        debug_config):
  """Killed after the dataset was renamed into place but before results.json: the rerun
  summarises that dataset (as the uninterrupted run did); with another seed it refuses."""
  from imitation.agents import expert  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'collected')
  shutil.copytree(collect_run[0], workdir)
  os.remove(os.path.join(workdir, run_lib.RESULTS_FILE))
  demos = os.path.join(workdir, 'demos')
  before = _tree_digest(demos)
  summary = expert.collect(debug_config, workdir)
  for key in ('num_demos', 'num_transitions', 'success_rate', 'mean_return', 'by_source'):
    assert summary[key] == collect_run[1][key], key
  assert _tree_digest(demos) == before
  os.remove(os.path.join(workdir, run_lib.RESULTS_FILE))
  config = debug_config.copy_and_resolve_references()
  config.collect.seed = 7
  with pytest.raises(DatasetError, match=r'collected with seed 0; this config asks for 16 '
                     r"of 'reach' with seed 7: use another --workdir"):
    expert.collect(config, workdir)
