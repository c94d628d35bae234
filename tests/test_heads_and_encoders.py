"""Action distributions and heads, image encoders, augmentation."""

import chex
import jax
from jax import numpy as jp
import numpy as np
import optax
import pytest

from configs import bc as bc_config
from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.errors import ConfigError
from imitation.networks import augmentation
from imitation.networks import distributions
from imitation.networks import encoders
from imitation.networks import policy as policy_lib


def _network(**overrides):
  config = bc_config.get_config('reach').network
  config.hidden_sizes = (32, 32)
  config.update(overrides)
  return config


def test_gaussian_log_prob_known_value():
  dist = distributions.DiagGaussian(jp.zeros(2), jp.ones(2))
  assert float(dist.log_prob(jp.zeros(2))) == pytest.approx(-np.log(2 * np.pi), rel=1e-6)
  wide = distributions.DiagGaussian(jp.array([1.0]), jp.array([2.0]))
  expected = -0.5 * 0.25 - np.log(2.0) - 0.5 * np.log(2 * np.pi)  # z = 0.5
  assert float(wide.log_prob(jp.array([2.0]))) == pytest.approx(expected, rel=1e-6)


def test_mixture_reduces_to_a_gaussian_and_commits_to_one_mode():
  single = distributions.GaussianMixture(jp.zeros(1), jp.array([[0.5, -1.0]]), jp.array([[1.0, 2.0]]))
  gaussian = distributions.DiagGaussian(jp.array([0.5, -1.0]), jp.array([1.0, 2.0]))
  action = jp.array([0.1, 0.3])
  assert float(single.log_prob(action)) == pytest.approx(float(gaussian.log_prob(action)), rel=1e-6)
  two = distributions.GaussianMixture(
      jp.array([0.0, 1.0]), jp.array([[-1.0], [1.0]]), jp.full((2, 1), 0.1))
  np.testing.assert_allclose(two.mode(), [1.0])  # the likelier component's mean, not 0.27
  # Far-apart modes: the density at a mode is its weight times that Gaussian's density.
  weight = float(jax.nn.softmax(jp.array([0.0, 1.0]))[1])
  expected = np.log(weight) + float(distributions.DiagGaussian(jp.array([1.0]), jp.array([0.1])).log_prob(jp.array([1.0])))
  assert float(two.log_prob(jp.array([1.0]))) == pytest.approx(expected, rel=1e-5)
  samples = jax.vmap(two.sample)(jax.random.split(jax.random.PRNGKey(0), 2000))
  assert 0.6 < float(jp.mean(samples > 0)) < 0.85  # weight of the +1 component is 0.73


def test_binned_categorical_scores_bins():
  dist = distributions.BinnedCategorical(jp.zeros((2, 4)), -1.0, 1.0)  # 2 dims x 4 bins
  np.testing.assert_allclose(dist.centers, [-0.75, -0.25, 0.25, 0.75])
  assert float(dist.log_prob(jp.array([0.1, -0.9]))) == pytest.approx(2 * np.log(0.25), rel=1e-6)
  np.testing.assert_array_equal(dist.bin_index(jp.array([-1.0, 0.99])), [0, 3])
  peaked = distributions.BinnedCategorical(jp.array([[0.0, 0.0, 9.0, 0.0]]), -1.0, 1.0)
  np.testing.assert_allclose(peaked.mode(), [0.25])


@pytest.mark.parametrize('head', sorted(set(policy_lib.HEADS) - set(policy_lib.GENERATIVE_HEADS)))
def test_every_likelihood_head_gives_a_distribution_of_the_right_shape(head):
  """(The generative heads: tests/test_sequence_policies.py.)"""
  policy = policy_lib.make_policy(_network(head=head), action_dim=3)
  obs = {'state': jp.ones((5, 10))}
  params = policy.init(jax.random.PRNGKey(0), obs)
  dist = policy.apply(params, obs)
  chex.assert_shape(dist.mode(), (5, 3))
  chex.assert_shape(dist.sample(jax.random.PRNGKey(1)), (5, 3))
  chex.assert_shape(dist.log_prob(jp.zeros((5, 3))), (5,))
  chex.assert_tree_all_finite(dist.log_prob(jp.zeros((5, 3))))


def test_gaussian_bc_loss_known_value_at_zero_parameters():
  config = _network(head='gaussian', min_scale=0.5, max_scale=1.5)
  policy = policy_lib.make_policy(config, action_dim=2)
  batch = {'observation': {'state': jp.ones((4, 10))}, 'action': jp.full((4, 2), 0.5)}
  params = jax.tree.map(jp.zeros_like, policy.init(jax.random.PRNGKey(0), batch['observation']))
  norm = normalization_lib.Normalization({'state': jp.zeros(10)}, {'state': jp.ones(10)}, jp.zeros(2), jp.ones(2))
  loss, _ = bc.loss(params, policy, norm, batch)
  # Zero parameters: mean 0, scale = 0.5 + 1.0 * sigmoid(0) = 1.0 -> NLL of 0.5 under N(0, 1), x2.
  expected = 2 * (0.5 * 0.25 + 0.5 * np.log(2 * np.pi))
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def _fit(head, steps=600):
  """Same observation, labels +1 or -1 half the time: a bimodal target."""
  policy = policy_lib.make_policy(_network(head=head, num_components=2, min_scale=0.05), action_dim=1)
  batch = {'observation': {'state': jp.ones((64, 10))},
           'action': jp.where(jp.arange(64)[:, None] % 2 == 0, 1.0, -1.0)}
  norm = normalization_lib.Normalization({'state': jp.zeros(10)}, {'state': jp.ones(10)}, jp.zeros(1), jp.ones(1))
  optimizer = optax.adam(3e-3)
  state = bc.init(jax.random.PRNGKey(0), policy, optimizer, {'state': jp.ones((1, 10))}, norm)
  update = jax.jit(bc.make_update(policy, optimizer))
  for i in range(steps):
    state, _ = update(state, batch, jax.random.PRNGKey(i))
  return float(policy.apply(state.params, {'state': jp.ones((1, 10))}).mode()[0, 0])


def test_mse_averages_the_two_modes_and_the_mixture_picks_one():
  assert abs(_fit('deterministic')) < 0.1  # the average of +1 and -1: neither mode
  assert abs(abs(_fit('mixture')) - 1.0) < 0.1  # one of the modes


@pytest.mark.parametrize('encoder', ['cnn', 'vit'])
@pytest.mark.parametrize('use_state', [False, True])
def test_image_encoders_take_uint8_images_and_fuse_state(encoder, use_state):
  config = _network(encoder=encoder, use_state=use_state)
  config.cnn.channels = (8, 8, 8)
  config.vit.update(patch_size=8, width=16, depth=1, num_heads=2)
  policy = policy_lib.make_policy(config, action_dim=2)
  obs = {'image': jp.zeros((3, 32, 32, 3), jp.uint8), 'state': jp.ones((3, 10))}
  params = policy.init(jax.random.PRNGKey(0), obs)
  chex.assert_shape(policy.apply(params, obs).mode(), (3, 2))
  has_state_params = 'StateEncoder_0' in params['params']['encoder']
  assert has_state_params == use_state


def test_image_to_float_range():
  x = encoders.image_to_float(jp.array([0, 255], jp.uint8))
  np.testing.assert_allclose(x, [-1.0, 1.0])


def test_random_shift_keeps_shape_and_moves_content():
  images = jp.zeros((16, 12, 12, 3), jp.uint8).at[:, 6, 6].set(255)
  shifted = augmentation.random_shift(jax.random.PRNGKey(0), images, pad=2)
  chex.assert_shape(shifted, images.shape)
  assert shifted.dtype == jp.uint8
  positions = {tuple(np.argwhere(np.asarray(s)[..., 0] == 255)[0]) for s in shifted}
  assert len(positions) > 3  # different shifts per image
  assert all(abs(r - 6) <= 2 and abs(c - 6) <= 2 for r, c in positions)
  np.testing.assert_array_equal(augmentation.random_shift(jax.random.PRNGKey(0), images, 0), images)


def test_spatial_softmax_finds_a_bright_pixel():
  """A channel peaked at row 1, column 3 of a 5x5 map has its keypoint at (x, y) = (0.5, -0.5)."""
  features = jp.zeros((5, 5, 2)).at[1, 3, 0].set(100.0)
  keypoints = encoders.spatial_softmax(features)
  chex.assert_shape(keypoints, (4,))
  np.testing.assert_allclose(keypoints[:2], [0.5, -0.5], atol=1e-4)
  np.testing.assert_allclose(keypoints[2:], [0.0, 0.0], atol=1e-6)  # flat: the centre


def test_cnn_pooling_is_validated():
  config = _network(encoder='cnn')
  config.cnn.pooling = 'max'
  with pytest.raises(ConfigError, match='pooling'):
    policy_lib.make_policy(config, action_dim=2)


def test_cnn_strides_and_learned_temperature():
  config = _network(encoder='cnn')
  config.cnn.update(channels=(4, 4), pooling='spatial_softmax', strides=(1, 2, 2))
  with pytest.raises(ConfigError, match='one stride per layer'):
    policy_lib.make_policy(config, action_dim=2)
  config.cnn.update(strides=(1, 1), learn_temperature=True)
  obs = {'image': jp.zeros((2, 16, 16, 3), jp.uint8)}
  policy = policy_lib.make_policy(config, action_dim=2)
  params = policy.init(jax.random.PRNGKey(0), obs)
  assert params['params']['encoder']['image_encoder']['log_temperature'].shape == ()
  # Stride 1 keeps the full 16x16 map for the keypoints: the last conv sees 16x16 inputs.
  module = encoders.CNN((4, 4), (8,), 'spatial_softmax', strides=(1, 1))
  _, state = module.init_with_output(
      jax.random.PRNGKey(0), obs['image'], capture_intermediates=True, mutable=True)
  assert state['intermediates']['Conv_1']['__call__'][0].shape == (2, 16, 16, 4)
  strided = encoders.CNN((4, 4), (8,), 'spatial_softmax', strides=(2, 2))
  _, state = strided.init_with_output(
      jax.random.PRNGKey(0), obs['image'], capture_intermediates=True, mutable=True)
  assert state['intermediates']['Conv_1']['__call__'][0].shape == (2, 4, 4, 4)


@pytest.mark.parametrize('encoder', ['cnn', 'vit'])
def test_image_preset_memorizes_its_training_images(encoder):
  """The seed's "can the network memorize the training data?", from pixels: the image
  preset with one flag (`network.encoder`) choosing CNN or ViT."""
  config = bc_config.get_config('reach_image').network
  config.encoder = encoder
  config.hidden_sizes = (64,)
  config.cnn.hidden_sizes = (64,)
  config.vit.update(width=32, depth=1)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(8, 16, 16, 3)).astype(np.uint8)
  batch = {'observation': {'image': images}, 'action': rng.normal(size=(8, 2)).astype(np.float32)}
  policy = policy_lib.make_policy(config, action_dim=2)
  optimizer = optax.adam(3e-3)
  norm = normalization_lib.compute(batch, min_std=1e-3, normalize_actions=False)
  state = bc.init(jax.random.PRNGKey(0), policy, optimizer, batch['observation'], norm)
  update = jax.jit(bc.make_update(policy, optimizer))
  _, first = update(state, batch, jax.random.PRNGKey(0))
  for i in range(300):
    state, metrics = update(state, batch, jax.random.PRNGKey(i))
  assert metrics['action_mse'] < 0.02 * first['action_mse']
