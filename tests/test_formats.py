"""Datasets this project did not write: named formats, offline runs, bad-data errors.

The foreign datasets are written by TFDS's own builder (tests/foreign_rlds.py) from the
session's expert demos, so what they hold is known exactly.
"""

import glob
import json
import os

import jax
import numpy as np
import pytest

from imitation import envs
from imitation.agents import bc
from imitation.data import demonstrations
from imitation.data import lerobot
from imitation.data import rlds
from imitation.data import streaming
from imitation.data import transitions as transitions_lib
from imitation.errors import DatasetError
from imitation.evaluation import offline
from imitation.evaluation import report
from tests import foreign_hdf5
from tests import foreign_rlds

tfds = rlds.tfds


@pytest.fixture(scope='module')
def own_episodes(demos_path):
  return rlds.load_episodes(demos_path)[0]


@pytest.fixture(scope='module')
def foreign(tmp_path_factory, own_episodes):
  """{'envlogger_dict', 'envlogger_flat', 'open_x', 'robomimic', 'maniskill', 'minari',
  'lerobot'}: each a dataset path (a TFDS directory, one HDF5 file, a Minari dataset's
  folder, a LeRobot v3 root written by data.lerobot: tests/test_lerobot.py reads one
  LeRobot's own writer made)."""
  data_dir = str(tmp_path_factory.mktemp('foreign'))
  return {
      'envlogger_dict': foreign_rlds.write_envlogger(own_episodes, data_dir, flat=False),
      'envlogger_flat': foreign_rlds.write_envlogger(own_episodes, data_dir, flat=True),
      'open_x': foreign_rlds.write_open_x(own_episodes, data_dir,
                                          instructions=('reach red', 'reach blue')),
      'robomimic': foreign_hdf5.write_robomimic(
          own_episodes, os.path.join(data_dir, 'robomimic.hdf5'), env_name='reach'),
      'maniskill': foreign_hdf5.write_maniskill(
          own_episodes, os.path.join(data_dir, 'maniskill.h5'), env_id='reach'),
      'minari': foreign_hdf5.write_minari(own_episodes, os.path.join(data_dir, 'minari')),
      'lerobot': _written_lerobot(own_episodes, os.path.join(data_dir, 'lerobot')),
  }


def _written_lerobot(episodes, root):
  lerobot.write_dataset(episodes, root, fps=50, robot_type='reach')
  return root


def _config(debug_config, path, data_format, **fields):
  config = debug_config.copy_and_resolve_references()
  config.data.path = path
  config.data.format = data_format
  config.data.fields.update(fields)
  return config


@pytest.mark.parametrize('layout,data_format,fields', [
    ('envlogger_dict', 'envlogger', {}),
    ('envlogger_flat', 'envlogger', {}),
    ('open_x', 'open_x', {'image': 'none'}),
    ('robomimic', 'robomimic', {'state': foreign_hdf5.STATE_KEYS}),
    ('maniskill', 'maniskill', {}),
    ('minari', 'minari', {}),
    ('lerobot', 'lerobot', {}),
])
def test_foreign_layouts_read_as_exactly_our_own_transitions(
    foreign, demos_path, debug_config, reach_env, layout, data_format, fields):
  """The same episodes, in another tool's layout, give the same training transitions:
  envlogger's final step is padding; Open X's, the HDF5 files', Minari's and LeRobot's every step is
  real (ManiSkill's and Minari's final observation, without an action, is left out)."""
  ours, own_info = demonstrations.load_transitions(debug_config, demos_path, reach_env)
  config = _config(debug_config, foreign[layout], data_format, **fields)
  if layout == 'robomimic':
    config.data.split = 'all'  # every demo; mask/train holds 9 in 10 (the next test)
  theirs, info = demonstrations.load_transitions(config, foreign[layout], reach_env)
  np.testing.assert_array_equal(theirs['observation']['state'], ours['observation']['state'])
  np.testing.assert_array_equal(theirs['action'], ours['action'])
  assert info['num_demos'] == debug_config.collect.num_episodes
  # ManiSkill, Minari (infos) and LeRobot (next.success) record each episode's success.
  expected = (own_info['demo_success_rate'] if layout in ('maniskill', 'minari', 'lerobot')
              else None)
  assert info['demo_success_rate'] == expected


def test_robomimic_filter_keys_are_splits_and_a_guessed_key_order_is_said_and_refused(
    foreign, debug_config, reach_env, caplog):
  """mask/train and mask/valid split the demos. With no data.fields.state the keys join in
  name order, which is not the env's here: the log says which order it chose, once, and the
  check of the first steps against the env's resets refuses it in one line naming the flag
  (the issue's silent 1.6%); the env's order, named, reads."""
  path, num = foreign['robomimic'], debug_config.collect.num_episodes
  config = _config(debug_config, path, 'robomimic', state=foreign_hdf5.STATE_KEYS)
  train, _, _ = demonstrations.load_episodes(config, path)
  config.data.split = 'valid'
  valid, _, _ = demonstrations.load_episodes(config, path)
  assert len(train) == num - num // 10 and len(valid) == num // 10
  config.data.split = 'test'
  with pytest.raises(DatasetError, match=r"no filter key 'test'.*\['train', 'valid'\]"):
    demonstrations.load_episodes(config, path)

  config = _config(debug_config, path, 'robomimic')
  config.data.split = 'all'
  guessed, _, _ = demonstrations.load_episodes(config, path)
  caplog.clear()
  with caplog.at_level('WARNING'):  # one read of the dataset, as a run makes
    with pytest.raises(DatasetError) as error:
      demonstrations.load_transitions(config, path, reach_env)
  said = [r.getMessage() for r in caplog.records
          if 'data.fields.state not given' in r.getMessage()]
  assert len(said) == 1 and 'object, robot0_proprio in name order' in said[0]
  line = str(error.value)
  assert line.startswith(f'{path}: the state joined from object, robot0_proprio (in name '
                         "order) does not start as the environment's observations do")
  assert '--config.data.fields.state=\'("object","robot0_proprio")\'' in line
  assert '\n' not in line

  config.data.fields.state = foreign_hdf5.STATE_KEYS
  named, _ = demonstrations.load_transitions(config, path, reach_env)
  first = guessed[0]['steps']['observation']['state']  # object's columns, then proprio's
  ours = named['observation']['state'][:len(first)]
  half = ours.shape[-1] // 2
  np.testing.assert_array_equal(first[:, -half:], ours[:, :half])


def test_a_streamed_run_refuses_a_guessed_key_order_too(foreign, debug_config, tmp_path):
  """data.pipeline=stream checks the guessed order while converting, and leaves no
  finished conversion behind, so the fixed rerun converts again."""
  config = _config(debug_config, foreign['robomimic'], 'robomimic')
  config.data.split, config.data.pipeline = 'all', 'stream'
  workdir = str(tmp_path / 'streamed')
  with pytest.raises(DatasetError, match=r'does not start as the environment.s observations'):
    bc.train(config, workdir)
  assert streaming.read_meta(os.path.join(workdir, 'stream')) is None


def test_the_state_check_passes_the_env_order_and_flags_the_columns_moved():
  rng = np.random.default_rng(0)
  env_first = np.concatenate([rng.normal(size=(256, 3)), np.zeros((256, 2))], axis=1)
  data_first = np.concatenate([rng.normal(size=(16, 3)), np.zeros((16, 2))], axis=1)
  assert transitions_lib.mismatched_state_columns(data_first, env_first) == []
  moved = data_first[:, [3, 4, 0, 1, 2]]  # the resting columns first
  assert transitions_lib.mismatched_state_columns(moved, env_first) == [0, 1, 3, 4]
  shifted = data_first + np.array([2.0, 0, 0, 0, 0])  # another start distribution
  assert transitions_lib.mismatched_state_columns(shifted, env_first) == [0]


@pytest.mark.parametrize('layout,data_format,message', [
    ('maniskill', 'robomimic', 'no "data" group'),
    ('robomimic', 'maniskill', 'no traj_N groups'),
    ('open_x', 'robomimic', 'no HDF5 file at'),
    ('robomimic', 'minari', 'no Minari dataset at'),
])
def test_hdf5_read_with_the_wrong_format_is_one_line(foreign, debug_config, reach_env, layout,
                                                     data_format, message):
  config = _config(debug_config, foreign[layout], data_format)
  with pytest.raises(DatasetError, match=message) as error:
    demonstrations.load_transitions(config, foreign[layout], reach_env)
  assert '\n' not in str(error.value) and foreign[layout] in str(error.value)


@pytest.mark.parametrize('layout', ['maniskill', 'minari', 'lerobot'])
def test_hub_datasets_stream_the_transitions_they_load(foreign, debug_config, reach_env,
                                                       tmp_path, layout):
  """The grain stream's conversion reads them demo by demo into the same rows."""
  path = foreign[layout]
  config = _config(debug_config, path, layout)
  whole, _ = demonstrations.load_transitions(config, path, reach_env)
  meta = streaming.convert(demonstrations.iterate_training_episodes(config, path),
                           str(tmp_path), frame_stack=config.env.frame_stack)
  source = streaming.TransitionSource(str(tmp_path), meta)
  assert len(source) == len(whole['action'])
  for i in (0, len(source) // 2, len(source) - 1):
    np.testing.assert_array_equal(source[i]['action'], whole['action'][i])
    np.testing.assert_array_equal(source[i]['observation']['state'],
                                  whole['observation']['state'][i])


def test_open_x_instructions_become_task_ids(foreign, debug_config):
  config = _config(debug_config, foreign['open_x'], 'open_x')
  episodes, _, _ = demonstrations.load_episodes(config, foreign['open_x'])
  ids = [int(e['episode_metadata']['task_id']) for e in episodes]
  assert ids == [i % 2 for i in range(len(episodes))]  # first seen: 'reach red' is 0
  assert episodes[0]['steps']['observation']['image'].dtype == np.uint8
  config.data.task_names = ('reach blue', 'reach red')
  episodes, _, _ = demonstrations.load_episodes(config, foreign['open_x'])
  assert [int(e['episode_metadata']['task_id']) for e in episodes][:2] == [1, 0]
  config.data.task_names = ('reach blue',)
  with pytest.raises(DatasetError, match="'reach red' is not in data.task_names"):
    demonstrations.load_episodes(config, foreign['open_x'])


@pytest.mark.parametrize('data_format,fields,message', [
    ('imitation', {}, 'set data.format to one of'),  # a foreign layout read as ours
    ('envlogger', {'state': ('joints',)}, "has no 'joints'"),  # a missing key
    ('envlogger', {'action': 'language_instruction'}, 'dtype object, expected numbers'),
    ('rosbag', {}, "data.format='rosbag'"),
])
def test_bad_foreign_data_is_one_clear_line(foreign, debug_config, reach_env, data_format,
                                             fields, message):
  path = foreign['open_x']
  config = _config(debug_config, path, data_format, **fields)
  with pytest.raises(DatasetError, match=message) as error:
    demonstrations.load_transitions(config, path, reach_env)
  assert '\n' not in str(error.value)
  if data_format != 'rosbag':
    assert path in str(error.value)


def test_truncated_shard_and_empty_dataset_name_their_file(tmp_path, demos_path, own_episodes,
                                                           debug_config, reach_env):
  copy = tmp_path / 'truncated'
  version_dir = rlds.resolve_path(demos_path)
  os.makedirs(copy)
  for name in os.listdir(version_dir):
    with open(os.path.join(version_dir, name), 'rb') as f:
      data = f.read()
    with open(copy / name, 'wb') as f:
      f.write(data[:len(data) // 2] if 'tfrecord' in name else data)
  shard = glob.glob(str(copy / '*tfrecord*'))[0]
  config = _config(debug_config, str(copy), 'imitation')
  with pytest.raises(DatasetError, match='truncated shard') as error:
    demonstrations.load_transitions(config, str(copy), reach_env)
  assert str(error.value).startswith(shard) and '\n' not in str(error.value)

  # An empty split (TFDS will not write one: make one shard of 1 episode hold none).
  empty = foreign_rlds.write_envlogger(own_episodes[:1], str(tmp_path), flat=True, name='empty')
  with open(os.path.join(empty, 'dataset_info.json')) as f:
    info = json.load(f)
  info['splits'][0]['shardLengths'] = ['0']
  with open(os.path.join(empty, 'dataset_info.json'), 'w') as f:
    json.dump(info, f)
  for shard in glob.glob(os.path.join(empty, '*tfrecord*')):
    open(shard, 'wb').close()
  config = _config(debug_config, empty, 'envlogger')
  with pytest.raises(DatasetError, match='holds no episodes'):
    demonstrations.load_transitions(config, empty, reach_env)


def test_wrong_observation_dtype_is_refused(own_episodes, tmp_path, debug_config, reach_env):
  """Floats of another width pass; integers where the environment gives floats do not."""
  episodes = [{**e, 'steps': {**e['steps'], 'observation': {
      'state': e['steps']['observation']['state'].astype(np.float64)}}}
              for e in own_episodes[:2]]
  path = rlds.write_episodes(
      str(tmp_path), episodes, action_dim=2,
      observation_spec={'state': jax.ShapeDtypeStruct((10,), np.float64)})
  spec = envs.observation_spec(reach_env)
  assert spec['state'].dtype == np.float32  # float64 vs float32: both floats, accepted
  demonstrations.load_transitions(_config(debug_config, path, 'imitation'), path, reach_env)
  bad = {'observation': {'state': np.zeros((3, 10), np.int32)}, 'action': np.zeros((3, 2))}
  with pytest.raises(DatasetError, match="'state' of dtype int32"):
    demonstrations.transitions_lib.check_matches_env(bad, spec, 2, source='x')


def test_datasets_we_write_are_named_and_mark_their_padding(tmp_path, own_episodes, demos_path):
  """DATA_DIR/NAME/VERSION, found by `tfds.builder(NAME, data_dir=)`; two names in one
  data_dir must be told apart; the final step's action says it is padding."""
  builder = tfds.builder('reach_expert', data_dir=demos_path)
  assert str(builder.info.version) == '1.0.0'
  episode = next(iter(tfds.as_numpy(builder.as_dataset(split='train').take(1))))
  pad = [step['action_is_pad'] for step in episode['steps']]
  assert pad[-1] and not any(pad[:-1])
  data_dir = str(tmp_path)
  spec = {'state': jax.ShapeDtypeStruct((10,), np.float32)}
  rlds.write_episodes(data_dir, own_episodes[:2], observation_spec=spec, action_dim=2,
                      name='reach_clean', version='2.1.0')
  assert rlds.resolve_path(data_dir) == os.path.join(data_dir, 'reach_clean', '2.1.0')
  rlds.write_episodes(data_dir, own_episodes[2:4], observation_spec=spec, action_dim=2,
                      name='reach_noisy')
  with pytest.raises(DatasetError, match='several datasets .reach_clean, reach_noisy.'):
    rlds.resolve_path(data_dir)
  assert len(rlds.load_episodes(os.path.join(data_dir, 'reach_noisy'))[0]) == 2
  with pytest.raises(DatasetError, match='snake_case'):
    rlds.write_episodes(data_dir, own_episodes[:1], observation_spec=spec, action_dim=2,
                        name='Reach-Clean')


def test_older_flat_datasets_without_pad_flags_still_read(tmp_path, own_episodes):
  """A dataset written before names and `action_is_pad` (flat folder, no flag)."""
  flat = str(tmp_path / 'flat')
  directory = rlds.write_episodes(str(tmp_path / 'new'), own_episodes[:2], action_dim=2,
                                  observation_spec={'state': jax.ShapeDtypeStruct((10,), np.float32)})
  os.rename(directory, flat)
  episodes, _ = rlds.load_episodes(flat)
  for episode in episodes:
    del episode['steps']['action_is_pad']
  transitions = demonstrations.transitions_lib.episodes_to_transitions(episodes)
  assert len(transitions['action']) == sum(len(e['steps']['action']) - 1 for e in episodes)


def test_action_scores():
  target = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
  perfect = offline.action_scores(target, target)
  assert perfect['r2_per_dim'] == [1.0, None] and perfect['r2'] == 1.0
  assert perfect['heldout_action_mse'] == 0.0
  mean = offline.action_scores(np.array([[1.0, 1.0]] * 3), target)
  assert mean['r2_per_dim'][0] == pytest.approx(0.0)
  assert mean['heldout_action_mse_per_dim'] == pytest.approx([2 / 3, 0.0])


def test_foreign_data_trains_in_closed_loop_and_offline(foreign, debug_config, tmp_path):
  """envlogger data with the matching env: closed-loop success; Open X data without any
  env: held-out action error and R^2, and a line saying success is unavailable."""
  config = _config(debug_config, foreign['envlogger_flat'], 'envlogger')
  results = bc.train(config, str(tmp_path / 'closed_loop'))
  assert 0.0 <= results['success_rate'] <= 1.0 and results['expert_success_rate'] == 1.0

  from configs import bc as bc_config  # pylint: disable=g-import-not-at-top
  config = bc_config.get_config('offline,debug')
  config.data.path = foreign['open_x']
  config.data.format = 'open_x'
  config.data.holdout_fraction = 0.25
  workdir = str(tmp_path / 'offline')
  results = bc.train(config, workdir)
  assert results['success_rate'] is None
  assert results['closed_loop'] == offline.CLOSED_LOOP_UNAVAILABLE
  assert results['num_heldout_demos'] == 4 and results['num_demos'] == 12
  assert len(results['r2_per_dim']) == 2 and results['r2'] is not None
  assert results['num_heldout_transitions'] == 4 * debug_config.env.horizon
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    logged = [json.loads(line) for line in f]
  assert any('eval/r2' in row for row in logged)
  table = report.expert_vs_learner_table(results)
  assert 'R^2' in table and 'closed-loop success is unavailable' in table
  assert os.path.exists(os.path.join(workdir, 'policy'))
  config.data.path = ''
  with pytest.raises(Exception, match='data.path must name the dataset'):
    bc.train(config, str(tmp_path / 'no_data'))


def test_steps_flagged_as_padding_are_left_out_of_training(own_episodes):
  """A step marked `action_is_pad` (here one in the middle as well as the final one) gives
  no transition; without the flag only the final step is dropped."""
  episode = own_episodes[0]
  steps = episode['steps']
  length = len(steps['is_last'])
  pad = np.asarray(steps['is_last'], bool).copy()
  pad[3] = True
  flagged = {**episode, 'steps': {**steps, 'action_is_pad': pad}}
  transitions = transitions_lib.episodes_to_transitions([flagged])
  assert transitions['action'].shape[0] == length - 2
  kept = np.flatnonzero(~pad)
  np.testing.assert_array_equal(transitions['action'], np.asarray(steps['action'])[kept])
  unflagged = {**episode, 'steps': {k: v for k, v in steps.items() if k != 'action_is_pad'}}
  assert transitions_lib.episodes_to_transitions([unflagged])['action'].shape[0] == length - 1
