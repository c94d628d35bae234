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


@pytest.mark.parametrize('combine', ['sum', 'concat'])
def test_embedding_of_a_combination_is_built_from_its_factors(combine):
  module = conditioning.TaskEmbedding((3, 2), embedding_dim=8, combine=combine)
  params = module.init(jax.random.PRNGKey(0), jp.zeros((1,), jp.int32))
  tables = [params['params'][f'factor_{i}']['embedding'] for i in range(2)]
  task_id = 2 * 2 + 1  # factors (2, 1): a combination no other id shares
  embedding = module.apply(params, jp.array([task_id]))[0]
  chex.assert_shape(embedding, (8,))
  expected = (tables[0][2] + tables[1][1] if combine == 'sum'
              else jp.concatenate([tables[0][2], tables[1][1]]))
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


@pytest.mark.slow
def test_multitask_run_reports_per_task_and_held_out_success(tmp_path):
  """BC with task conditioning on reach_multi (tiny): results and metrics per task id, and
  the held-out (task, sector) combination evaluated apart."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from imitation.agents import bc  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  config = bc_config.get_config('reach_multi_task,debug')
  config.lock()  # as the command line hands it over
  results = bc.train(config, str(tmp_path))
  per_task = results['per_task']
  assert set(per_task) <= {0, 1, 2} and len(per_task) >= 2
  assert sum(t['num_episodes'] for t in per_task.values()) == results['num_eval_episodes']
  for stats in per_task.values():
    assert stats['expert_success_rate'] == 1.0 and 0.0 <= stats['success_rate'] <= 1.0
  held_out = results['held_out']
  assert held_out['expert_success_rate'] == 1.0
  assert set(held_out['per_task']) == {0}  # the only held-out pair is task 0 in sector 0
  with open(os.path.join(str(tmp_path), 'metrics.jsonl')) as f:
    names = set().union(*(json.loads(line) for line in f))
  assert {f'eval/per_task/{t}/success_rate' for t in per_task} <= names
  table = report.expert_vs_learner_table(results)
  assert 'per task:' in table and 'held-out task combinations' in table
