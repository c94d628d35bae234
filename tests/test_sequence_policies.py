"""The modern policy family: diffusion and flow heads, action chunks, observation histories,
the acting state that executes them, and the EMA of the weights."""

import dataclasses

import chex
import flax.linen as nn
import jax
from jax import numpy as jp
import numpy as np
import optax
import pytest

from configs import bc as bc_config
from imitation import envs
from imitation import validation
from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.data import windows as windows_lib
from imitation.data.device_dataset import WINDOWS, DeviceDataset
from imitation.envs import rollout
from imitation.errors import ConfigError
from imitation.evaluation import acting
from imitation.networks import distributions
from imitation.networks import generative
from imitation.networks import heads
from imitation.networks import policy as policy_lib
from imitation.training import ema


def _network(**overrides):
  config = bc_config.get_config('reach').network
  config.hidden_sizes = (32, 32)
  config.diffusion.update(width=32, depth=2)
  config.flow.update(width=32, depth=2)
  for key, value in overrides.items():
    section, _, name = key.rpartition('__')
    (config[section] if section else config)[name] = value
  return config


def _identity(state_size: int, action_size: int) -> normalization_lib.Normalization:
  return normalization_lib.Normalization(
      {'state': jp.zeros(state_size)}, {'state': jp.ones(state_size)},
      jp.zeros(action_size), jp.ones(action_size))


# --- heads --------------------------------------------------------------------------------


@pytest.mark.parametrize('head', policy_lib.GENERATIVE_HEADS)
@pytest.mark.parametrize('horizon,history', [(1, 1), (4, 3)])
def test_generative_heads_give_actions_and_chunks_of_the_right_shape(head, horizon, history):
  config = _network(head=head, chunk__horizon=horizon, chunk__execute_steps=1,
                    observation_history=history)
  policy = policy_lib.make_policy(config, action_dim=3)
  observation = {'state': jp.ones((5, history, 10) if history > 1 else (5, 10))}
  params = policy.init(jax.random.PRNGKey(0), observation)
  assert 'denoiser' in params['params']['head']  # its weights are the head's
  distribution = policy.apply(params, observation)
  assert generative.is_generative(distribution)
  for action in (distribution.mode(), distribution.sample(jax.random.PRNGKey(1))):
    chex.assert_shape(action, (5, horizon * 3))
    chex.assert_type(action, jp.float32)
    chex.assert_tree_all_finite(action)
  chex.assert_shape(policy_lib.chunk_actions(distribution.mode(), horizon), (5, horizon, 3))
  loss = distribution.training_loss(jp.zeros((5, horizon * 3)), jax.random.PRNGKey(2))
  chex.assert_shape(loss, (5,))
  with pytest.raises(NotImplementedError, match='training_loss'):
    distribution.log_prob(jp.zeros((5, horizon * 3)))


def _zero_output(params):
  """The head's denoiser with its output layer zeroed: it predicts 0 everywhere."""
  params = jax.tree.map(lambda x: x, params)
  denoiser = params['params']['head']['denoiser']
  last = max((k for k in denoiser if k.startswith('Dense_')), key=lambda k: int(k[6:]))
  denoiser[last] = jax.tree.map(jp.zeros_like, denoiser[last])
  return params


@pytest.mark.parametrize('head', policy_lib.GENERATIVE_HEADS)
def test_generative_loss_on_a_fixed_batch_has_known_values(head):
  """With a denoiser that outputs 0, diffusion's loss is the mean squared noise it drew and
  flow's the mean squared (target - noise), from the same key; masked dimensions drop out."""
  policy = policy_lib.make_policy(_network(head=head), action_dim=2)
  observation = {'state': jp.ones((4, 10))}
  params = _zero_output(policy.init(jax.random.PRNGKey(0), observation))
  target = jp.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0], [-1.0, -1.0]])
  batch = {'observation': observation, 'action': target}
  rng = jax.random.PRNGKey(7)
  noise = jax.random.normal(jax.random.split(rng)[1], target.shape)
  expected = noise if head == 'diffusion' else target - noise
  mask = jp.array([[1.0, 0.0]] * 4)
  per_example, metrics = bc.per_example_loss(params, policy, _identity(10, 2), batch, rng)
  np.testing.assert_allclose(per_example, jp.mean(jp.square(expected), -1), rtol=1e-5)
  assert 'denoise_mse' in metrics
  masked = policy.apply(params, observation).training_loss(target, rng, mask)
  np.testing.assert_allclose(masked, jp.square(expected[:, 0]), rtol=1e-5)
  with pytest.raises(ValueError, match='rng'):
    bc.per_example_loss(params, policy, _identity(10, 2), batch)


@dataclasses.dataclass(frozen=True)
class _Oracle:
  """A denoiser that knows the data is a point mass at `point`: the exact noise (diffusion)
  or velocity (flow) of every noisy action."""
  point: float
  output_size: int
  kind: str
  train_steps: int = 100

  def apply(self, variables, x, time, features):
    del variables, features
    if self.kind == 'flow':
      return (self.point - x) / (1.0 - time[..., None])
    signal = generative.alphas_cumprod('cosine', self.train_steps)[time.astype(jp.int32)]
    return (x - jp.sqrt(signal)[..., None] * self.point) / jp.sqrt(1.0 - signal)[..., None]


def test_samplers_recover_a_point_mass_and_zero_noise_is_deterministic():
  features = jp.zeros((6, 1))
  diffusion = generative.Diffusion(features, {}, _Oracle(0.7, 3, 'diffusion'),
                                   train_steps=100, inference_steps=5, sampler='ddim')
  flow = generative.Flow(features, {}, _Oracle(0.7, 3, 'flow'), inference_steps=4)
  for distribution in (diffusion, flow):
    np.testing.assert_allclose(distribution.mode(), jp.full((6, 3), 0.7), atol=1e-4)
    np.testing.assert_allclose(distribution.sample(jax.random.PRNGKey(3)), 0.7, atol=1e-4)
  # DDIM (eta 0) is a deterministic map of the starting noise: the same key, the same action.
  policy = policy_lib.make_policy(_network(head='diffusion'), action_dim=2)
  observation = {'state': jp.ones((4, 10))}
  params = policy.init(jax.random.PRNGKey(0), observation)
  distribution = policy.apply(params, observation)
  np.testing.assert_array_equal(distribution.mode(), distribution.mode())
  np.testing.assert_array_equal(distribution.sample(jax.random.PRNGKey(5)),
                                distribution.sample(jax.random.PRNGKey(5)))
  ddpm = distribution.replace(sampler='ddpm')
  assert not np.allclose(ddpm.sample(jax.random.PRNGKey(5)), ddpm.sample(jax.random.PRNGKey(6)))


@pytest.mark.parametrize('head', policy_lib.GENERATIVE_HEADS)
def test_two_mode_toy_data_gets_samples_in_both_modes_and_none_between(head):
  """Actions -1 or +1 with equal chance in the same state: samples land near both, not at
  the mean (0), where an MSE head would put every action."""
  config = _network(head=head, hidden_sizes=(32,))
  config[head].update(width=64, depth=2)
  policy = policy_lib.make_policy(config, action_dim=1)
  optimizer = optax.adam(3e-3)
  rng = np.random.default_rng(0)
  actions = rng.choice([-1.0, 1.0], size=(4096, 1)).astype(np.float32)
  dataset = DeviceDataset.from_numpy(
      {'observation': {'state': np.zeros((4096, 1), np.float32)}, 'action': actions})
  state = bc.init(jax.random.PRNGKey(0), policy, optimizer, {'state': jp.zeros((1, 1))},
                  _identity(1, 1))
  update = bc.make_update(policy, optimizer)

  @jax.jit
  def train(state, rng):
    def body(state, key):
      rng_sample, rng_update = jax.random.split(key)
      return update(state, dataset.sample(rng_sample, 256), rng_update)
    return jax.lax.scan(body, state, jax.random.split(rng, 1500))

  state, _ = train(state, jax.random.PRNGKey(1))
  distribution = policy.apply(state.params, {'state': jp.zeros((2000, 1))})
  samples = np.asarray(distribution.sample(jax.random.PRNGKey(2)))[:, 0]
  near_plus, near_minus = np.mean(np.abs(samples - 1) < 0.3), np.mean(np.abs(samples + 1) < 0.3)
  assert near_plus > 0.3 and near_minus > 0.3, (near_plus, near_minus)
  assert np.mean(np.abs(samples) < 0.5) < 0.05


# --- windows --------------------------------------------------------------------------------


def test_windows_pad_past_the_episode_end_and_before_its_start():
  episode_index = np.array([4, 4, 4, 9, 9])  # two episodes: rows 0-2 and 3-4
  windows = windows_lib.window_indices(episode_index, horizon=3, history=2)
  np.testing.assert_array_equal(windows['future_index'],
                                [[0, 1, 2], [1, 2, 2], [2, 2, 2], [3, 4, 4], [4, 4, 4]])
  np.testing.assert_array_equal(windows['chunk_mask'],
                                [[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0]])
  np.testing.assert_array_equal(windows['past_index'], [[0, 0], [0, 1], [1, 2], [3, 3], [3, 4]])
  assert windows_lib.window_indices(episode_index) == {}


def test_device_dataset_gathers_chunks_and_histories():
  rows = 5
  data = {'observation': {'state': np.arange(rows, dtype=np.float32)[:, None] * [1.0, 10.0],
                          'task_id': np.arange(rows, dtype=np.int32)},
          'action': np.arange(rows, dtype=np.float32)[:, None],
          WINDOWS: windows_lib.window_indices(np.array([0, 0, 0, 1, 1]), 3, 2)}
  dataset = DeviceDataset.from_numpy(data, capacity=8)
  batch = jax.jit(lambda key: dataset.sample(key, 64))(jax.random.PRNGKey(0))
  chex.assert_shape(batch['action'], (64, 3, 1))
  chex.assert_shape(batch['chunk_mask'], (64, 3))
  chex.assert_shape(batch['observation']['state'], (64, 2, 2))
  chex.assert_shape(batch['observation']['task_id'], (64,))  # static keys are not stacked
  assert WINDOWS not in batch
  row = np.asarray(batch['observation']['task_id'])  # the sampled row (task_id = row here)
  expected = windows_lib.window_indices(np.array([0, 0, 0, 1, 1]), 3, 2)
  np.testing.assert_array_equal(batch['action'][..., 0], expected['future_index'][row])
  np.testing.assert_array_equal(batch['chunk_mask'], expected['chunk_mask'][row])
  np.testing.assert_array_equal(batch['observation']['state'][..., 0], expected['past_index'][row])
  assert row.max() < rows  # the capacity padding is never sampled


def test_sharded_dataset_gathers_each_shards_windows_from_its_own_rows():
  # Two shards of whole episodes (as inputs.device_dataset splits them), unequal lengths;
  # the action of a row is 100 * shard + its row, so a gather from the wrong shard shows.
  episodes = [np.array([0, 0, 0, 1, 1]), np.array([2, 2, 2, 2])]
  shards = [{'observation': {'state': np.arange(len(e), dtype=np.float32)[:, None]},
             'action': 100.0 * s + np.arange(len(e), dtype=np.float32)[:, None],
             WINDOWS: windows_lib.window_indices(e, 3, 2)} for s, e in enumerate(episodes)]
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1] * 1), ('data',))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  dataset = DeviceDataset.from_shards(shards, sharding, num_shards=2, rows=5, size=9)
  batch = jax.jit(lambda key: dataset.sample(key, 64))(jax.random.PRNGKey(0))
  chex.assert_shape(batch['action'], (64, 3, 1))
  chex.assert_shape(batch['observation']['state'], (64, 2, 1))
  for i in range(64):
    shard = i // 32  # shard-major batch order
    row = int(batch['observation']['state'][i, -1, 0])
    expected = windows_lib.window_indices(episodes[shard], 3, 2)
    np.testing.assert_array_equal(batch['action'][i, :, 0],
                                  100.0 * shard + expected['future_index'][row])
    np.testing.assert_array_equal(batch['chunk_mask'][i], expected['chunk_mask'][row])
    np.testing.assert_array_equal(batch['observation']['state'][i, :, 0],
                                  expected['past_index'][row])


def test_chunk_targets_past_the_episode_end_add_no_loss():
  policy = policy_lib.make_policy(_network(chunk__horizon=3), action_dim=2)
  observation = {'state': jp.ones((4, 10))}
  params = policy.init(jax.random.PRNGKey(0), observation)
  action = jax.random.normal(jax.random.PRNGKey(1), (4, 3, 2))
  mask = jp.array([[1, 1, 0]] * 4, bool)
  batch = {'observation': observation, 'action': action, 'chunk_mask': mask}
  changed = {**batch, 'action': action.at[:, 2].add(100.0)}
  loss, _ = bc.loss(params, policy, _identity(10, 2), batch)
  assert float(loss) == pytest.approx(float(bc.loss(params, policy, _identity(10, 2),
                                                    changed)[0]), rel=1e-6)


# --- acting -------------------------------------------------------------------------------


class _StateEncoder(nn.Module):
  @nn.compact
  def __call__(self, observation):
    return observation['state']


def _clock_policy(horizon, execute_steps, temporal_ensemble=False, decay=0.0):
  """A chunked policy whose chunk made at time t (observation [t]) is
  100 t + (0, 1, ..., H * A - 1), A = 2."""
  policy = policy_lib.Policy(
      encoder=_StateEncoder(), head=heads.DeterministicHead(horizon * 2),
      action_horizon=horizon, action_dim=2, execute_steps=execute_steps,
      temporal_ensemble=temporal_ensemble, ensemble_decay=decay)
  params = policy.init(jax.random.PRNGKey(0), {'state': jp.zeros((1, 1))})
  params = {'params': {'head': {'Dense_0': {
      'kernel': jp.full((1, horizon * 2), 100.0), 'bias': jp.arange(horizon * 2.0)}}}}
  return policy, (params, _identity(1, 2))


def _act_over_time(policy, policy_params, steps, batch=3):
  actor = acting.make_act_fn(policy)
  act = jax.jit(chex.assert_max_traces(actor.act, n=1))
  state = actor.initial_state(policy_params, {'state': jp.zeros((batch, 1))})
  actions = []
  for t in range(steps):
    action, state = act(policy_params, {'state': jp.full((batch, 1), float(t))}, state,
                        jax.random.PRNGKey(t))
    actions.append(np.asarray(action))
  return np.stack(actions)  # [steps, batch, 2]


def _chunk(t, horizon):
  return (100.0 * t + np.arange(horizon * 2.0)).reshape(horizon, 2)


def test_receding_horizon_replays_exactly_the_chunk_it_predicted():
  chex.clear_trace_counter()
  horizon, execute = 4, 3
  policy, policy_params = _clock_policy(horizon, execute)
  actions = _act_over_time(policy, policy_params, steps=8)
  for t in range(8):
    planned_at = t - t % execute
    np.testing.assert_array_equal(actions[t], np.tile(_chunk(planned_at, horizon)[t % execute],
                                                      (3, 1)))


def test_temporal_ensembling_averages_every_chunks_prediction_for_the_step():
  chex.clear_trace_counter()
  horizon, decay = 3, 0.5
  policy, policy_params = _clock_policy(horizon, 1, temporal_ensemble=True, decay=decay)
  actions = _act_over_time(policy, policy_params, steps=6, batch=2)
  for t in range(6):
    made = list(range(max(0, t - horizon + 1), t + 1))  # oldest first
    weights = np.exp(-decay * np.arange(len(made)))
    predictions = np.stack([_chunk(s, horizon)[t - s] for s in made])
    expected = (weights[:, None] * predictions).sum(0) / weights.sum()
    np.testing.assert_allclose(actions[t, 0], expected, rtol=1e-5)


def test_history_starts_with_the_first_observation_repeated():
  class Last(nn.Module):  # the head sees [o_{t-2}, o_{t-1}, o_t] merged into one vector
    @nn.compact
    def __call__(self, features):
      return distributions.Deterministic(features)

  policy = policy_lib.Policy(encoder=_StateEncoder(), head=Last(), observation_history=3,
                             action_dim=3)
  policy_params = ({}, _identity(1, 3))
  actions = _act_over_time(policy, policy_params, steps=4, batch=1)[:, 0]
  np.testing.assert_array_equal(actions, [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]])


def test_sampled_spread_is_the_heads_std_at_the_inputs_the_actor_saw():
  class Spread(nn.Module):  # N(0, (0.1 (1 + x))^2) on each of [o_{t-2}, o_{t-1}, o_t]
    @nn.compact
    def __call__(self, features):
      return distributions.DiagGaussian(jp.zeros_like(features), 0.1 * (1.0 + features))

  policy = policy_lib.Policy(encoder=_StateEncoder(), head=Spread(), observation_history=3,
                             action_dim=3)
  policy_params = ({}, _identity(1, 3))
  actor = acting.make_act_fn(policy)
  spread = jax.jit(acting.make_spread_fn(policy, num_samples=4096))
  state = actor.initial_state(policy_params, {'state': jp.zeros((2, 1))})
  for t, history in enumerate([(0, 0, 0), (0, 0, 1), (0, 1, 2)]):
    observation = {'state': jp.full((2, 1), float(t))}
    _, state = actor(policy_params, observation, state, jax.random.PRNGKey(t))
    got = spread(policy_params, observation, state, jax.random.PRNGKey(10 + t))
    chex.assert_shape(got, (2,))
    np.testing.assert_allclose(got, 0.1 * (1.0 + np.mean(history)), rtol=0.05)
  point = policy_lib.Policy(encoder=_StateEncoder(), head=heads.DeterministicHead(1))
  point_params = (point.init(jax.random.PRNGKey(0), {'state': jp.zeros((1, 1))}),
                  _identity(1, 1))
  np.testing.assert_array_equal(acting.make_spread_fn(point, 8)(
      point_params, {'state': jp.ones((2, 1))}, (), jax.random.PRNGKey(0)), [0.0, 0.0])


def test_rollout_of_a_chunked_diffusion_policy_compiles_its_step_once():
  chex.clear_trace_counter()
  env = envs.make('obstacle')
  config = _network(head='diffusion', chunk__horizon=4, chunk__execute_steps=2,
                    observation_history=2)
  policy = policy_lib.make_policy(config, env.action_size)
  params = policy.init(jax.random.PRNGKey(0), {'state': jp.zeros((1, 2, 4))})
  actor = acting.make_act_fn(policy)
  counted = rollout.Actor(chex.assert_max_traces(actor.act, n=1), actor.initial_state)
  run = jax.jit(rollout.make_rollout(env, 12, counted))
  policy_params = (params, _identity(4, 2))
  for seed in range(2):
    trajectory = run(policy_params, jax.random.split(jax.random.PRNGKey(seed), 4),
                     jax.random.PRNGKey(seed), 0.0)
    chex.assert_shape(trajectory.action, (12, 4, 2))
    chex.assert_tree_all_finite(trajectory.action)


# --- EMA ----------------------------------------------------------------------------------


def test_ema_follows_the_weights_with_its_warmed_up_decay_and_is_what_acts():
  config = bc_config.get_config('reach,debug')
  config.train.ema_decay = 0.9
  learner = ema.with_ema(bc.make_learner(config, 2), config.train.ema_decay)
  observation = {'state': jp.ones((8, 10))}
  state = learner.init(jax.random.PRNGKey(0), example_observation={'state': jp.ones((1, 10))},
                       normalization=_identity(10, 2))
  chex.assert_trees_all_equal(state.ema_params, state.params)
  batch = {'observation': observation, 'action': jp.ones((8, 2))}
  average = state.params
  for step in range(1, 4):
    state, _ = jax.jit(learner.update)(state, batch, jax.random.PRNGKey(step))
    rate = 1.0 - min(0.9, (1 + step) / (10 + step))
    average = jax.tree.map(lambda new, old: rate * new + (1 - rate) * old, state.params, average)
    chex.assert_trees_all_close(state.ema_params, average, rtol=1e-5)
  assert state.policy_params[0] is state.ema_params
  with pytest.raises(ConfigError, match='ema_decay'):
    ema.with_ema(learner, 1.5)


# --- config -------------------------------------------------------------------------------


@pytest.mark.parametrize('overrides,message', [
    (dict(horizon=2, execute_steps=3), 'execute_steps=3: expected at most'),
    (dict(horizon=4, execute_steps=2, temporal_ensemble=True), 'temporal_ensemble'),
])
def test_chunk_settings_that_cannot_act_are_refused(overrides, message):
  config = bc_config.get_config('obstacle')
  config.network.chunk.update(overrides)
  with pytest.raises(ConfigError, match=message):
    validation.validate(config)
  with pytest.raises(ConfigError, match=message):
    policy_lib.make_policy(config.network, 2)


def test_diffusion_inference_steps_beyond_training_steps_are_refused():
  config = bc_config.get_config('obstacle_diffusion')
  config.network.diffusion.update(train_steps=10, inference_steps=20)
  with pytest.raises(ConfigError, match='inference_steps=20'):
    validation.validate(config)


def test_image_histories_are_shifted_alike_in_every_frame():
  frame = jax.random.randint(jax.random.PRNGKey(0), (2, 1, 8, 8, 3), 0, 255).astype(jp.uint8)
  batch = {'observation': {'image': jp.repeat(frame, 3, axis=1)}, 'action': jp.zeros((2, 2))}
  shifted = bc.augment(batch, jax.random.PRNGKey(1), 2)['observation']['image']
  chex.assert_shape(shifted, (2, 3, 8, 8, 3))
  chex.assert_type(shifted, jp.uint8)
  for t in (1, 2):
    np.testing.assert_array_equal(shifted[:, t], shifted[:, 0])
  assert not np.array_equal(shifted[:, 0], frame[:, 0])


@pytest.mark.slow
def test_a_chunked_history_diffusion_policy_trains_as_members_exports_and_reloads(tmp_path):
  """The whole path: windows in the stacked per-seed datasets, the vmapped update with the
  EMA, the chunked acting state in the members' evaluation, export of the average."""
  from imitation.training import checkpoint  # pylint: disable=g-import-not-at-top
  config = bc_config.get_config('obstacle_diffusion,debug')
  config.network.diffusion.update(width=32, depth=1, inference_steps=4)
  config.network.chunk.update(horizon=4, execute_steps=2)
  config.network.observation_history = 2
  config.train.ema_decay = 0.9
  config.num_seeds = 2
  results = bc.train(config, str(tmp_path))
  assert len(results['seeds']) == 2
  assert all(0.0 <= s['success_rate'] <= 1.0 for s in results['seeds'])
  policy, policy_params, _ = checkpoint.load_policy(str(tmp_path / 'policy' / 'seed_0'))
  assert (policy.action_horizon, policy.execute_steps, policy.observation_history) == (4, 2, 2)
  actor = acting.make_act_fn(policy)
  observation = {'state': jp.zeros((3, 4))}
  action, state = actor(policy_params, observation, actor.initial_state(policy_params,
                                                                         observation),
                        jax.random.PRNGKey(0))
  chex.assert_shape(action, (3, 2))
  chex.assert_shape(state['plan'], (3, 4, 2))


def test_any_preset_reads_images_with_the_image_arg():
  config = bc_config.get_config('obstacle_flow,image')
  assert (config.env.kwargs.image_size, config.env.frame_stack) == (32, 2)
  assert (config.network.encoder, config.network.use_state) == ('cnn', False)
  assert (config.network.head, config.network.chunk.horizon) == ('flow', 8)  # the preset's
  assert not validation.problems(config)
  plain = bc_config.get_config('obstacle_flow')
  assert plain.env.kwargs.image_size == 0 and plain.network.encoder == 'mlp'
