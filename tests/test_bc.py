"""The BC agent's pure pieces: distributions, loss, update; and the compiled update chunk."""

import chex
import jax
from jax import numpy as jp
import ml_collections
import numpy as np
import optax
import pytest

from imitation.evaluation import acting
from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import ConfigError
from imitation.networks import distributions
from imitation.networks import policy as policy_lib
from imitation.training import optimizers
from imitation.training import sharding
from imitation.training import chunk as chunk_lib


def _network_config(hidden=(32, 32)):
  return ml_collections.ConfigDict(dict(
      encoder='mlp', hidden_sizes=hidden, activation='relu', layer_norm=False,
      head='deterministic', squash=False,
  ))


def _identity_normalization(obs_dim=4, action_dim=2):
  return normalization_lib.Normalization(
      {'state': jp.zeros(obs_dim)}, {'state': jp.ones(obs_dim)}, jp.zeros(action_dim),
      jp.ones(action_dim),
  )


def _regression_batch(n=256, obs_dim=4, action_dim=2, seed=0):
  """Actions are a fixed smooth function of the state: learnable by an MLP."""
  rng = np.random.default_rng(seed)
  state = rng.normal(size=(n, obs_dim)).astype(np.float32)
  action = np.stack([np.sin(state[:, 0]) + state[:, 1], state[:, 2] * state[:, 3]], 1)
  return {'observation': {'state': state}, 'action': action.astype(np.float32)}


def test_deterministic_log_prob_is_negative_half_squared_error():
  dist = distributions.Deterministic(jp.array([[1.0, 2.0], [0.0, 0.0]]))
  np.testing.assert_allclose(dist.log_prob(jp.array([[1.0, 4.0], [3.0, 4.0]])), [-2.0, -12.5])
  np.testing.assert_array_equal(dist.mode(), dist.sample(jax.random.PRNGKey(0)))


def test_policy_maps_observation_batch_to_action_distribution():
  policy = policy_lib.make_policy(_network_config(), action_dim=2)
  obs = {'state': jp.ones((5, 4))}
  params = policy.init(jax.random.PRNGKey(0), obs)
  dist = policy.apply(params, obs)
  chex.assert_shape(dist.mode(), (5, 2))
  chex.assert_shape(dist.log_prob(jp.zeros((5, 2))), (5,))
  chex.assert_type(dist.mode(), jp.float32)


def test_unknown_network_parts_are_config_errors():
  with pytest.raises(ConfigError, match="network.encoder='resnet': expected one of mlp, cnn, vit, entities"):
    policy_lib.make_policy(
        ml_collections.ConfigDict({**_network_config().to_dict(), 'encoder': 'resnet'}), 2
    )


def test_loss_has_the_known_value_for_a_zero_policy():
  policy = policy_lib.make_policy(_network_config(), action_dim=2)
  batch = _regression_batch(n=8)
  params = policy.init(jax.random.PRNGKey(0), batch['observation'])
  params = jax.tree.map(jp.zeros_like, params)  # every output is exactly 0
  loss, metrics = bc.loss(params, policy, _identity_normalization(), batch)
  expected = 0.5 * np.mean(np.sum(np.square(batch['action']), axis=-1))
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert float(metrics['action_mse']) == pytest.approx(np.mean(np.square(batch['action'])), rel=1e-5)


@pytest.fixture(scope='module')
def bc_setup():
  policy = policy_lib.make_policy(_network_config((64, 64)), action_dim=2)
  optimizer = optax.adam(3e-3)
  batch = _regression_batch()
  state = bc.init(jax.random.PRNGKey(0), policy, optimizer,
                  jax.tree.map(lambda x: x[:1], batch['observation']), _identity_normalization())
  return policy, optimizer, batch, state


def test_update_lowers_the_loss_and_never_retraces(bc_setup):
  policy, optimizer, batch, state = bc_setup
  update = jax.jit(chex.assert_max_traces(bc.make_update(policy, optimizer), n=1))
  initial, _ = bc.loss(state.params, policy, state.normalization, batch)
  for i in range(300):
    state, metrics = update(state, batch, jax.random.PRNGKey(i))
  final, _ = bc.loss(state.params, policy, state.normalization, batch)
  assert int(state.step) == 300
  assert float(final) < 0.1 * float(initial), (float(initial), float(final))
  assert set(metrics) == {'loss', 'action_mse', 'grad_norm'}


def test_policy_memorizes_its_training_data(bc_setup):
  """The seed's sanity check: can the network memorise a small training set?"""
  policy, optimizer, _, state = bc_setup
  batch = _regression_batch(n=32, seed=1)
  update = jax.jit(bc.make_update(policy, optimizer))
  for i in range(1500):
    state, _ = update(state, batch, jax.random.PRNGKey(i))
  act = acting.make_act_fn(policy)
  predicted = act.first_action(state.policy_params, batch['observation'], jax.random.PRNGKey(0))
  np.testing.assert_allclose(predicted, batch['action'], atol=0.05)


def test_act_fn_undoes_action_normalization():
  policy = policy_lib.make_policy(_network_config(), action_dim=2)
  params = jax.tree.map(jp.zeros_like, policy.init(jax.random.PRNGKey(0), {'state': jp.ones((1, 4))}))
  norm = _identity_normalization().replace(action_mean=jp.array([1.0, -1.0]), action_std=jp.array([2.0, 2.0]))
  action = acting.make_act_fn(policy).first_action((params, norm), {'state': jp.ones((3, 4))}, jax.random.PRNGKey(0))
  np.testing.assert_allclose(action, np.tile([1.0, -1.0], (3, 1)))  # zero output -> the mean


def test_train_chunk_runs_many_updates_per_call(bc_setup):
  policy, optimizer, batch, state = bc_setup
  dataset = DeviceDataset.from_numpy(batch)
  chunk = chunk_lib.make_train_chunk(
      bc.make_update(policy, optimizer), batch_size=32, steps_per_call=25,
      mesh=sharding.make_mesh(),
  )
  new_state, metrics = chunk(jax.tree.map(jp.copy, state), dataset)
  assert int(new_state.step) == int(state.step) + 25
  assert metrics['loss'].shape == ()
  with pytest.raises(ConfigError, match='not divisible'):
    chunk_lib.make_train_chunk(bc.make_update(policy, optimizer), batch_size=3,
                                 steps_per_call=1, mesh=_FakeMesh())


class _FakeMesh:
  size = 2


def test_cosine_schedule_decays_to_its_floor():
  config = ml_collections.ConfigDict(dict(
      name='adam', learning_rate=1e-3, schedule='cosine', warmup_steps=0,
      final_lr_fraction=0.01, weight_decay=0.0, grad_clip_norm=1.0,
  ))
  schedule = optimizers.make_schedule(config, 100)
  assert float(schedule(0)) == pytest.approx(1e-3)
  assert float(schedule(100)) == pytest.approx(1e-5)
  with pytest.raises(ConfigError, match="optimizer.name='sgd': expected one of adam, adamw"):
    optimizers.make_optimizer(ml_collections.ConfigDict({**config.to_dict(), 'name': 'sgd'}), 100)
