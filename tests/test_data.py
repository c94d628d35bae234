"""RLDS writing/reading, episode cutting, transitions, normalisation, on-device sampling."""

import json
import os
import types

import chex
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from imitation import envs
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import DatasetError


def _fake_trajectory(horizon=4, num_envs=2, done_at=(None, 1), truncated=False):
  """Numpy stand-in for a rollout: env 0 runs to the horizon, env 1 ends at `done_at`."""
  done = np.zeros((horizon, num_envs), np.float32)
  truncation = np.zeros_like(done)
  for e, t in enumerate(done_at):
    if t is not None:
      done[t:, e] = 1.0
      truncation[t:, e] = float(truncated)
  obs = np.arange((horizon + 1) * num_envs * 3, dtype=np.float32).reshape(horizon + 1, num_envs, 3)
  action = np.ones((horizon, num_envs, 2), np.float32)
  return types.SimpleNamespace(
      observation={'state': obs},
      action=action,
      expert_action=2 * action,
      expert_in_control=np.ones((horizon, num_envs), np.float32),
      reward=np.ones((horizon, num_envs), np.float32),
      done=done,
      truncation=truncation,
      success=np.tile(np.array([[0.0, 1.0]], np.float32), (horizon, 1)),
  )


def test_episode_cutting_follows_rlds_conventions():
  episodes = episodes_lib.trajectory_to_episodes(
      _fake_trajectory(), source='expert', seed=3, episode_indices=[10, 11]
  )
  full, short = episodes
  # Horizon 4, no termination: 4 actions, 5 steps, truncated (not terminal).
  assert full['steps']['action'].shape == (5, 2)
  np.testing.assert_array_equal(full['steps']['is_last'], [0, 0, 0, 0, 1])
  np.testing.assert_array_equal(full['steps']['is_terminal'], [0, 0, 0, 0, 0])
  np.testing.assert_array_equal(full['steps']['discount'], [1, 1, 1, 1, 1])
  np.testing.assert_array_equal(full['steps']['action'][-1], [0, 0])
  assert full['episode_metadata']['length'] == 4 and full['episode_metadata']['return'] == 4
  assert not full['episode_metadata']['success']
  # Env 1 terminated after its second action: 3 steps, the last terminal with discount 0.
  assert short['steps']['observation']['state'].shape == (3, 3)
  np.testing.assert_array_equal(short['steps']['is_terminal'], [0, 0, 1])
  np.testing.assert_array_equal(short['steps']['discount'], [1, 1, 0])
  np.testing.assert_array_equal(short['steps']['expert_action'][:2], 2 * np.ones((2, 2)))
  assert short['episode_metadata']['success']
  assert short['episode_metadata']['episode_index'] == 11
  assert short['episode_metadata']['seed'] == 3


def test_episode_task_id_is_the_one_its_observations_carry():
  trajectory = _fake_trajectory()
  assert episodes_lib.trajectory_to_episodes(
      trajectory, source='expert', seed=0, episode_indices=[0, 1]
  )[0]['episode_metadata']['task_id'] == 0  # single-task: no task_id observation
  trajectory.observation['task_id'] = np.tile(np.array([[2, 1]], np.int32), (5, 1))
  episodes = episodes_lib.trajectory_to_episodes(
      trajectory, source='expert', seed=0, episode_indices=[0, 1]
  )
  assert [int(e['episode_metadata']['task_id']) for e in episodes] == [2, 1]
  transitions = transitions_lib.episodes_to_transitions(episodes)
  np.testing.assert_array_equal(transitions['task_id'], transitions['observation']['task_id'])


def test_unknown_source_is_rejected():
  with pytest.raises(ValueError, match='source'):
    episodes_lib.trajectory_to_episodes(
        _fake_trajectory(), source='oracle', seed=0, episode_indices=[0, 1]
    )


def test_collected_dataset_opens_with_tfds_and_round_trips(demos_path, debug_config):
  builder = tfds.builder_from_directory(rlds.resolve_path(demos_path))
  assert builder.info.splits['train'].num_examples == debug_config.collect.num_episodes
  episodes, metadata = rlds.load_episodes(demos_path)
  assert metadata['env_name'] == 'reach'
  assert metadata['observation_spec'] == {'state': {'shape': [10], 'dtype': 'float32'}}
  horizon = debug_config.env.horizon
  for episode in episodes:
    steps = episode['steps']
    assert steps['observation']['state'].shape == (horizon + 1, 10)
    assert steps['is_first'][0] and steps['is_last'][-1] and not steps['is_last'][:-1].any()
    assert episode['episode_metadata']['source'] == 'expert'
    # The expert acted, so the executed action is the expert's label.
    np.testing.assert_array_equal(steps['action'], steps['expert_action'])
  indices = sorted(int(e['episode_metadata']['episode_index']) for e in episodes)
  assert indices == list(range(debug_config.collect.num_episodes))
  assert np.mean([e['episode_metadata']['success'] for e in episodes]) >= 0.95


def test_collect_run_writes_the_dataset_and_results_in_the_shared_schema(collect_run,
                                                                        debug_config):
  workdir, results = collect_run
  with open(os.path.join(workdir, 'results.json')) as f:
    written = json.load(f)
  assert written == json.loads(json.dumps(results))  # tuples in the config become lists
  assert list(results)[:3] == ['task', 'algorithm', 'seed']
  assert list(results)[-2:] == ['wall_time_s', 'config']
  assert results['algorithm'] == 'expert' and results['task'] == 'reach'
  assert results['num_demos'] == debug_config.collect.num_episodes
  assert results['num_transitions'] == debug_config.collect.num_episodes * debug_config.env.horizon
  assert results['success_rate'] == 1.0
  assert results['dataset'] == os.path.join(workdir, 'demos', 'reach_expert', '1.0.0')
  assert os.path.exists(os.path.join(workdir, 'config.json'))


def test_write_refuses_to_overwrite_and_append_aggregates(tmp_path, reach_env):
  episodes = episodes_lib.trajectory_to_episodes(
      _fake_trajectory(), source='expert', seed=0, episode_indices=[0, 1]
  )
  spec = {'state': jax.ShapeDtypeStruct((3,), np.float32)}
  path = str(tmp_path / 'ds')
  rlds.write_episodes(path, episodes, observation_spec=spec, action_dim=2)
  with pytest.raises(DatasetError, match='already exists'):
    rlds.write_episodes(path, episodes, observation_spec=spec, action_dim=2)
  more = episodes_lib.trajectory_to_episodes(
      _fake_trajectory(), source='dagger', seed=1, episode_indices=[2, 3], round_index=1
  )
  rlds.write_episodes(path, more, observation_spec=spec, action_dim=2, append=True)
  loaded, _ = rlds.load_episodes(path)
  assert sorted(e['episode_metadata']['source'] for e in loaded) == ['dagger'] * 2 + ['expert'] * 2
  assert tfds.builder_from_directory(rlds.resolve_path(path)).info.splits['train'].num_examples == 4


def test_missing_dataset_is_a_clear_error(tmp_path):
  with pytest.raises(DatasetError, match='no RLDS dataset at'):
    rlds.load_episodes(str(tmp_path / 'nothing'))


def test_transitions_drop_final_steps_and_pick_the_action_key():
  episodes = episodes_lib.trajectory_to_episodes(
      _fake_trajectory(), source='expert', seed=0, episode_indices=[0, 1]
  )
  transitions = transitions_lib.episodes_to_transitions(episodes)
  assert transitions['action'].shape == (4 + 2, 2)  # 4 + 2 actions, final steps dropped
  np.testing.assert_array_equal(transitions['episode_index'], [0, 0, 0, 0, 1, 1])
  labels = transitions_lib.episodes_to_transitions(episodes, action_key='expert_action')
  np.testing.assert_array_equal(labels['action'], 2 * transitions['action'])
  with pytest.raises(DatasetError, match="no 'label' field"):
    transitions_lib.episodes_to_transitions(episodes, action_key='label')


def test_quality_filter_keeps_successful_episodes():
  episodes = episodes_lib.trajectory_to_episodes(
      _fake_trajectory(), source='expert', seed=0, episode_indices=[0, 1]
  )
  kept = transitions_lib.filter_episodes(episodes, only_successful=True)
  assert [e['episode_metadata']['episode_index'] for e in kept] == [1]
  assert len(transitions_lib.filter_episodes(episodes, min_return=3.0)) == 1


@pytest.mark.parametrize(
    'observation, action_dim, message',
    [
        ({'pixels': np.zeros((5, 10), np.float32)}, 2, r"observation keys \['pixels'\]"),
        ({'state': np.zeros((5, 7), np.float32)}, 2, r"'state' of shape \(7,\)"),
        ({'state': np.zeros((5, 10), np.float32)}, 3, 'actions of size 3'),
    ],
)
def test_mismatch_with_env_names_the_problem(reach_env, observation, action_dim, message):
  transitions = {'observation': observation, 'action': np.zeros((5, action_dim), np.float32)}
  with pytest.raises(DatasetError, match=message):
    transitions_lib.check_matches_env(
        transitions, envs.observation_spec(reach_env), reach_env.action_size, source='d'
    )


def test_normalization_round_trips_and_floors_std():
  rng = np.random.default_rng(0)
  transitions = {
      'observation': {
          'state': rng.normal(3.0, 2.0, (1000, 4)).astype(np.float32),
          'image': np.zeros((1000, 2, 2, 3), np.uint8),
      },
      'action': np.concatenate([rng.normal(0, 1, (1000, 1)), np.ones((1000, 1))], 1),
  }
  norm = normalization_lib.compute(transitions, min_std=1e-3)
  assert set(norm.observation_mean) == {'state'}  # images are not standardised
  np.testing.assert_allclose(norm.observation_mean['state'], 3.0, atol=0.2)
  assert norm.action_std[1] == pytest.approx(1e-3)  # constant dimension: floored
  action = np.asarray(transitions['action'][:8], np.float32)
  restored = normalization_lib.denormalize_action(norm, normalization_lib.normalize_action(norm, action))
  np.testing.assert_allclose(restored, action, rtol=1e-5, atol=1e-5)
  observation = normalization_lib.normalize_observation(norm, {'state': transitions['observation']['state'], 'image': transitions['observation']['image']})
  assert observation['image'].dtype == np.uint8
  again = normalization_lib.from_json(normalization_lib.to_json(norm))
  chex.assert_trees_all_close(again, norm)


def test_device_dataset_samples_rows_together():
  data = {'observation': {'state': np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)},
          'action': np.arange(10, dtype=np.float32)[:, None]}
  dataset = DeviceDataset.from_numpy(data)
  assert dataset.size == 10
  batch = jax.jit(dataset.sample, static_argnums=1)(jax.random.PRNGKey(0), 64)
  chex.assert_shape(batch['observation']['state'], (64, 3))
  np.testing.assert_array_equal(batch['observation']['state'][:, 0], batch['action'][:, 0])
  assert len(np.unique(batch['action'])) > 5
  with pytest.raises(ValueError, match='disagree'):
    DeviceDataset.from_numpy({'a': np.zeros(3), 'b': np.zeros(4)})


def test_a_dataset_padded_to_a_capacity_keeps_its_shape_and_samples_only_real_rows():
  """DAgger's aggregate grows each round; padded to the last round's size it keeps one
  shape, so the compiled sampler (and update) is traced once for every round."""
  traces = []

  @jax.jit
  def draw(dataset, rng):
    traces.append(1)
    return dataset.sample(rng, 4096)

  for rows in (3, 5, 8):
    data = {'x': np.arange(1, rows + 1, dtype=np.float32)}
    dataset = DeviceDataset.from_numpy(data, capacity=8)
    assert dataset.size == 8
    np.testing.assert_array_equal(np.unique(draw(dataset, jax.random.PRNGKey(rows))['x']),
                                  data['x'])
  assert len(traces) == 1


def test_task_mixture_sets_each_task_share_of_the_batches():
  from imitation.data import mixtures  # pylint: disable=g-import-not-at-top
  from imitation.errors import ConfigError  # pylint: disable=g-import-not-at-top
  task_ids = np.array([0] * 900 + [1] * 100, np.int32)
  data = {'task_id': task_ids}
  assert mixtures.row_weights(task_ids, 'size') is None
  uniform = DeviceDataset.from_numpy(data)  # 'size': plain uniform rows, as before
  np.testing.assert_array_equal(
      uniform.sample(jax.random.PRNGKey(0), 8)['task_id'],
      task_ids[jax.random.randint(jax.random.PRNGKey(0), (8,), 0, 1000)])
  for mixture, shares, expected in (('uniform', (), 0.5), ('explicit', (1.0, 3.0), 0.75)):
    weights = mixtures.row_weights(task_ids, mixture, shares)
    assert mixtures.task_shares(task_ids, weights)['1'] == pytest.approx(expected)
    dataset = DeviceDataset.from_numpy(data, row_weights=weights)
    sampled = jax.jit(dataset.sample, static_argnums=1)(jax.random.PRNGKey(1), 20_000)
    assert float(np.mean(sampled['task_id'] == 1)) == pytest.approx(expected, abs=0.015)
  with pytest.raises(ConfigError, match='task_shares'):
    mixtures.row_weights(task_ids, 'explicit', (1.0,))
  with pytest.raises(ConfigError, match='without data'):
    mixtures.row_weights(task_ids, 'explicit', (1.0, 1.0, 1.0))
  with pytest.raises(ConfigError, match='task_mixture'):
    mixtures.row_weights(task_ids, 'balanced')


def test_several_datasets_load_as_one_mixture_of_tasks(tmp_path):
  """`data.path` lists one dataset per task: their episodes are concatenated in order, each
  keeps its task ids, `max_episodes` applies to each, and the task mixture samples across."""
  from configs import multitask as multitask_config  # pylint: disable=g-import-not-at-top
  from imitation.data import collect  # pylint: disable=g-import-not-at-top
  from imitation.data import demonstrations  # pylint: disable=g-import-not-at-top
  from imitation.data import mixtures  # pylint: disable=g-import-not-at-top
  config = multitask_config.get_config('tabletop,debug')
  paths = []
  for task, count in (('grasp', 12), ('insert', 4)):
    env_config = config.env.copy_and_resolve_references()
    env_config.kwargs.tasks = (task,)
    collect_config = config.collect.copy_and_resolve_references()
    collect_config.num_episodes = count
    paths.append(str(tmp_path / task))
    collect.collect_demonstrations(env_config, collect_config, paths[-1])
  config.data.path = ' , '.join(paths)
  path = demonstrations.resolve_dataset(config, str(tmp_path))
  assert path == ','.join(paths)
  env = envs.make_from_config(config.env)
  transitions, info = demonstrations.load_transitions(config, path, env)
  assert info['num_demos'] == 16 and info['num_available_episodes'] == 16
  names = np.asarray(envs.task_names(env))[transitions['task_id']]
  assert list(names) == ['grasp'] * 12 + ['insert'] * 4
  shares = mixtures.task_shares(transitions['task_id'], mixtures.row_weights(
      transitions['task_id'], 'uniform', names=envs.task_names(env)), envs.task_names(env))
  assert shares == pytest.approx({'grasp': 0.5, 'insert': 0.5})
  explicit = mixtures.row_weights(transitions['task_id'], 'explicit', (1.0, 0.0, 3.0),
                                  names=envs.task_names(env))
  assert mixtures.task_shares(transitions['task_id'], explicit, envs.task_names(env)) == \
      pytest.approx({'grasp': 0.25, 'insert': 0.75})
  config.data.max_episodes = 3  # per dataset
  _, info = demonstrations.load_transitions(config, path, env)
  assert info['num_demos'] == 6
  config.data.path = paths[0] + ',' + str(tmp_path / 'missing')
  with pytest.raises(DatasetError):
    demonstrations.load_transitions(config, demonstrations.resolve_dataset(config, ''), env)
  # Datasets whose steps differ cannot be mixed: a clear error names them.
  image_config = config.env.copy_and_resolve_references()
  image_config.kwargs.image_size = 8
  collect_config.num_episodes = 2
  collect.collect_demonstrations(image_config, collect_config, str(tmp_path / 'images'))
  config.data.path = paths[0] + ',' + str(tmp_path / 'images')
  with pytest.raises(DatasetError, match='does not match'):
    demonstrations.load_episodes(config, demonstrations.resolve_dataset(config, ''))
