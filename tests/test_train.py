"""End to end: training runs, resume after preemption, checkpoints, CLI errors, devices."""

import json
import os
import subprocess
import sys
import textwrap

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest

from configs import bc as bc_config
from imitation.evaluation import acting
from imitation import envs
from imitation.agents import bc
from imitation.data import episodes as episodes_lib
from imitation.data import rlds
from imitation.errors import ConfigError
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import optimizers
from imitation.training.train_state import TrainState

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_KEYS = {
    'task', 'algorithm', 'seed', 'steps', 'success_rate', 'expert_success_rate',
    'mean_return', 'expert_mean_return', 'num_demos', 'wall_time_s', 'config',
}


def _config(debug_config, demos_path):
  config = debug_config.copy_and_resolve_references()
  config.data.path = demos_path
  return config


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory, debug_config, demos_path):
  workdir = str(tmp_path_factory.mktemp('run'))
  return workdir, bc.train(_config(debug_config, demos_path), workdir)


def test_run_leaves_results_checkpoints_logs_and_policy(finished_run, debug_config):
  workdir, results = finished_run
  assert RESULT_KEYS <= set(results)
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['success_rate'] == results['success_rate']
  assert results['steps'] == debug_config.train.num_steps
  assert results['num_demos'] == debug_config.collect.num_episodes
  assert results['expert_success_rate'] >= 0.95
  assert 0.0 <= results['success_rate'] <= 1.0
  assert os.listdir(os.path.join(workdir, 'tensorboard'))
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f)['train']['num_steps'] == debug_config.train.num_steps
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    steps = [json.loads(line)['step'] for line in f]
  assert steps[-1] == debug_config.train.num_steps


def test_exported_policy_acts_like_the_final_checkpoint(finished_run, debug_config):
  workdir, _ = finished_run
  policy, policy_params, policy_config = checkpoint_lib.load_policy(os.path.join(workdir, 'policy'))
  assert policy_config['env']['name'] == 'reach'
  checkpointer = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  assert checkpointer.latest_step() == debug_config.train.num_steps
  state = checkpointer.restore(_template(policy, policy_params))
  observation = {'state': jax.random.normal(jax.random.PRNGKey(0), (4, 10))}
  act = acting.make_act_fn(policy)
  np.testing.assert_array_equal(
      act.first_action(policy_params, observation, None),
      act.first_action(state.policy_params, observation, None)
  )


def _template(policy, policy_params):
  """A train state with the debug run's structure, to restore its checkpoints into."""
  config = bc_config.get_config('reach,debug')
  optimizer = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
  _, normalization = policy_params
  return bc.init(jax.random.PRNGKey(0), policy, optimizer, {'state': jp.zeros((1, 10))}, normalization)


def test_checkpoint_restores_the_train_state_exactly(tmp_path, finished_run):
  workdir, _ = finished_run
  policy, policy_params, _ = checkpoint_lib.load_policy(os.path.join(workdir, 'policy'))
  state = _template(policy, policy_params)
  state = state.replace(
      step=jp.array(7, jp.int32), rng=jax.random.PRNGKey(42),
      params=jax.tree.map(lambda x: x + 0.5, state.params),
  )
  checkpointer = checkpoint_lib.Checkpointer(str(tmp_path / 'ckpt'))
  checkpointer.save(7, state)
  checkpointer.wait_until_finished()
  blank = jax.tree.map(jp.zeros_like, state)
  restored = checkpointer.restore(blank)
  assert isinstance(restored, TrainState)
  chex.assert_trees_all_equal(restored, state)
  chex.assert_trees_all_equal_dtypes(restored, state)


def test_preempted_run_resumes_and_ends_like_an_uninterrupted_one(
    tmp_path, finished_run, debug_config, demos_path
):
  _, uninterrupted = finished_run
  config = _config(debug_config, demos_path)
  workdir = str(tmp_path / 'preempted')
  # Preempted one chunk after a checkpoint: that chunk is trained and logged again.
  checkpoint_step = config.train.checkpoint_every
  stop = checkpoint_step + config.train.steps_per_call
  assert stop < config.train.num_steps
  assert bc.train(config, workdir, stop_at_step=stop) == {}
  checkpointer = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  assert checkpointer.latest_step() == checkpoint_step
  checkpointer.close()
  resumed = bc.train(config, workdir)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    train_steps = [row['step'] for row in map(json.loads, f) if 'train/loss' in row]
  # No restart from 0, and the chunk logged twice appears once.
  assert train_steps == list(range(config.train.steps_per_call, config.train.num_steps + 1,
                                   config.train.steps_per_call))
  assert resumed['resumed_from_step'] == checkpoint_step
  assert uninterrupted['resumed_from_step'] is None
  for key in ('steps', 'success_rate', 'mean_return', 'expert_mean_return',
              'closed_loop_action_mse', 'heldout_action_mse'):
    assert resumed[key] == uninterrupted[key], key


def _run_cli(*args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.train', '--config=configs/bc.py:reach,debug', *args],
      cwd=REPO, capture_output=True, text=True, timeout=300,
  )


def _last_line(text):
  return [line for line in text.strip().splitlines() if line.strip()][-1]


def test_cli_mismatched_dataset_is_a_one_line_error(tmp_path):
  trajectory = type('T', (), {})()
  horizon, num_envs = 3, 1
  trajectory.observation = {'state': np.zeros((horizon + 1, num_envs, 7), np.float32)}
  for name in ('reward', 'done', 'truncation', 'success', 'expert_in_control'):
    setattr(trajectory, name, np.zeros((horizon, num_envs), np.float32))
  trajectory.action = trajectory.expert_action = np.zeros((horizon, num_envs, 2), np.float32)
  episodes = episodes_lib.trajectory_to_episodes(trajectory, source='expert', seed=0, episode_indices=[0])
  bad = str(tmp_path / 'bad')
  rlds.write_episodes(bad, episodes, observation_spec={'state': jax.ShapeDtypeStruct((7,), np.float32)}, action_dim=2)
  result = _run_cli(f'--workdir={tmp_path / "wd"}', f'--config.data.path={bad}')
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert _last_line(result.stderr) == (
      f"error: dataset {bad} has observation 'state' of shape (7,) but the environment "
      'produces (10,)'
  )


def test_cli_unwritable_workdir_is_a_one_line_error(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  result = _run_cli(f'--workdir={blocker / "run"}')
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert _last_line(result.stderr).startswith(f'error: cannot write to workdir {blocker / "run"}')


_MULTI_DEVICE_SCRIPT = textwrap.dedent('''
    import jax, numpy as np, optax
    from jax import numpy as jp
    from imitation.agents import bc
    from imitation.data import normalization
    from imitation.data.device_dataset import DeviceDataset
    from imitation.networks import policy as policy_lib
    from imitation.training import chunk as chunk_lib, sharding
    from configs import bc as bc_config
    assert jax.device_count() == 2, jax.devices()
    config = bc_config.get_config('reach,debug')
    policy = policy_lib.make_policy(config.network, 2)
    optimizer = optax.adam(1e-3)
    rng = np.random.default_rng(0)
    data = {'observation': {'state': rng.normal(size=(512, 10)).astype(np.float32)},
            'action': rng.normal(size=(512, 2)).astype(np.float32)}
    norm = normalization.compute(data, min_std=1e-3)
    results = []
    for devices in (1, 2):
      mesh = sharding.make_mesh(devices)
      state = bc.init(jax.random.PRNGKey(0), policy, optimizer,
                      jax.tree.map(lambda x: x[:1], data['observation']), norm)
      state = jax.device_put(state, sharding.replicated(mesh))
      dataset = DeviceDataset.from_numpy(data, sharding.replicated(mesh))
      chunk = chunk_lib.make_train_chunk(bc.make_update(policy, optimizer),
                                           batch_size=64, steps_per_call=20, mesh=mesh)
      state, metrics = chunk(state, dataset)
      results.append((jax.device_get(state.params), float(metrics['loss'])))
    (p1, l1), (p2, l2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-4)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), p1, p2)
    print('OK', l1, l2)
''')


def test_update_gives_the_same_result_sharded_over_two_devices():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  result = subprocess.run([sys.executable, '-c', _MULTI_DEVICE_SCRIPT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith('OK')


@pytest.mark.slow
def test_bc_learns_reach_from_expert_demos(tmp_path, debug_config):
  """A real (small) training run: BC from 100 demos gets most reach episodes right."""
  config = debug_config.copy_and_resolve_references()
  config.collect.num_episodes = 100
  config.collect.num_parallel_envs = 100
  config.network.hidden_sizes = (256, 256)
  config.train.update(num_steps=6000, batch_size=256, steps_per_call=500,
                      eval_every=3000, checkpoint_every=3000)
  config.eval.num_episodes = 128
  results = bc.train(config, str(tmp_path / 'learn'))
  assert results['expert_success_rate'] >= 0.95
  assert results['success_rate'] >= 0.6, results['success_rate']


def test_evaluate_writes_metrics_videos_and_curve(finished_run, debug_config, tmp_path):
  from imitation.evaluation import evaluate as evaluate_lib  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  workdir, _ = finished_run
  results = evaluate_lib.evaluate(debug_config, workdir)
  assert results['expert_success_rate'] >= 0.95
  assert results['num_eval_episodes'] == debug_config.eval.num_episodes
  names = sorted(os.path.basename(p) for p in results['files'])
  assert names == ['expert.gif', 'learning_curve.png', 'policy.gif']
  evaluation_dir = os.path.join(workdir, 'evaluation')
  assert {os.path.dirname(p) for p in results['files']} == {evaluation_dir}
  gif = Image.open(os.path.join(evaluation_dir, 'policy.gif'))
  assert gif.n_frames == debug_config.env.horizon + 1
  with open(os.path.join(evaluation_dir, 'results.json')) as f:
    written = json.load(f)
  assert RESULT_KEYS - {'steps', 'num_demos'} <= set(written)  # the shared schema
  assert written['success_rate'] == results['success_rate']
  assert written['algorithm'] == 'bc'  # the evaluated policy's
  with open(os.path.join(workdir, 'results.json')) as f:  # the training run's, untouched
    assert json.load(f)['algorithm'] == 'bc'
  assert os.path.exists(os.path.join(evaluation_dir, 'config.json'))
  empty = debug_config.copy_and_resolve_references()
  with pytest.raises(Exception, match='no exported policy'):
    evaluate_lib.evaluate(empty, str(tmp_path / 'nothing_trained'))


def test_bc_trains_from_images_end_to_end(tmp_path, debug_config):
  """uint8 images (2 stacked frames) on device, random shift in the compiled step,
  CNN + mixture head, videos of the newest frame."""
  from imitation.evaluation import evaluate as evaluate_lib  # pylint: disable=g-import-not-at-top
  config = debug_config.copy_and_resolve_references()
  config.env.kwargs.image_size = 16
  config.env.frame_stack = 2
  config.collect.num_episodes = config.collect.num_parallel_envs = 4
  config.network.update(encoder='cnn', head='mixture', use_state=True)
  config.network.cnn.channels = (8, 8, 8)
  config.eval.video_size = 48  # ignored: the policy must see 16-pixel images
  workdir = str(tmp_path / 'images')
  results = bc.train(config, workdir)
  assert results['steps'] == config.train.num_steps
  assert np.isfinite(results['closed_loop_action_mse'])
  episodes, _ = rlds.load_episodes(os.path.join(workdir, 'demos'))
  assert episodes[0]['steps']['observation']['image'].shape[1:] == (16, 16, 6)
  evaluated = evaluate_lib.evaluate(config, workdir)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  gif = Image.open([p for p in evaluated['files'] if p.endswith('policy.gif')][0])
  assert gif.size[1] == 16 + 2  # one row of tiles: the policy's own 16-pixel images

  # The same demos as an Open X-style dataset of images and instructions only (no state):
  # read as the same image rows, trained with the CNN alone, scored in closed loop.
  from imitation.data import demonstrations  # pylint: disable=g-import-not-at-top
  from tests import foreign_rlds  # pylint: disable=g-import-not-at-top
  path = foreign_rlds.write_open_x(episodes, str(tmp_path / 'foreign'), name='images_only',
                                   instructions=('reach red', 'reach blue'), with_state=False)
  image_only = config.copy_and_resolve_references()
  image_only.data.update(path=path, format='open_x')
  image_only.network.use_state = False
  env = envs.make_from_config(config.env)
  theirs, _ = demonstrations.load_transitions(image_only, path, env)
  ours, _ = demonstrations.load_transitions(config, os.path.join(workdir, 'demos'), env)
  assert set(theirs['observation']) == {'image'}
  np.testing.assert_array_equal(theirs['observation']['image'], ours['observation']['image'])
  np.testing.assert_array_equal(theirs['task_id'], np.arange(len(episodes)).repeat(
      [len(e['steps']['is_last']) - 1 for e in episodes]) % 2)  # the instructions' ids
  results = bc.train(image_only, str(tmp_path / 'images_only'))
  assert results['steps'] == config.train.num_steps and 0 <= results['success_rate'] <= 1
  image_only.network.use_state = True  # a policy that reads a state the data lacks
  with pytest.raises(ConfigError, match='the policy reads observation "state" but the data '
                     r"has only \['image'\]"):
    bc.train(image_only, str(tmp_path / 'needs_state'))


def test_the_installed_package_loads_and_evaluates_a_policy_from_any_directory(finished_run,
                                                                                tmp_path):
  """docs/usage.md, "Using a trained policy", saved as a script outside the checkout (the setup
  installs the project into .venv in editable mode, pyproject.toml)."""
  workdir, _ = finished_run
  script = tmp_path / 'use_policy.py'
  script.write_text(textwrap.dedent(f'''
      import jax
      from imitation import envs
      from imitation.evaluation import acting
      from imitation.evaluation.evaluator import Evaluator
      from imitation.training import checkpoint

      policy, policy_params, cfg = checkpoint.load_policy({os.path.join(workdir, 'policy')!r})
      act = acting.make_act_fn(policy)
      env = envs.make(cfg['env']['name'], **cfg['env']['kwargs'])
      evaluator = Evaluator(env, act, num_episodes=4, horizon=cfg['env']['horizon'])
      print(evaluator(policy_params, jax.random.PRNGKey(123))['num_episodes'])
  '''))
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().splitlines()[-1] == '4'
