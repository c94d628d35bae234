"""Members: seeds and a hyperparameter trained as one vmapped program (training/members.py)."""

import json
import os

import jax
import numpy as np
import pytest

from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.data.device_dataset import DeviceDataset
from imitation import validation
from imitation.errors import ConfigError
from imitation.training import members as members_lib
from imitation.training import sharding
from imitation.training import chunk as chunk_lib


def _config(debug_config, **changes):
  config = debug_config.copy_and_resolve_references()
  for name, value in changes.items():
    section, _, key = name.rpartition('.')
    (config[section] if section else config)[key] = value
  config.collect.seed = config.seed  # resolved references no longer follow `seed`
  return config


@pytest.fixture(scope='module')
def member_runs(tmp_path_factory, debug_config):
  """Two seeds as members (stopped halfway, then resumed), and seed 1 as a separate run."""
  root = tmp_path_factory.mktemp('members')
  config = _config(debug_config, num_seeds=2, seed=0)
  workdir = str(root / 'members')
  assert bc.train(config, workdir, stop_at_step=20) == {}
  members = bc.train(config, workdir)
  separate = bc.train(_config(debug_config, seed=1), str(root / 'seed_1'))
  return workdir, members, separate


def test_a_member_is_the_separate_run_of_its_seed(member_runs):
  _, members, separate = member_runs
  assert [m['seed'] for m in members['seeds']] == [0, 1]
  member = members['seeds'][1]
  assert member['num_demos'] == separate['num_demos']
  assert member['success_rate'] == separate['success_rate']
  for name in ('mean_return', 'closed_loop_action_mse', 'heldout_action_mse'):
    np.testing.assert_allclose(member[name], separate[name], rtol=1e-3, err_msg=name)
  # The other seed collected other demos and so learned something else.
  assert members['seeds'][0]['heldout_action_mse'] != member['heldout_action_mse']


def test_members_results_hold_the_spread_and_each_member(member_runs):
  workdir, results, _ = member_runs
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['success_rate'] == results['success_rate']
  rates = [m['success_rate'] for m in results['seeds']]
  assert results['num_members'] == 2
  assert results['success_rate'] == pytest.approx(np.mean(rates))
  assert results['success_rate_std'] == pytest.approx(np.std(rates, ddof=1))
  assert results['resumed_from_step'] == 20
  assert sorted(os.listdir(os.path.join(workdir, 'policy'))) == ['seed_0', 'seed_1']
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    names = set().union(*(json.loads(line) for line in f))
  assert {'train/loss', 'train/members/seed_1/loss', 'eval/success_rate',
          'eval/members/seed_0/success_rate'} <= names


def test_spread_is_the_mean_std_and_t_interval():
  stats = members_lib.spread([0.5, 0.7, 0.9])
  assert stats['mean'] == pytest.approx(0.7)
  assert stats['std'] == pytest.approx(0.2)
  # t(0.975, 2 dof) = 4.303: half-width 4.303 * 0.2 / sqrt(3).
  assert stats['ci95'] == pytest.approx(4.3027 * 0.2 / np.sqrt(3), rel=1e-4)
  assert members_lib.spread([0.3])['ci95'] == 0.0


def test_members_are_value_major_and_bad_axes_are_config_errors(debug_config):
  config = _config(debug_config, num_seeds=2, seed=5)
  config.vmap.name, config.vmap.values = 'optimizer.learning_rate', (1e-3, 1e-4)
  members = members_lib.members_of(config)
  assert [(m.seed, m.overrides[0][1]) for m in members] == [
      (5, 1e-3), (6, 1e-3), (5, 1e-4), (6, 1e-4)]
  assert members[3].label == 'learning_rate=0.0001,seed_6'
  assert members[3].config(config).optimizer.learning_rate == 1e-4
  assert members_lib.axes(members) == (2, 2)
  config.vmap.name = 'network.hidden_sizes'
  with pytest.raises(ConfigError, match='cannot vary inside one program'):
    members_lib.members_of(config)
  config.vmap.name = 'optimizer.weight_decay'
  with pytest.raises(ConfigError, match='adamw'):
    members_lib.members_of(config)
  assert validation.problems(_config(debug_config, num_seeds=0)) == [
      'num_seeds=0: expected a positive integer']


def test_stacked_datasets_sample_only_each_seeds_own_rows():
  small = {'x': np.full((3, 1), 1.0, np.float32)}
  large = {'x': np.full((7, 1), 2.0, np.float32)}
  dataset = DeviceDataset.stack([small, large])
  assert dataset.stacked and dataset.size == 7
  draw = jax.vmap(lambda d, k: d.sample(k, 512), in_axes=(
      jax.tree.map(lambda _: 0, dataset), 0))
  batches = draw(dataset, jax.random.split(jax.random.PRNGKey(0), 2))
  np.testing.assert_array_equal(np.unique(batches['x'][0]), [1.0])
  np.testing.assert_array_equal(np.unique(batches['x'][1]), [2.0])


def test_a_vmapped_learning_rate_trains_each_member_with_its_own(debug_config):
  """Members (lr 0, lr 1e-3) in one chunk: the lr-0 member keeps its init; the other
  matches the same update run alone."""
  config = _config(debug_config)
  config.vmap.name, config.vmap.values = 'optimizer.learning_rate', (0.0, 1e-3)
  members = members_lib.members_of(config)
  learner = bc.make_learner(config, 2)
  rng = np.random.default_rng(0)
  data = {'observation': {'state': rng.normal(size=(64, 10)).astype(np.float32)},
          'action': rng.normal(size=(64, 2)).astype(np.float32)}
  normalization = normalization_lib.from_moments(
      normalization_lib.moments(data), min_std=1e-3, normalize_observations=True,
      normalize_actions=True)
  example = {'state': data['observation']['state'][:1]}
  init = lambda key: learner.init(key, example_observation=example, normalization=normalization)
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  state = members_lib.set_hyperparameters(jax.vmap(init)(keys), members)
  mesh = sharding.make_mesh(1)
  dataset = DeviceDataset.from_numpy(data)
  chunk = chunk_lib.make_train_chunk(learner.update, batch_size=16, steps_per_call=5,
                                       mesh=mesh, members=members_lib.axes(members))
  initial = jax.tree.map(np.asarray, state.params)
  trained, metrics = chunk(state, dataset)
  assert metrics['loss'].shape == (2,)
  frozen = jax.tree.map(lambda x: x[0], trained.params)
  jax.tree.map(np.testing.assert_array_equal, frozen, jax.tree.map(lambda x: x[0], initial))

  alone_config = members[1].config(config)
  alone = bc.make_learner(alone_config, 2)
  alone_state = alone.init(keys[1], example_observation=example, normalization=normalization)
  alone_chunk = chunk_lib.make_train_chunk(alone.update, batch_size=16, steps_per_call=5,
                                             mesh=mesh)
  alone_state, _ = alone_chunk(alone_state, dataset)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5),
               jax.tree.map(lambda x: x[1], trained.params), alone_state.params)
  assert not np.allclose(jax.tree.leaves(alone_state.params)[0],
                         jax.tree.leaves(initial)[0][1])


@pytest.mark.parametrize('stacked', [False, True])
def test_members_run_a_few_at_a_time_as_when_all_are_vmapped(debug_config, stacked):
  """3 members, 2 vmapped at a time (the CPU's `vmap.members_at_once`, a remainder of 1)
  end where they end with all 3 vmapped, on a shared dataset and on one dataset per seed
  (of unequal sizes: each seed samples its own rows by weight); on the shared one each
  ends where its own chunk alone ends."""
  learner = bc.make_learner(_config(debug_config), 2)
  rng = np.random.default_rng(0)
  datasets = [{'observation': {'state': rng.normal(size=(n, 10)).astype(np.float32)},
               'action': rng.normal(size=(n, 2)).astype(np.float32)} for n in (40, 64, 50)]
  normalization = normalization_lib.from_moments(
      normalization_lib.moments(datasets[0]), min_std=1e-3, normalize_observations=True,
      normalize_actions=True)
  example = {'state': datasets[0]['observation']['state'][:1]}
  init = lambda key: learner.init(key, example_observation=example, normalization=normalization)
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  mesh = sharding.make_mesh(1)
  dataset = DeviceDataset.stack(datasets) if stacked else DeviceDataset.from_numpy(datasets[0])
  make = lambda at_once: chunk_lib.make_train_chunk(
      learner.update, batch_size=16, steps_per_call=5, mesh=mesh, members=(1, 3),
      members_at_once=at_once)
  few, few_metrics = make(2)(jax.vmap(init)(keys), dataset)
  every, _ = make(0)(jax.vmap(init)(keys), dataset)
  assert few_metrics['loss'].shape == (3,)
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  jax.tree.map(close, few.params, every.params)
  assert not np.allclose(few.params['params']['head']['Dense_0']['kernel'][0],
                         few.params['params']['head']['Dense_0']['kernel'][1])
  if stacked:
    return
  alone_chunk = chunk_lib.make_train_chunk(learner.update, batch_size=16, steps_per_call=5,
                                           mesh=mesh)
  for i in range(3):
    alone, _ = alone_chunk(init(keys[i]), dataset)
    jax.tree.map(close, jax.tree.map(lambda x: x[i], few.params), alone.params)
