"""The reach task: registry, observation contract, expert quality, determinism."""

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest

from imitation import envs
from imitation.evaluation.evaluator import Evaluator


def test_registry_knows_reach_and_rejects_unknown():
  assert 'reach' in envs.registered_tasks()
  with pytest.raises(ValueError, match="unknown task 'nope'.*reach"):
    envs.make('nope')


def test_observation_is_a_float32_state_dict(reach_env):
  spec = envs.observation_spec(reach_env)
  assert set(spec) == {'state'}
  assert spec['state'].shape == (10,)
  assert spec['state'].dtype == jp.float32
  state = jax.jit(reach_env.reset)(jax.random.PRNGKey(0))
  chex.assert_shape(state.obs['state'], (10,))
  assert set(state.metrics) >= {'success', 'distance'}


def test_success_means_fingertip_within_radius(reach_env):
  state = jax.jit(reach_env.reset)(jax.random.PRNGKey(1))
  to_target = np.asarray(state.obs['state'][-2:])
  assert state.metrics['distance'] == pytest.approx(np.linalg.norm(to_target), rel=1e-5)
  assert float(state.metrics['success']) == float(np.linalg.norm(to_target) < 0.02)


def test_reset_is_deterministic_under_a_fixed_key(reach_env):
  reset = jax.jit(jax.vmap(reach_env.reset))
  keys = jax.random.split(jax.random.PRNGKey(7), 4)
  first, second = reset(keys), reset(keys)
  np.testing.assert_array_equal(first.obs['state'], second.obs['state'])
  other = reset(jax.random.split(jax.random.PRNGKey(8), 4))
  assert not np.allclose(first.obs['state'], other.obs['state'])


def test_expert_succeeds_on_at_least_95_percent(reach_env):
  evaluator = Evaluator(reach_env, act_fn=None, num_episodes=256, horizon=50)
  metrics = evaluator(None, jax.random.PRNGKey(0))
  assert metrics['success_rate'] >= 0.95, metrics
  # Same key, same episodes: the whole rollout is deterministic.
  assert evaluator(None, jax.random.PRNGKey(0)) == metrics


def test_expert_is_vmappable_and_bounded(reach_env):
  states = jax.jit(jax.vmap(reach_env.reset))(jax.random.split(jax.random.PRNGKey(0), 8))
  expert = jax.jit(jax.vmap(envs.expert_fn(reach_env)))
  actions = expert(states, jax.random.split(jax.random.PRNGKey(1), 8))
  chex.assert_shape(actions, (8, reach_env.action_size))
  assert np.all(np.abs(np.asarray(actions)) <= 1.0)


def test_invalid_target_annulus_is_rejected():
  with pytest.raises(ValueError, match='target_radius'):
    envs.make('reach', target_radius_min=0.3, target_radius_max=0.2)
