"""Task conditioning: factor embeddings, FiLM that starts as the identity, conditioned policies."""

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest

from configs import bc as bc_config
from imitation.errors import ConfigError
from imitation.networks import conditioning
from imitation.networks import policy as policy_lib


def test_task_ids_unravel_into_factors_row_major():
  sizes = (3, 2, 4)
  ids = np.arange(24)
  np.testing.assert_array_equal(conditioning.task_factors(ids, sizes),
                                np.stack(np.unravel_index(ids, sizes), axis=-1))


@pytest.mark.parametrize('combine', ['sum', 'concat', 'product'])
def test_embedding_of_a_combination_is_built_from_its_factors(combine):
  module = conditioning.TaskEmbedding((3, 2), embedding_dim=8, combine=combine)
  params = module.init(jax.random.PRNGKey(0), jp.zeros((1,), jp.int32))
  tables = [params['params'][f'factor_{i}']['embedding'] for i in range(2)]
  task_id = 2 * 2 + 1  # factors (2, 1): a combination no other id shares
  embedding = module.apply(params, jp.array([task_id]))[0]
  chex.assert_shape(embedding, (8,))
  expected = {'sum': tables[0][2] + tables[1][1], 'product': tables[0][2] * tables[1][1],
              'concat': jp.concatenate([tables[0][2], tables[1][1]])}[combine]
  np.testing.assert_allclose(embedding, expected, rtol=1e-6)


def test_film_starts_as_the_identity():
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 16))
  condition = jax.random.normal(jax.random.PRNGKey(1), (5, 8))
  film = conditioning.FiLM()
  params = film.init(jax.random.PRNGKey(2), x, condition)
  np.testing.assert_allclose(film.apply(params, x, condition), x)


def _network(fusion):
  config = bc_config.get_config('reach_multi_task')
  config.network.hidden_sizes = (32, 32)
  config.network.task.fusion = fusion
  return config.network


@pytest.mark.parametrize('fusion', ['concat', 'film'])
def test_conditioned_policy_reads_the_task_id(fusion):
  policy = policy_lib.make_policy(_network(fusion), action_dim=2)
  state = jax.random.normal(jax.random.PRNGKey(0), (3, 14))
  observation = {'state': state, 'task_id': jp.array([0, 1, 2], jp.int32)}
  params = policy.init(jax.random.PRNGKey(1), observation)
  assert set(params['params']) == {'encoder', 'head', 'task_embedding', 'trunk'}
  # Perturb every parameter (FiLM starts at zero) so the task can change the action.
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
                        params)
  same_state = {'state': jp.repeat(state[:1], 3, axis=0), 'task_id': observation['task_id']}
  actions = policy.apply(params, same_state).mode()
  chex.assert_shape(actions, (3, 2))
  assert not np.allclose(actions[0], actions[1]) and not np.allclose(actions[1], actions[2])
  with pytest.raises(ValueError, match='task_id'):
    policy.apply(params, {'state': state})


def test_unconditioned_policy_keeps_its_parameters_and_bad_settings_are_config_errors():
  policy = policy_lib.make_policy(_network('none'), action_dim=2)
  params = policy.init(jax.random.PRNGKey(0), {'state': jp.zeros((1, 14))})
  assert set(params['params']) == {'encoder', 'head'}  # as before task conditioning existed
  network = _network('concat')
  network.task.factor_sizes = ()
  with pytest.raises(ConfigError, match='factor_sizes'):
    policy_lib.make_policy(network, 2)
  network = _network('gate')
  with pytest.raises(ConfigError, match='fusion'):
    policy_lib.make_policy(network, 2)

