"""Tasks: registry, observation contract, expert quality, success rules, determinism."""

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest

from configs import common
from imitation import envs
from imitation.envs import pick_place
from imitation.envs import tabletop
from imitation.envs import wrappers
from imitation.evaluation.evaluator import Evaluator

# The suite's members are the tasks here; tests/test_suite.py covers the suite itself.
TASKS = sorted(t for t in common.TASKS if t != 'suite')
STATE_SIZES = {'obstacle': 4,
    'reach': 10, 'drive': 10, 'push': 14, 'grasp': 9, 'grasp_multimodal': 9, 'reach_multi': 14,
    'tabletop': 24, 'pick_place': 18,
}
MULTI_TASK = ('reach_multi', 'tabletop', 'pick_place')


@pytest.fixture(scope='module', params=TASKS)
def task(request):
  return request.param, envs.make(request.param, **common.TASKS[request.param]['kwargs'])


def test_registry_knows_every_configured_task_and_rejects_unknown():
  assert set(TASKS) <= set(envs.registered_tasks())
  with pytest.raises(ValueError, match="unknown task 'nope'.*reach"):
    envs.make('nope')


def test_observation_is_a_float32_state_dict(task):
  name, env = task
  spec = envs.observation_spec(env)
  assert set(spec) == ({'state', 'task_id'} if name in MULTI_TASK else {'state'})
  if 'task_id' in spec:
    assert spec['task_id'].shape == () and spec['task_id'].dtype == jp.int32
  assert spec['state'].shape == (STATE_SIZES[name],)
  assert spec['state'].dtype == jp.float32
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  chex.assert_shape(state.obs['state'], (STATE_SIZES[name],))
  assert 'success' in state.metrics


def test_reset_and_step_are_deterministic_under_a_fixed_key(task):
  _, env = task
  reset = jax.jit(jax.vmap(env.reset))
  keys = jax.random.split(jax.random.PRNGKey(7), 4)
  first, second = reset(keys), reset(keys)
  np.testing.assert_array_equal(first.obs['state'], second.obs['state'])
  other = reset(jax.random.split(jax.random.PRNGKey(8), 4))
  assert not np.allclose(first.obs['state'], other.obs['state'])
  step = jax.jit(jax.vmap(env.step))
  action = jp.zeros((4, env.action_size))
  np.testing.assert_array_equal(step(first, action).obs['state'], step(second, action).obs['state'])


def test_expert_succeeds_on_at_least_95_percent_of_1000_episodes(task):
  name, env = task
  evaluator = Evaluator(env, act_fn=None, num_episodes=1000, horizon=common.TASKS[name]['horizon'])
  metrics = evaluator(None, jax.random.PRNGKey(0))
  assert metrics['success_rate'] >= 0.95, metrics


def test_expert_is_vmappable_and_bounded(task):
  _, env = task
  states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 8))
  expert = jax.jit(jax.vmap(envs.expert_fn(env)))
  actions = expert(states, jax.random.split(jax.random.PRNGKey(1), 8))
  chex.assert_shape(actions, (8, env.action_size))
  assert np.all(np.abs(np.asarray(actions)) <= 1.0)


def test_reach_success_means_fingertip_within_radius():
  env = envs.make('reach')
  state = jax.jit(env.reset)(jax.random.PRNGKey(1))
  to_target = np.asarray(state.obs['state'][-2:])
  assert state.metrics['distance'] == pytest.approx(np.linalg.norm(to_target), rel=1e-5)
  assert float(state.metrics['success']) == float(np.linalg.norm(to_target) < 0.02)


def test_reach_rejects_an_invalid_target_annulus():
  with pytest.raises(ValueError, match='target_radius'):
    envs.make('reach', target_radius_min=0.3, target_radius_max=0.2)


def test_push_success_means_the_puck_is_within_the_goal_radius():
  env = envs.make('push')
  state = jax.jit(env.reset)(jax.random.PRNGKey(2))
  to_goal = np.asarray(state.obs['state'][10:12])
  assert float(state.metrics['goal_distance']) == pytest.approx(np.linalg.norm(to_goal), rel=1e-5)
  assert float(state.metrics['success']) == float(np.linalg.norm(to_goal) < 0.05)


def test_push_moves_the_puck_only_by_contact():
  env = envs.make('push')
  state = jax.jit(env.reset)(jax.random.PRNGKey(2))
  step = jax.jit(env.step)
  puck = np.asarray(state.pipeline_state.q[2:4])
  away = np.asarray(state.pipeline_state.q[:2]) - puck
  for _ in range(20):  # drive the pusher straight away from the puck
    state = step(state, jp.asarray(np.sign(away), jp.float32))
  np.testing.assert_allclose(state.pipeline_state.q[2:4], puck, atol=1e-4)


def test_drive_ends_the_episode_when_the_car_leaves_the_lane():
  env = envs.make('drive', lane_half_width=0.1)
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  step = jax.jit(env.step)
  for _ in range(40):  # full left lock: the car leaves a 10 cm lane within a second
    state = step(state, jp.ones(1))
    if state.done:
      break
  assert float(state.done) == 1.0
  assert float(state.metrics['success']) == 0.0
  assert float(state.metrics['lateral_error']) > 0.1
  assert float(state.obs['state'][0]) > 0.9  # the steering angle saturated left


def test_drive_expert_tracks_the_centre_line():
  env = envs.make('drive')
  state = jax.jit(env.reset)(jax.random.PRNGKey(3))
  step, expert = jax.jit(env.step), jax.jit(envs.expert_fn(env))
  errors = []
  for _ in range(200):
    state = step(state, expert(state, None))
    errors.append(float(state.metrics['lateral_error']))
  assert max(errors) < 0.1 and float(state.done) == 0.0
  assert float(state.metrics['distance']) > 200 * 1.5 * 0.05 * 0.9  # it made progress


def test_grasp_colour_decides_the_end_and_green_bars_are_multimodal():
  env = envs.make('grasp_multimodal')
  states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(1), 2000))
  scene = states.pipeline_state
  green = np.asarray(scene.color) == 2
  assert 0.2 < green.mean() < 0.5  # half the bars (70% of objects are bars)
  expert = jax.jit(jax.vmap(envs.expert_fn(env)))
  step = jax.jit(jax.vmap(env.step))
  first = expert(states, jax.random.split(jax.random.PRNGKey(2), 2000))
  assert np.asarray(step(states, first).metrics['success']).mean() == 1.0
  # Over many draws the expert uses both ends of green bars (a bimodal label)...
  second = expert(states, jax.random.split(jax.random.PRNGKey(3), 2000))
  differs = np.abs(np.asarray(first[:, :2]) - np.asarray(second[:, :2])).max(-1) > 0.1
  assert differs[green].mean() > 0.3 and not differs[~green].any()
  # ...and the average of its two grasps, the MSE-optimal answer, fails.
  points = jax.vmap(env._grasp_points)(scene)  # pylint: disable=protected-access
  midpoint = first.at[:, :2].set(jp.mean(points, axis=1) / 0.2)
  assert np.asarray(step(states, midpoint).metrics['success'])[green].mean() == 0.0
  # A red bar grasped at its plain end fails: colour decides the end.
  red_bar = (np.asarray(scene.color) == 0) & (np.asarray(scene.shape) == 0)
  other_end = 2 * scene.position - points[:, 0]  # the bar's centre is midway
  wrong_end = first.at[:, :2].set(other_end / 0.2)
  assert np.asarray(step(states, wrong_end).metrics['success'])[red_bar].mean() == 0.0


def test_grasp_episodes_last_one_step():
  env = envs.make('grasp')
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  state = jax.jit(env.step)(state, jp.zeros(4))
  assert float(state.done) == 1.0


def test_reach_multi_holds_out_task_sector_pairs():
  train = envs.make('reach_multi', held_out=((0, 0), (2, 1)), mode='train')
  held_out = envs.make('reach_multi', held_out=((0, 0), (2, 1)), mode='held_out')
  keys = jax.random.split(jax.random.PRNGKey(0), 1000)

  def pairs(env):
    info = jax.jit(jax.vmap(env.reset))(keys).info
    return set(zip(np.asarray(info['task_id']).tolist(), np.asarray(info['sector']).tolist()))

  assert pairs(held_out) == {(0, 0), (2, 1)}
  assert len(pairs(train)) == 7 and not pairs(train) & {(0, 0), (2, 1)}
  with pytest.raises(ValueError, match='not'):
    envs.make('reach_multi', held_out=((5, 0),))


def test_reach_multi_task_id_changes_the_expert_action_in_the_same_scene():
  env = envs.make('reach_multi')
  state = jax.jit(env.reset)(jax.random.PRNGKey(4))
  expert = jax.jit(envs.expert_fn(env))
  actions = []
  for task_id in range(3):  # the same scene, each target selected in turn
    target = state.info['targets'][task_id]
    q = state.pipeline_state.q.at[2:4].set(target)
    retargeted = state.replace(pipeline_state=state.pipeline_state.replace(q=q))
    actions.append(np.asarray(expert(retargeted, None)))
  assert not np.allclose(actions[0], actions[1]) and not np.allclose(actions[1], actions[2])


def test_reach_multi_success_is_measured_to_the_chosen_target():
  env = envs.make('reach_multi')
  state = jax.jit(env.reset)(jax.random.PRNGKey(6))
  fingertip = np.asarray(state.obs['state'][6:8])
  targets = np.asarray(state.info['targets'])
  chosen = int(state.obs['task_id'])
  np.testing.assert_allclose(targets.reshape(-1), state.obs['state'][8:], rtol=1e-6)
  assert float(state.metrics['distance']) == pytest.approx(
      np.linalg.norm(targets[chosen] - fingertip), rel=1e-5)


@pytest.mark.parametrize('name', tabletop.TASKS)
def test_tabletop_expert_succeeds_on_every_task(name):
  """>= 95% on each task of the family alone (1,000 episodes each): the `tasks` subset draws
  only that task's combinations, with the family's task ids."""
  env = envs.make('tabletop', tasks=(name,))
  metrics = Evaluator(env, act_fn=None, num_episodes=1000, horizon=1)(None, jax.random.PRNGKey(0))
  assert set(metrics['per_task']) == {name}
  assert metrics['success_rate'] >= 0.95, metrics


def test_tabletop_holds_out_combinations_and_names_its_tasks():
  held_out = ((1, 0, 0), (2, 1, 1))
  keys = jax.random.split(jax.random.PRNGKey(0), 2000)

  def ids(**kwargs):
    env = envs.make('tabletop', held_out=held_out, **kwargs)
    return set(np.asarray(jax.jit(jax.vmap(env.reset))(keys).obs['task_id']).tolist())

  reserved = {tabletop.task_id(*c) for c in held_out}
  assert ids(mode='held_out') == reserved
  assert ids(mode='train') == set(range(27)) - reserved
  assert ids(mode='train', tasks=('push',)) == set(range(9, 18)) - reserved
  assert envs.task_names(envs.make('tabletop'))[tabletop.task_id(2, 0, 1)] == 'insert'
  assert envs.task_names(envs.make('reach')) is None
  with pytest.raises(ValueError, match='subset'):
    envs.make('tabletop', tasks=('stack',))
  with pytest.raises(ValueError, match=r'\(task, colour, pad\) index tuple'):
    envs.make('tabletop', held_out=((3, 0, 0),))
  with pytest.raises(ValueError, match='leaves no task combination'):
    envs.make('tabletop', tasks=('grasp',), held_out=held_out, mode='held_out')


def _tabletop_scene(task_id, seed=3):
  env = envs.make('tabletop')
  state = jax.jit(env.reset)(jax.random.PRNGKey(seed))
  scene = state.pipeline_state.replace(task_id=jp.int32(task_id))
  return env, state.replace(pipeline_state=scene)


def test_tabletop_task_id_decides_what_the_expert_does_in_one_scene():
  actions = {}
  for task, color, pad in [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 0, 1), (2, 0, 0), (2, 0, 1)]:
    env, state = _tabletop_scene(tabletop.task_id(task, color, pad))
    actions[task, color, pad] = np.asarray(envs.expert_fn(env)(state, None))
    assert float(env.step(state, actions[task, color, pad]).metrics['success']) == 1.0
  keys = list(actions)
  for i, first in enumerate(keys):  # every (task, colour, pad) here asks for its own action
    for second in keys[i + 1:]:
      assert not np.allclose(actions[first], actions[second]), (first, second)
  scene = state.pipeline_state
  # grasp and insert aim at the bar and at the slot themselves; grasp ignores the pad.
  np.testing.assert_allclose(actions[0, 0, 0][:2] * 0.2, scene.bars[0, :2], rtol=1e-5)
  np.testing.assert_allclose(actions[2, 0, 1][:2] * 0.2, scene.pads[1, :2], rtol=1e-5)


@pytest.mark.parametrize('task,index,offset', [
    (0, 0, 0.075),  # grasp 1.5 cm off the bar's centre (tolerance 1.2 cm; x unit 20 cm)
    (0, 2, 0.15),  # grasp turned 0.24 rad (tolerance 0.2)
    (2, 2, 0.08),  # insert turned 0.13 rad (tolerance 0.1): the angle matters most here
    (2, 3, 0.5),  # insert with the gripper opened 2 cm too wide
    (1, 3, 0.2),  # push 5 cm too far
    (1, 1, 0.1),  # pusher 2 cm aside: over 1 cm off the bar's centre line at any angle
])
def test_tabletop_success_rules_reject_a_perturbed_expert_action(task, index, offset):
  env, state = _tabletop_scene(tabletop.task_id(task, 1, 2))
  action = envs.expert_fn(env)(state, None)
  assert float(env.step(state, action).metrics['success']) == 1.0
  bad = action.at[index].add(offset)
  assert float(env.step(state, bad).metrics['success']) == 0.0


def test_pick_place_expert_succeeds_under_actuator_noise_on_seen_and_held_out_settings():
  """The expert places the block on >= 99% of 1,000 episodes with the deployment's 10%
  relative and 0.05 absolute actuator noise, on the seen and on the held-out combinations."""
  kwargs = common.TASKS['pick_place']['kwargs']
  for mode in ('train', 'held_out'):
    env = wrappers.ActionNoise(envs.make('pick_place', **{**kwargs, 'mode': mode}), 0.1, 0.05)
    metrics = Evaluator(env, act_fn=None, num_episodes=1000, horizon=50)(
        None, jax.random.PRNGKey(1), beta=1.0)
    assert metrics['success_rate'] >= 0.99, (mode, metrics)


def test_pick_place_holds_out_colour_pad_pairs_and_names_tasks_by_colour():
  held_out = ((0, 0), (1, 1), (2, 2))
  keys = jax.random.split(jax.random.PRNGKey(0), 1000)

  def ids(**kwargs):
    env = envs.make('pick_place', held_out=held_out, **kwargs)
    return set(np.asarray(jax.jit(jax.vmap(env.reset))(keys).obs['task_id']).tolist())

  assert ids(mode='held_out') == {0, 4, 8}
  assert ids(mode='train') == {1, 2, 3, 5, 6, 7}
  assert ids(mode='held_out', tasks=('green',)) == {pick_place.task_id(1, 1)}
  assert envs.task_names(envs.make('pick_place'))[pick_place.task_id(2, 0)] == 'blue'
  with pytest.raises(ValueError, match='subset'):
    envs.make('pick_place', tasks=('yellow',))
  with pytest.raises(ValueError, match=r'\(colour, pad\) index tuple'):
    envs.make('pick_place', held_out=((0, 3),))


def _pick_place_rollout(state, steps, act):
  env = envs.make('pick_place')
  step = jax.jit(env.step)
  for _ in range(steps):
    state = step(state, act(state))
  return env, state


def test_pick_place_grasps_carries_and_releases_and_the_expert_recovers_from_a_missed_grasp():
  env = envs.make('pick_place')
  expert = jax.jit(envs.expert_fn(env))
  state = jax.jit(env.reset)(jax.random.PRNGKey(4))
  scene = state.pipeline_state
  color, pad = int(scene.task_id) // 3, int(scene.task_id) % 3
  # Closing away from every block grasps nothing: the expert opens the empty gripper first.
  _, closed = _pick_place_rollout(state, 1, lambda s: jp.array([0.0, 0.0, 1.0]))
  assert float(closed.pipeline_state.closed) == 1.0 and int(closed.pipeline_state.held) == -1
  np.testing.assert_allclose(expert(closed, None), [0.0, 0.0, -1.0])
  # From there the expert picks the block up, carries it and lets go on the pad.
  _, done = _pick_place_rollout(closed, 49, lambda s: expert(s, None))
  final = done.pipeline_state
  assert float(done.metrics['success']) == 1.0 and int(final.held) == -1
  assert np.linalg.norm(final.blocks[color] - final.pads[pad]) < 0.015
  others = [c for c in range(3) if c != color]  # the other blocks never moved
  np.testing.assert_allclose(np.asarray(final.blocks)[others], np.asarray(scene.blocks)[others])
  # Letting go beside the pad is not success: the block must lie on it.
  carried = done.pipeline_state.replace(
      blocks=final.blocks.at[color].set(final.pads[pad] + jp.array([0.03, 0.0])))
  assert float(env.step(done.replace(pipeline_state=carried), jp.zeros(3)).metrics['success']) == 0
