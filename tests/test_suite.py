"""The heterogeneous suite: padded observations and actions, masks, member horizons, the
masked BC loss and per-task action heads."""

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest

from configs import bc as bc_config
from configs import common
from imitation import envs
from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.envs import suite
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import policy as policy_lib


@pytest.fixture(scope='module')
def small_suite():
  """Two cheap pure-JAX members of different sizes: drive (state 10, action 1, 5 steps here)
  and grasp (state 9, action 4, 1 step)."""
  members = [envs.make(t, **common.TASKS[t]['kwargs']) for t in ('drive', 'grasp')]
  return suite.Suite(members, ('drive', 'grasp'), horizons=(5, 1))


def test_suite_pads_observations_and_masks_actions(small_suite):
  spec = envs.observation_spec(small_suite)
  assert spec['state'].shape == (10,) and spec['action_mask'].shape == (4,)
  assert small_suite.action_size == 4 and envs.task_names(small_suite) == ('drive', 'grasp')
  states = jax.jit(jax.vmap(small_suite.reset))(jax.random.split(jax.random.PRNGKey(0), 64))
  task_id = np.asarray(states.obs['task_id'])
  assert set(task_id.tolist()) == {0, 1}
  mask = np.asarray(states.obs['action_mask'])
  np.testing.assert_array_equal(mask[task_id == 0], [[1, 0, 0, 0]] * int(np.sum(task_id == 0)))
  np.testing.assert_array_equal(mask[task_id == 1], [[1, 1, 1, 1]] * int(np.sum(task_id == 1)))
  grasp_state = np.asarray(states.obs['state'])[task_id == 1]
  np.testing.assert_array_equal(grasp_state[:, 9:], 0.0)  # grasp's 9 numbers, then padding
  actions = jax.jit(jax.vmap(envs.expert_fn(small_suite)))(
      states, jax.random.split(jax.random.PRNGKey(1), 64))
  np.testing.assert_array_equal(np.asarray(actions)[task_id == 0][:, 1:], 0.0)


def test_suite_members_keep_their_horizons_and_the_expert_solves_each(small_suite):
  metrics = Evaluator(small_suite, None, 200, horizon=5)(None, jax.random.PRNGKey(0))
  assert set(metrics['per_task']) == {'drive', 'grasp'}
  for stats in metrics['per_task'].values():
    assert stats['success_rate'] == 1.0
  # One-step grasps and 5-step drives: the mean length is between.
  drive_share = metrics['per_task']['drive']['num_episodes'] / 200
  assert metrics['mean_length'] == pytest.approx(5 * drive_share + (1 - drive_share))
  with pytest.raises(ValueError, match='one name and one horizon'):
    suite.Suite(list(small_suite._members), ('drive',), (5, 1))


def _suite_config(per_task_heads):
  config = bc_config.get_config('reach,debug')
  config.network.task.update(fusion='concat', factor_sizes=(2,), per_task_heads=per_task_heads)
  return config.network


def test_masked_loss_ignores_padded_action_dimensions():
  policy = policy_lib.make_policy(_suite_config(False), 4)
  rng = np.random.default_rng(0)
  observation = {'state': rng.normal(size=(16, 10)).astype(np.float32),
                 'task_id': np.zeros(16, np.int32),
                 'action_mask': np.tile(np.array([1, 0, 0, 0], np.int32), (16, 1))}
  action = rng.normal(size=(16, 4)).astype(np.float32)
  normalization = normalization_lib.compute({'observation': observation, 'action': action},
                                            min_std=1e-3)
  params = policy.init(jax.random.PRNGKey(0), observation)
  batch = {'observation': observation, 'action': action}
  changed = {'observation': observation, 'action': action.copy()}
  changed['action'][:, 1:] += 100.0  # what the padded dimensions hold must not matter
  nll, metrics = bc.per_example_loss(params, policy, normalization, batch)
  nll_changed, metrics_changed = bc.per_example_loss(params, policy, normalization, changed)
  mse, mse_changed = metrics['action_mse'], metrics_changed['action_mse']
  np.testing.assert_allclose(nll, nll_changed, rtol=1e-5)
  assert float(mse) == pytest.approx(float(mse_changed), rel=1e-5)
  # Without the mask the same change dominates the loss.
  unmasked = {'observation': {k: v for k, v in observation.items() if k != 'action_mask'},
              'action': changed['action']}
  assert float(jp.mean(bc.per_example_loss(params, policy, normalization, unmasked)[0])
               ) > 10 * float(jp.mean(nll))


def test_per_task_heads_give_each_task_its_own_output():
  policy = policy_lib.make_policy(_suite_config(True), 4)
  observation = {'state': np.ones((2, 10), np.float32), 'task_id': np.array([0, 1], np.int32)}
  params = policy.init(jax.random.PRNGKey(0), observation)
  assert {'task_heads_0', 'task_heads_1'} <= set(params['params'])
  mode = policy.apply(params, observation).mode()
  chex.assert_shape(mode, (2, 4))
  # Zeroing task 1's head changes only task 1's action.
  zeroed = jax.tree.map(lambda x: x, params)
  zeroed['params']['task_heads_1'] = jax.tree.map(jp.zeros_like, params['params']['task_heads_1'])
  other = policy.apply(zeroed, observation).mode()
  np.testing.assert_allclose(other[0], mode[0], rtol=1e-6)
  assert not np.allclose(other[1], mode[1])


def test_a_single_member_suite_keeps_the_suites_sizes_and_task_ids(small_suite):
  """`tasks=(one,)` draws one member with the whole suite's padding and ids, so datasets of
  single members mix into one suite dataset."""
  members = list(small_suite._members)
  only_grasp = suite.Suite(members, ('drive', 'grasp'), (5, 1), draw=(1,))
  assert envs.observation_spec(only_grasp) == envs.observation_spec(small_suite)
  states = jax.jit(jax.vmap(only_grasp.reset))(jax.random.split(jax.random.PRNGKey(0), 16))
  assert set(np.asarray(states.obs['task_id']).tolist()) == {1}
  with pytest.raises(ValueError, match='draw'):
    suite.Suite(members, ('drive', 'grasp'), (5, 1), draw=(2,))
  config = common.TASKS['suite']['kwargs']
  with pytest.raises(ValueError, match='not suite members'):
    suite.make_suite(config['members'], config['member_kwargs'], config['horizons'],
                     tasks=('stack',))
