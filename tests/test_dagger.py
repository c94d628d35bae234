"""DAgger: beta schedules, gates, exact label accounting, aggregation, resume, ensembles."""

import json
import os

import chex
import jax
from jax import numpy as jp
import ml_collections
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds

from configs import dagger as dagger_config
from imitation.agents import dagger
from imitation.agents import ensemble
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import rlds
from imitation.errors import ConfigError
from imitation.envs import rollout as rollout_lib
from imitation.networks import policy as policy_lib
from imitation.training import checkpoint as checkpoint_lib


def _beta(schedule, **kw):
  return ml_collections.ConfigDict(dict(schedule=schedule, beta0=0.5, p=0.5, num_rounds=3, **kw))


def test_beta_schedules():
  assert [dagger.beta(_beta('constant'), k) for k in range(4)] == [1.0, 0.5, 0.5, 0.5]
  assert [dagger.beta(_beta('linear'), k) for k in range(4)] == [1.0, 0.5, 0.25, 0.0]
  assert [dagger.beta(_beta('exponential'), k) for k in range(4)] == [1.0, 0.5, 0.25, 0.125]
  assert [dagger.beta(_beta('indicator'), k) for k in range(4)] == [1.0, 0.0, 0.0, 0.0]
  with pytest.raises(ConfigError, match='schedule'):
    dagger.beta(_beta('cosine'), 1)


def _gate_config(variant, action=0.2, uncertainty=0.1):
  config = dagger_config.get_config('drive,debug')
  config.dagger.variant = variant
  config.dagger.gate.update(action_threshold=action, uncertainty_threshold=uncertainty,
                            return_fraction=0.5)
  return config.dagger


def test_intervention_gate_takes_over_and_hands_back_with_hysteresis():
  gate = dagger.make_gate(_gate_config('intervention'))
  expert = jp.zeros((4, 1))
  learner = jp.array([[0.3], [0.15], [0.15], [0.05]])  # far, between, between, near
  was = jp.array([False, False, True, True])
  taken = gate(was, learner, expert, jp.zeros(4))
  # Takes over above 0.2; keeps control while above 0.5 * 0.2; hands back below that.
  np.testing.assert_array_equal(taken, [True, False, True, False])
  assert dagger.make_gate(_gate_config('classic')) is None


def test_ensemble_gate_uses_uncertainty():
  gate = dagger.make_gate(_gate_config('ensemble', action=np.inf, uncertainty=0.1))
  same = jp.zeros((3, 2))
  taken = gate(jp.zeros(3, bool), same, same, jp.array([0.05, 0.2, 0.0]))
  np.testing.assert_array_equal(taken, [False, True, False])
  with pytest.raises(ConfigError, match='threshold'):
    dagger.make_gate(_gate_config('intervention', action=np.inf))


def _trajectory(in_control, done):
  """A hand-made 2-env rollout: [T, 2] expert-control and done flags."""
  in_control, done = jp.asarray(in_control, jp.float32), jp.asarray(done, jp.float32)
  horizon, num_envs = done.shape
  zeros = jp.zeros((horizon, num_envs))
  step = jp.arange(horizon, dtype=jp.float32)[:, None] * jp.ones((1, num_envs))
  return rollout_lib.Trajectory(
      observation={'state': jp.concatenate([step, step[-1:] + 1])[..., None]},
      action=zeros[..., None], expert_action=step[..., None], learner_action=zeros[..., None],
      expert_in_control=in_control, uncertainty=zeros, reward=zeros, done=done,
      truncation=zeros, success=zeros)


def test_labels_interventions_and_env_steps_are_counted_exactly():
  # env 0: ends after 5 steps; the expert drives steps 1-2 and 4 (2 takeovers, 3 labels);
  # control at step 6 is after the episode ended and must not count.
  # env 1: runs all 7 steps; the expert drives steps 0 and 6 (2 takeovers, 2 labels).
  in_control = np.array([[0, 1], [1, 0], [1, 0], [0, 0], [1, 0], [0, 0], [1, 1]])
  done = np.zeros((7, 2))
  done[4, 0] = 1
  done[5:, 0] = 1
  trajectory = _trajectory(in_control, done)
  assert dagger.round_budget(trajectory, 'intervention') == {
      'expert_labels': 5, 'interventions': 4, 'env_steps': 12}
  assert dagger.round_budget(trajectory, 'classic') == {
      'expert_labels': 12, 'interventions': 0, 'env_steps': 12}
  # The stored episodes hold exactly the labelled steps: one RLDS episode per takeover.
  episodes = episodes_lib.trajectory_to_episodes(
      jax.device_get(trajectory), source='dagger', seed=0, episode_indices=[0, 1],
      round_index=1, labelled=np.asarray(dagger.labelled_mask(trajectory, 'intervention')))
  lengths = [int(e['episode_metadata']['length']) for e in episodes]
  assert lengths == [2, 1, 1, 1]
  # Each segment's labels are the expert's actions at the steps it controlled.
  np.testing.assert_array_equal(episodes[0]['steps']['expert_action'][:-1, 0], [1, 2])
  np.testing.assert_array_equal(episodes[0]['steps']['observation']['state'][:, 0], [1, 2, 3])


@pytest.fixture(scope='module')
def interrupted_then_resumed(tmp_path_factory):
  """A tiny intervention-gated run stopped after round 1, then resumed to the end."""
  config = dagger_config.get_config('drive,debug')
  config.dagger.variant = 'intervention'
  config.dagger.gate.action_threshold = 0.05  # an untrained learner: the expert intervenes
  workdir = str(tmp_path_factory.mktemp('dagger'))
  assert dagger.train(config, workdir, stop_at_round=1) == {}
  with open(os.path.join(workdir, dagger.PROGRESS_FILE)) as f:
    stopped = json.load(f)
  return config, workdir, stopped, dagger.train(config, workdir)


def test_resume_continues_at_the_next_round(interrupted_then_resumed):
  config, _, stopped, results = interrupted_then_resumed
  assert stopped['completed_round'] == 1
  assert [r['round'] for r in results['rounds']] == list(range(config.dagger.num_rounds + 1))
  assert results['rounds'][:2] == stopped['rounds']  # the first rounds were not redone
  # The results.json schema every run shares, plus DAgger's budget.
  assert {'task', 'algorithm', 'seed', 'steps', 'success_rate', 'expert_success_rate',
          'mean_return', 'expert_mean_return', 'num_demos', 'num_transitions', 'wall_time_s',
          'config', 'variant', 'expert_labels', 'interventions', 'env_steps'} <= set(results)
  assert results['num_demos'] == config.collect.num_episodes


def test_every_round_exports_its_policy_and_its_time(interrupted_then_resumed):
  """rounds/K/policy is round K's policy (the last round's is the run's policy/), so a study
  can score success against labels round by round; each round records its elapsed time."""
  config, workdir, _, results = interrupted_then_resumed
  last = config.dagger.num_rounds

  def params(*parts):
    return checkpoint_lib.load_policy(os.path.join(workdir, *parts))[1][0]

  chex.assert_trees_all_equal(params('rounds', str(last), 'policy'), params('policy'))
  with pytest.raises(AssertionError):  # round 0 (BC on the demos) is another policy
    chex.assert_trees_all_equal(params('rounds', '0', 'policy'), params('policy'))
  assert all(r['elapsed_s'] > 0 for r in results['rounds'])


def test_dataset_aggregates_every_round_and_counts_match(interrupted_then_resumed):
  config, workdir, _, results = interrupted_then_resumed
  path = os.path.join(workdir, dagger.DATASET_DIR)
  builder = tfds.builder(dagger.dataset_name(config), data_dir=path)  # plain TFDS, by name
  assert builder.info.splits['train'].num_examples > 0
  episodes, _ = rlds.load_episodes(path)
  steps_per_round = {}
  for e in episodes:
    round_index = int(e['episode_metadata']['round'])
    assert e['episode_metadata']['source'] == ('expert' if round_index == 0 else 'dagger')
    steps_per_round[round_index] = (
        steps_per_round.get(round_index, 0) + int(e['episode_metadata']['length']))
  for record in results['rounds']:
    assert steps_per_round.get(record['round'], 0) == record['expert_labels']
    assert record['interventions'] <= record['expert_labels'] <= record['env_steps']
  assert results['expert_labels'] == sum(steps_per_round.values())
  assert results['rounds'][-1]['num_transitions'] == results['expert_labels']
  assert results['rounds'][1]['interventions'] > 0
  assert results['env_steps'] == sum(r['env_steps'] for r in results['rounds'])


def test_ensemble_members_train_together_and_disagree():
  config = dagger_config.get_config('drive,debug')
  policy = policy_lib.make_policy(config.network, action_dim=1)
  optimizer = optax.adam(1e-2)
  rng = np.random.default_rng(0)
  observation = {'state': rng.normal(size=(64, 3)).astype(np.float32)}
  batch = {'observation': observation, 'action': observation['state'][:, :1] * 2.0}
  norm = normalization_lib.compute(batch, min_std=1e-3)
  state = ensemble.init(jax.random.PRNGKey(0), policy, optimizer,
                        jax.tree.map(lambda x: x[:1], observation), norm, num_members=3)
  chex.assert_tree_shape_prefix(state.params, (3,))
  update = jax.jit(ensemble.make_update(policy, optimizer))
  _, first = update(state, batch, jax.random.PRNGKey(1))
  for i in range(100):
    state, metrics = update(state, batch, jax.random.PRNGKey(i))
  assert metrics['loss'] < 0.2 * first['loss']
  uncertainty = ensemble.make_uncertainty_fn(policy)(state.policy_params, observation)
  chex.assert_shape(uncertainty, (64,))
  far = {'state': observation['state'] * 50.0}  # far outside the data: members disagree more
  far_uncertainty = ensemble.make_uncertainty_fn(policy)(state.policy_params, far)
  assert float(jp.mean(far_uncertainty)) > 3 * float(jp.mean(uncertainty))
  action = ensemble.make_act_fn(policy).first_action(state.policy_params, observation, None)
  chex.assert_shape(action, (64, 1))


def test_sampled_gate_needs_a_head_that_samples():
  config = dagger_config.get_config('drive,debug')
  config.dagger.variant = 'sampled'
  with pytest.raises(ConfigError, match='deterministic head'):
    dagger.check_config(config)
  config.network.head = 'gaussian'
  dagger.check_config(config)


def test_unknown_variant_is_a_config_error(tmp_path):
  config = dagger_config.get_config('drive,debug')
  config.dagger.variant = 'hg'
  with pytest.raises(ConfigError, match='variant'):
    dagger.train(config, str(tmp_path))


def test_drift_from_reference_states_is_measured_per_step():
  from imitation.evaluation import compounding  # pylint: disable=g-import-not-at-top
  np.testing.assert_allclose(
      compounding.nearest_distance(jp.array([[0.0, 0.0], [3.0, 4.0]]),
                                   jp.array([[0.0, 1.0], [3.0, 0.0]]), chunk=1),
      [1.0, 4.0], rtol=1e-5)
  # Reference states 0 and 2 (std 1); env 0 moves 0, 1, 2, 3; env 1 ends after one step.
  done = np.zeros((4, 2))
  done[0, 1] = 1
  done[1:, 1] = 1
  trajectory = _trajectory(np.zeros((4, 2)), done)
  drift = compounding.distance_to_reference_by_step(trajectory, np.array([[0.0], [2.0]]))
  np.testing.assert_allclose(drift['distance'], [0.0, 1.0, 0.0, 1.0], atol=1e-5)
  np.testing.assert_allclose(drift['running'], [1.0, 0.5, 0.5, 0.5])


@pytest.mark.parametrize('variant', ['classic', 'ensemble', 'sampled'])
def test_each_variant_runs_and_its_labels_are_what_the_dataset_holds(tmp_path, variant):
  config = dagger_config.get_config('drive,debug')
  config.dagger.variant = variant
  config.dagger.ensemble.num_members = 2
  config.dagger.gate.action_threshold = 0.05
  if variant == 'sampled':  # a chunked flow policy, gated on the spread of its samples
    config.network.head = 'flow'
    config.network.flow.update(width=32, depth=1, inference_steps=2)
    config.network.chunk.update(horizon=4, execute_steps=2)
    config.dagger.gate.update(action_threshold=np.inf, num_samples=4)
  results = dagger.train(config, str(tmp_path))
  episodes, _ = rlds.load_episodes(os.path.join(str(tmp_path), dagger.DATASET_DIR))
  stored = sum(int(e['episode_metadata']['length']) for e in episodes)
  assert results['expert_labels'] == stored == results['rounds'][-1]['num_transitions']
  if variant == 'classic':  # every visited state is labelled; beta follows the schedule
    assert results['expert_labels'] == results['env_steps']
    assert [r['beta'] for r in results['rounds']] == [1.0, 0.5, 0.25]
  else:
    assert [r['beta'] for r in results['rounds']] == [1.0, 0.0, 0.0]
    assert all(0 < r['expert_labels'] <= r['env_steps'] for r in results['rounds'][1:])
  if variant == 'ensemble':
    assert not os.path.exists(os.path.join(str(tmp_path), 'policy'))  # no single network
  if variant == 'sampled':  # one network: exported with its head and chunks
    assert os.path.exists(os.path.join(str(tmp_path), 'policy'))
