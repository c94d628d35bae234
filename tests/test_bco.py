"""BCO: state-only datasets, the inverse model, labels, interaction counting, resume."""

import json
import os
import shutil

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import bc as bc_config
from configs import bco as bco_config
from imitation.agents import bc
from imitation.agents import bco
from imitation.data import demonstrations
from imitation.data import normalization as normalization_lib
from imitation.data import rlds
from imitation.data import state_only
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import DatasetError
from imitation.networks import policy as policy_lib
from imitation.studies import bco_comparison
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import inputs as inputs_lib
from tests import foreign_rlds


def _linear_episodes(num_episodes, length, rng, matrix):
  """Episodes of s_t+1 = s_t + matrix @ a_t with random actions in [-1, 1]."""
  episodes = []
  for index in range(num_episodes):
    actions = rng.uniform(-1, 1, (length, matrix.shape[1])).astype(np.float32)
    states = np.concatenate([rng.normal(size=(1, matrix.shape[0])),
                             actions @ matrix.T]).cumsum(0).astype(np.float32)
    is_last = np.arange(length + 1) == length
    episodes.append({
        'steps': {'observation': {'state': states},
                  'action': np.concatenate([actions, np.zeros_like(actions[:1])]),
                  'is_first': np.arange(length + 1) == 0, 'is_last': is_last,
                  'action_is_pad': is_last},
        'episode_metadata': {'episode_index': np.int64(index), 'task_id': np.int32(0)}})
  return episodes


def _inverse_setup(action_size=2, hidden=(64, 64), num_steps=2000):
  config = bco_config.get_config('reach,debug')
  config.bco.inverse.update(hidden_sizes=hidden, num_steps=num_steps, batch_size=128)
  return config, bco.make_inverse_learner(config, action_size), bco.inverse_config(config)


def _fit(learner, inverse, rows, seed=0):
  normalization = inputs_lib.normalization(inverse, {
      'observation': rows['observation'], 'action': rows['action'][rows['valid']]})
  windows = policy_lib.windows(inverse.network)
  dataset = DeviceDataset.from_numpy(inputs_lib.training_rows(rows, windows),
                                     row_weights=rows['valid'].astype(np.float64))
  state = learner.init(jax.random.PRNGKey(seed),
                       example_observation=inputs_lib.first_observation(
                           rows['observation'], windows),
                       normalization=normalization)

  @jax.jit
  def steps(state, rng):
    def one(state, key):
      key_batch, key_update = jax.random.split(key)
      return learner.update(state, dataset.sample(key_batch, inverse.train.batch_size),
                            key_update)
    state, metrics = jax.lax.scan(one, state, jax.random.split(rng, 100))
    return state, metrics['loss'][-1]

  losses = []
  for k in range(inverse.train.num_steps // 100):
    state, loss = steps(state, jax.random.PRNGKey(k))
    losses.append(float(loss))
  return state, losses


def test_inverse_rows_pair_each_step_with_the_action_into_it():
  rng = np.random.default_rng(0)
  episodes = _linear_episodes(2, 3, rng, np.eye(2, dtype=np.float32))
  rows = bco.inverse_rows(episodes, 2)
  chex.assert_shape(rows['observation']['state'], (8, 2))
  np.testing.assert_array_equal(rows['valid'], [0, 1, 1, 1, 0, 1, 1, 1])
  np.testing.assert_array_equal(rows['episode_index'], [0, 0, 0, 0, 1, 1, 1, 1])
  np.testing.assert_array_equal(rows['action'][1:4], episodes[0]['steps']['action'][:3])
  np.testing.assert_array_equal(rows['action'][0], 0)
  transitions = bco.labelled_transitions(rows, rows['action'])
  np.testing.assert_array_equal(transitions['action'][:3], episodes[0]['steps']['action'][:3])
  np.testing.assert_array_equal(transitions['observation']['state'][:3],
                                episodes[0]['steps']['observation']['state'][:3])
  chex.assert_shape(transitions['action'], (6, 2))


@pytest.mark.parametrize('head', ['deterministic', 'gaussian', 'mixture'])
def test_inverse_model_reads_two_observations(head):
  config, _, _ = _inverse_setup()
  config.bco.inverse.head = head
  learner = bco.make_inverse_learner(config, 3)
  observation = {'state': jp.ones((5, 2, 7))}
  params = learner.policy.init(jax.random.PRNGKey(0), observation)
  distribution = learner.policy.apply(params, observation)
  chex.assert_shape(distribution.mode(), (5, 3))
  chex.assert_type(distribution.mode(), jp.float32)
  with pytest.raises(ValueError, match=r'\[batch, 2, \.\.\.\]'):
    learner.policy.apply(params, {'state': jp.ones((5, 7))})


def test_labels_of_linear_dynamics_equal_the_true_actions():
  rng = np.random.default_rng(0)
  matrix = rng.normal(size=(4, 2)).astype(np.float32)
  _, learner, inverse = _inverse_setup(hidden=(128, 128))
  rows = bco.inverse_rows(_linear_episodes(1024, 4, rng, matrix), 2)
  state, losses = _fit(learner, inverse, rows)
  assert losses[-1] < losses[0] / 5
  test_rows = bco.inverse_rows(_linear_episodes(16, 4, rng, matrix), 2)
  labels = bco.make_labeller(learner, 64)(state.policy_params, test_rows)
  error = np.abs(labels - test_rows['action'])[test_rows['valid']]
  assert error.max() < 0.1, error.max()
  assert bco.label_error(labels, test_rows['action'], test_rows['valid']) < 1e-3
  # Without the inverse model's fit the labels are far off: the tolerance can fail.
  untrained = learner.init(jax.random.PRNGKey(1), example_observation=inputs_lib.first_observation(
      rows['observation'], policy_lib.windows(inverse.network)), normalization=state.normalization)
  far = bco.make_labeller(learner, 64)(untrained.policy_params, test_rows)
  assert bco.label_error(far, test_rows['action'], test_rows['valid']) > 0.05


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """A tiny BCO(alpha) run on `drive` end to end, and the same run killed in round 1
  (after its interactions and inverse model, before its policy) and resumed."""
  config = bco_config.get_config('drive,debug')
  config.eval.num_episodes = 8
  full_dir = str(tmp_path_factory.mktemp('bco_full'))
  full = bco.train(config, full_dir)
  resumed_dir = str(tmp_path_factory.mktemp('bco_resumed'))
  assert bco.train(config, resumed_dir, stop_at_round=1) == {}
  # Back to what a kill between round 1's inverse fit and its policy fit leaves.
  path = os.path.join(resumed_dir, bco.PROGRESS_FILE)
  with open(path) as f:
    progress = json.load(f)
  record = progress['rounds'].pop()
  progress.update(completed_round=0, pending={k: record[k] for k in (
      'env_interactions', 'interaction_episodes', 'explorer_success_rate')})
  with open(path, 'w') as f:
    json.dump(progress, f)
  shutil.rmtree(os.path.join(resumed_dir, 'rounds', '1', 'policy'))
  return config, full_dir, full, bco.train(config, resumed_dir)


def test_resume_mid_round_ends_as_an_uninterrupted_run(runs):
  config, _, full, resumed = runs
  assert resumed['resumed_after_round'] == 0
  assert [r['round'] for r in full['rounds']] == list(range(config.bco.num_rounds + 1))
  for a, b in zip(full['rounds'], resumed['rounds']):
    assert a == pytest.approx(b)
  for key in ('success_rate', 'env_interactions', 'inverse_heldout_mse', 'demo_label_mse'):
    assert full[key] == pytest.approx(resumed[key])


def test_every_interaction_is_counted_and_stored(runs):
  config, workdir, results, _ = runs
  episodes, _ = rlds.load_episodes(os.path.join(workdir, bco.INTERACTIONS_DIR))
  per_round = {}
  for episode in episodes:
    assert 'expert_action' not in episode['steps']  # no expert labels what the learner did
    k = int(episode['episode_metadata']['round'])
    per_round[k] = per_round.get(k, 0) + int(episode['episode_metadata']['length'])
  for record in results['rounds']:
    assert record['env_interactions'] == per_round[record['round']]
    assert record['interaction_episodes'] == bco.round_episodes(config, record['round'])
  assert results['env_interactions'] == sum(per_round.values())
  assert results['rounds'][-1]['total_env_interactions'] == results['env_interactions']
  assert results['algorithm'] == 'bco' and results['alpha'] == config.bco.alpha
  # The demos' real actions were kept aside, so their labels are scored every round.
  assert all(r['demo_label_mse'] is not None for r in results['rounds'])


def test_collect_drop_actions_writes_a_state_only_dataset(runs):
  _, workdir, _, _ = runs
  path = os.path.join(workdir, 'demos')
  directory = rlds.resolve_path(path)
  builder = tfds.builder_from_directory(directory)
  assert 'action' not in builder.info.features['steps']
  episodes, metadata = rlds.load_episodes(path)
  assert metadata['state_only'] and not state_only.has_actions(episodes[0])
  aside = state_only.load_actions_aside(directory)
  first = episodes[0]
  actions = state_only.true_actions(first, aside)
  chex.assert_shape(actions, (len(first['steps']['is_last']) - 1, metadata['action_size']))


def test_bc_on_a_state_only_dataset_is_one_line_naming_bco(runs, tmp_path):
  _, workdir, _, _ = runs
  config = bc_config.get_config('drive,debug')
  config.data.path = os.path.join(workdir, 'demos')
  with pytest.raises(DatasetError, match='train BCO on it') as error:
    bc.train(config, str(tmp_path))
  assert '\n' not in str(error.value)


def test_bco_trains_on_a_foreign_state_only_dataset(runs, tmp_path):
  """A dataset TFDS's own builder wrote, without any action feature, in envlogger's
  layout: BCO reads it with data.format and trains."""
  _, workdir, _, _ = runs
  episodes, _ = rlds.load_episodes(os.path.join(workdir, 'demos'))
  path = foreign_rlds.write_envlogger(episodes, str(tmp_path / 'data'), flat=False,
                                      name='state_only_logs', with_actions=False)
  config = bco_config.get_config('drive,debug')
  config.update_from_flattened_dict({'data.path': path, 'data.format': 'envlogger',
                                     'bco.alpha': 0.0, 'eval.num_episodes': 8})
  results = bco.train(config, str(tmp_path / 'run'))
  assert results['num_demos'] == len(episodes)
  assert results['demo_label_mse'] is None  # nothing kept their actions
  assert len(results['rounds']) == 1
  bc_run = bc_config.get_config('drive,debug')
  bc_run.update_from_flattened_dict({'data.path': path, 'data.format': 'envlogger'})
  with pytest.raises(DatasetError, match='train BCO on it'):
    bc.train(bc_run, str(tmp_path / 'bc'))


def test_study_summary_table_and_plots_come_from_the_runs(runs, tmp_path):
  _, _, full, resumed = runs
  bc_like = [{'success_rate': 0.5, 'expert_success_rate': 1.0},
             {'success_rate': 0.7, 'expert_success_rate': 1.0}]
  summary = bco_comparison.summarize(bc_like, [full, resumed])
  assert summary['bc']['success_rate']['mean'] == pytest.approx(0.6)
  assert len(summary['bco']) == len(full['rounds'])
  for point, record in zip(summary['bco'], full['rounds']):
    assert point['total_env_interactions']['mean'] == record['total_env_interactions']
    assert point['success_rate']['std'] == pytest.approx(0.0, abs=1e-9)  # the same run twice
  record = {**summary, 'task': 'drive', 'seeds': [0, 1]}
  table = bco_comparison.study_table(record)
  assert table.count('\n| BCO') == len(full['rounds']) and '| BC | yes | 0 |' in table
  bco_comparison.plot_study(record, str(tmp_path))
  assert os.path.getsize(tmp_path / 'interactions.png') and os.path.getsize(tmp_path / 'labels.png')


def test_bco_learns_from_multi_task_demos_without_actions(tmp_path):
  """BCO(0) on reach_multi's state-only demos (3 targets, the task id in each observation):
  the inverse model's rows keep each demo's task, the policy is conditioned on the task
  (the same state under another task id gets another action) and success is reported per
  task."""
  config = bco_config.get_config('reach_multi_task,debug')
  config.bco.alpha = 0.0
  config.eval.num_episodes = 12
  workdir = str(tmp_path / 'bco_multitask')
  results = bco.train(config, workdir)
  assert results['alpha'] == 0.0 and results['env_interactions'] > 0
  assert set(results['per_task']) == {'0', '1', '2'}
  episodes, _, _ = demonstrations.load_episodes(config, results['dataset'])
  rows = bco.inverse_rows(episodes, action_size=2)
  assert set(np.unique(rows['task_id'])) == {0, 1, 2}
  policy, (params, normalization), _ = checkpoint_lib.load_policy(
      os.path.join(workdir, 'policy'))
  state = episodes[0]['steps']['observation']['state'][:1]
  actions = [policy.apply(params, normalization_lib.normalize_observation(
      normalization, {'state': state, 'task_id': np.array([task], np.int32)})).mode()
             for task in range(3)]
  assert not np.allclose(actions[0], actions[1]) and not np.allclose(actions[1], actions[2])
