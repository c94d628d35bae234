"""The JAX rasterizer, image observations, the actuator-noise wrapper, videos."""

import chex
import jax
from jax import numpy as jp
import ml_collections
import numpy as np
import pytest

from configs import common
from imitation import envs
from imitation.envs import render
from imitation.envs import rollout
from imitation.envs import wrappers
from imitation.evaluation import video


def test_camera_maps_world_to_pixels_north_up():
  camera = render.make_camera(4, jp.zeros(2), 1.0)
  points = np.asarray(camera.points)
  # Top-left pixel centre is at (-0.75, +0.75), bottom-right at (+0.75, -0.75).
  np.testing.assert_allclose(points[0, 0], [-0.75, 0.75], atol=1e-6)
  np.testing.assert_allclose(points[-1, -1], [0.75, -0.75], atol=1e-6)
  # Heading +x up: the pixel above the centre lies in +x.
  ego = np.asarray(render.make_camera(4, jp.zeros(2), 1.0, angle=0.0).points)
  np.testing.assert_allclose(ego[0, 0], [0.75, 0.75], atol=1e-6)


def test_primitives_cover_what_they_should():
  camera = render.make_camera(32, jp.zeros(2), 1.0)
  canvas = render.blank(32, (0.0, 0.0, 0.0))
  canvas = render.circle(canvas, camera, jp.array([0.5, 0.5]), 0.2, (1.0, 0.0, 0.0))
  canvas = render.box(canvas, camera, jp.array([-0.5, -0.5]), jp.array([0.3, 0.1]), 0.0, (0.0, 1.0, 0.0))
  image = np.asarray(render.to_uint8(canvas))
  chex.assert_shape(image, (32, 32, 3))
  assert image.dtype == np.uint8
  assert image[8, 24, 0] == 255 and image[8, 24, 1] == 0  # inside the circle (upper right)
  assert image[24, 8, 1] == 255  # inside the box (lower left)
  assert image[24, 24].sum() == 0  # empty quadrant
  # The box is long along x: 0.6 wide x 0.2 tall -> about 10 x 3 pixels of green.
  green = image[..., 1] > 127
  assert 25 <= green.sum() <= 40, green.sum()


# The suite pads state vectors only (its members render on their own).
@pytest.mark.parametrize('task', sorted(t for t in common.TASKS if t != 'suite'))
def test_image_observations_are_uint8_and_vmappable(task):
  env = envs.make(task, image_size=48)
  spec = envs.observation_spec(env)
  assert spec['image'].shape == (48, 48, 3) and spec['image'].dtype == jp.uint8
  states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 3))
  images = np.asarray(states.obs['image'])
  chex.assert_shape(images, (3, 48, 48, 3))
  assert images.std() > 10  # not blank
  assert not np.array_equal(images[0], images[1])  # different scenes look different


def test_action_noise_perturbs_execution_but_not_the_start():
  env = envs.make('drive')
  noisy = wrappers.ActionNoise(env, relative_std=0.0, absolute_std=0.2)
  key = jax.random.PRNGKey(0)
  clean_state, noisy_state = jax.jit(env.reset)(key), jax.jit(noisy.reset)(key)
  np.testing.assert_array_equal(clean_state.obs['state'], noisy_state.obs['state'])
  action = jp.array([0.05])  # inside the steering rate limit, so noise changes the angle
  clean_next = jax.jit(env.step)(clean_state, action)
  noisy_step = jax.jit(noisy.step)
  noisy_next = noisy_step(noisy_state, action)
  assert not np.allclose(clean_next.obs['state'], noisy_next.obs['state'])
  # The noise key advances, so consecutive steps draw different noise.
  assert not np.array_equal(noisy_next.info['action_noise_rng'], noisy_state.info['action_noise_rng'])
  with pytest.raises(ValueError, match='>= 0'):
    wrappers.ActionNoise(env, relative_std=-0.1)


def test_make_from_config_adds_noise_only_when_asked():
  config = ml_collections.ConfigDict(dict(
      name='drive', kwargs=dict(), action_noise=dict(relative_std=0.0, absolute_std=0.0)))
  assert not isinstance(envs.make_from_config(config), wrappers.ActionNoise)
  config.action_noise.relative_std = 0.05
  env = envs.make_from_config(config)
  assert isinstance(env, wrappers.ActionNoise) and env.relative_std == 0.05
  assert envs.expert_fn(env) is not None  # the expert is found through the wrapper


def test_frame_stack_keeps_the_last_frames_oldest_first():
  env = envs.make('drive', image_size=16)  # pure JAX: compiles fast
  stacked = wrappers.FrameStack(env, 3)
  assert envs.observation_spec(stacked)['image'].shape == (16, 16, 9)
  key = jax.random.PRNGKey(0)
  state = jax.jit(stacked.reset)(key)
  first = np.asarray(jax.jit(env.reset)(key).obs['image'])
  np.testing.assert_array_equal(np.asarray(state.obs['image']), np.concatenate([first] * 3, -1))
  step = jax.jit(stacked.step)
  frames = [first]
  for _ in range(3):  # the car moves, so each frame differs from the one before
    state = step(state, jp.full(env.action_size, 0.05))
    frames.append(np.asarray(state.info['frame_stack'][-1]))
  assert not np.array_equal(frames[-1], frames[-2])
  np.testing.assert_array_equal(np.asarray(state.obs['image']), np.concatenate(frames[-3:], -1))
  assert state.obs['state'].shape == env.reset(key).obs['state'].shape  # other keys pass through


def test_frame_stack_errors_and_config():
  with pytest.raises(ValueError, match='>= 1'):
    wrappers.FrameStack(envs.make('drive', image_size=16), 0)
  with pytest.raises(ValueError, match='image_size'):
    envs.observation_spec(wrappers.FrameStack(envs.make('drive'), 2))
  config = common.env_config('drive')
  config.kwargs.image_size = 16
  assert not isinstance(envs.make_from_config(config), wrappers.FrameStack)  # default 1
  config.frame_stack = 2
  env = envs.make_from_config(config)
  assert isinstance(env, wrappers.FrameStack) and env.num_frames == 2
  assert envs.expert_fn(env) is not None


def test_video_frames_freeze_after_the_episode_ends(tmp_path):
  config = ml_collections.ConfigDict(dict(
      name='drive', kwargs=dict(lane_half_width=0.02, init_offset=0.05), horizon=20,
      action_noise=dict(relative_std=0.0, absolute_std=0.0)))
  # A hard-left policy leaves the narrow lane quickly; the frames then stop changing.
  act = rollout.stateless(lambda params, obs, rng: jp.ones((obs['state'].shape[0], 1)))
  frames = video.record(config, act, None, jax.random.PRNGKey(0), num_episodes=2, size=24)
  chex.assert_shape(frames, (21, 2, 24, 24, 3))
  assert np.array_equal(frames[-1], frames[-2])
  grid = video.tile(frames, columns=2)
  chex.assert_shape(grid, (21, 26, 52, 3))
  path = video.save_gif(str(tmp_path / 'a.gif'), grid, 0.05)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  assert Image.open(path).n_frames >= 2


@pytest.mark.parametrize(
    'task,frame_stack', [('drive', 1), ('grasp_multimodal', 1), ('reach_multi', 1), ('reach', 2)]
)
def test_collection_with_images_round_trips(tmp_path, task, frame_stack):
  from imitation.data import collect, rlds  # pylint: disable=g-import-not-at-top
  env_config = common.env_config(task)
  env_config.kwargs.image_size = 24
  env_config.frame_stack = frame_stack  # 2 frames = 6 channels: stored as a tensor, not a PNG
  channels = 3 * frame_stack
  collect_config = common.collect_config(task)
  collect_config.num_episodes = collect_config.num_parallel_envs = 3
  summary = collect.collect_demonstrations(env_config, collect_config, str(tmp_path / task))
  assert summary['num_episodes'] == 3 and summary['success_rate'] == 1.0
  episodes, metadata = rlds.load_episodes(str(tmp_path / task))
  horizon = env_config.horizon
  observation = episodes[0]['steps']['observation']
  assert observation['image'].shape == (horizon + 1, 24, 24, channels)
  assert observation['image'].dtype == np.uint8
  assert metadata['observation_spec']['image'] == {'shape': [24, 24, channels], 'dtype': 'uint8'}
  if frame_stack == 2:  # the first step repeats the reset frame; later ones differ
    first = observation['image'][0]
    np.testing.assert_array_equal(first[..., :3], first[..., 3:])
    assert not np.array_equal(observation['image'][5][..., :3], observation['image'][5][..., 3:])
  if task == 'reach_multi':
    assert observation['task_id'].dtype == np.int32
    assert len(set(observation['task_id'].tolist())) == 1  # fixed within an episode
    for episode in episodes:  # the metadata records the task the observations carried
      task_ids = episode['steps']['observation']['task_id']
      assert episode['episode_metadata']['task_id'] == task_ids[0]
