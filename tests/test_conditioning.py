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


@pytest.mark.parametrize('combine', ['sum', 'concat'])
def test_embedding_from_chosen_factors_ignores_the_others(combine):
  module = conditioning.TaskEmbedding((3, 2, 4), embedding_dim=8, combine=combine,
                                      factors=(0,))
  params = module.init(jax.random.PRNGKey(0), jp.zeros((1,), jp.int32))
  assert set(params['params']) == {'factor_0'}  # no tables for the factors left out
  ids = jp.arange(24)
  embedding = module.apply(params, ids)
  chex.assert_shape(embedding, (24, 8))
  first = np.asarray(conditioning.task_factors(ids, (3, 2, 4))[:, 0])
  table = params['params']['factor_0']['embedding']
  np.testing.assert_allclose(embedding, table[first], rtol=1e-6)  # only the first factor
  assert len({tuple(np.round(row, 6)) for row in np.asarray(embedding)}) == 3
  with pytest.raises(ValueError, match='distinct indices'):
    conditioning.TaskEmbedding((3, 2), factors=(2,)).init(jax.random.PRNGKey(0),
                                                          jp.zeros((1,), jp.int32))


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
  network = _network('concat')
  for bad in ((0, 0), (False,)):  # repeated, or a bool where an index belongs
    network.task.embedding_factors = bad
    with pytest.raises(ConfigError, match='embedding_factors'):
      policy_lib.make_policy(network, 2)



def test_factor_attention_reads_each_factor_from_the_entity_its_query_selects():
  """Each factor's query attends over the state's entities: with keys that tell the entities
  apart and a sharp query per factor value, factor 1's features are exactly the value of the
  entity its value selects."""
  module = conditioning.FactorAttention(factor_sizes=(2, 3), entity_size=4, width=8)
  observation = {'state': jax.random.normal(jax.random.PRNGKey(0), (6, 12)),
                 'task_id': jp.arange(6, dtype=jp.int32)}
  params = module.init(jax.random.PRNGKey(1), observation)
  chex.assert_shape(module.apply(params, observation), (6, 2 * 8))
  one_hot = np.pad(np.eye(3), ((0, 0), (0, 5))).astype(np.float32)  # entity j -> e_j
  p = dict(params['params'])
  p['Dense_0'] = {'kernel': jp.zeros((4, 8)), 'bias': jp.zeros(8)}  # hidden = relu(slot)
  p['slot_embedding'] = jp.asarray(one_hot)
  p['keys'] = {'kernel': jp.eye(8), 'bias': jp.zeros(8)}
  p['query_1'] = {'embedding': jp.asarray(1e3 * one_hot)}  # value v looks for entity v
  features = module.apply({'params': p}, observation)
  values = one_hot @ np.asarray(p['values']['kernel']) + np.asarray(p['values']['bias'])
  pads = np.asarray(conditioning.task_factors(observation['task_id'], (2, 3)))[:, 1]
  np.testing.assert_allclose(features[:, 8:], values[pads], rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match='entities of 5'):
    conditioning.FactorAttention((2, 3), entity_size=5).init(jax.random.PRNGKey(0), observation)


def test_factor_attention_without_slot_values_returns_content_alone():
  """With `slot_values=False` a factor returns what its entity holds, not which entity it is:
  entities with the same content give every factor the same features, whatever it attends
  to; with the slot embedding in the values (the default) they differ."""
  state = jp.tile(jax.random.normal(jax.random.PRNGKey(0), (1, 4)), (2, 3))  # 3 equal entities
  observation = {'state': state, 'task_id': jp.array([0, 5], jp.int32)}

  def features(slot_values):
    module = conditioning.FactorAttention((2, 3), entity_size=4, width=8, slot_values=slot_values)
    return module.apply(module.init(jax.random.PRNGKey(1), observation), observation)

  content_only = features(False).reshape(2, 2, 8)  # [example, factor, width]
  np.testing.assert_allclose(content_only, np.broadcast_to(content_only[:1, :1], (2, 2, 8)),
                             rtol=1e-5, atol=1e-6)
  with_slots = features(True).reshape(2, 2, 8)
  assert np.abs(with_slots - with_slots[:1, :1]).max() > 1e-3


def test_entity_encoder_needs_task_factors():
  network = _network('concat')
  network.encoder = 'entities'
  policy = policy_lib.make_policy(network, action_dim=2)
  params = policy.init(jax.random.PRNGKey(0), {'state': jp.zeros((1, 16)),
                                               'task_id': jp.zeros((1,), jp.int32)})
  assert 'query_0' in params['params']['encoder']
  network.task.factor_sizes = ()
  with pytest.raises(ConfigError, match='factor'):
    policy_lib.make_policy(network, 2)
