"""The run frame (training/run.py), the Learner, and the study built on them."""

import json
import os

import chex
import jax
from jax import numpy as jp
import numpy as np
import optax
import pytest

from configs import compounding_error as study_config
from imitation.agents import bc
from imitation.agents import ensemble
from imitation.training import inputs as inputs_lib
from imitation.training import learner as learner_lib
from imitation.training import run as run_lib


def test_results_schema_puts_identity_first_and_config_last(debug_config):
  results = run_lib.results_record(debug_config, 'bc', wall_time_s=1.5, steps=40,
                                   success_rate=0.5)
  assert list(results) == ['task', 'algorithm', 'seed', 'steps', 'success_rate',
                           'wall_time_s', 'config']
  assert results['task'] == 'reach' and results['seed'] == debug_config.seed
  assert results['config'] == debug_config.to_dict()
  json.dumps(results)  # JSON-serialisable as it is


def test_run_saves_its_config_and_only_the_writer_process_writes(tmp_path, debug_config):
  run = run_lib.Run(debug_config, str(tmp_path / 'run'))
  with open(os.path.join(run.workdir, 'config.json')) as f:
    assert json.load(f)['train']['num_steps'] == debug_config.train.num_steps
  run.write_json('progress.json', {'round': 1})
  assert os.path.exists(run.path('progress.json'))
  run.is_writer = False  # as on a process other than 0 of a multi-host run
  run.write_json('other.json', {'round': 1})
  assert not os.path.exists(run.path('other.json'))
  chex.assert_trees_all_equal(run.key(3, 5), jax.random.fold_in(
      jax.random.fold_in(jax.random.PRNGKey(debug_config.seed), 3), 5))


def test_gradient_step_is_one_optimizer_step_on_the_loss():
  params = {'w': jp.array([1.0, -2.0])}
  optimizer = optax.sgd(0.1)

  def loss_fn(p, target):
    value = jp.sum(jp.square(p['w'] - target))
    return value, {'loss': value}

  target = jp.array([0.0, 1.0])
  new_params, _, metrics = learner_lib.gradient_step(
      loss_fn, optimizer, params, optimizer.init(params), target)
  grad = 2 * (params['w'] - target)
  np.testing.assert_allclose(new_params['w'], params['w'] - 0.1 * grad, rtol=1e-6)
  assert float(metrics['loss']) == pytest.approx(10.0)
  assert float(metrics['grad_norm']) == pytest.approx(float(jp.linalg.norm(grad)))


@pytest.mark.parametrize('make', ['bc', 'ensemble'])
def test_agents_build_learners_the_run_frame_can_initialise(tmp_path, debug_config, make):
  learner = (bc.make_learner(debug_config, 2) if make == 'bc'
             else ensemble.make_learner(debug_config, 2, num_members=3))
  assert isinstance(learner, learner_lib.Learner)
  assert learner.exportable == (make == 'bc')
  assert (learner.uncertainty is None) == (make == 'bc')
  run = run_lib.Run(debug_config, str(tmp_path))
  observations = {'state': np.zeros((5, 10), np.float32)}
  transitions = {'observation': observations, 'action': np.zeros((5, 2), np.float32)}
  state = run.init_state(learner, jax.random.PRNGKey(0), observations,
                         inputs_lib.normalization(debug_config, transitions))
  assert int(state.step) == 0
  actions = learner.act.first_action(state.policy_params, observations, jax.random.PRNGKey(1))
  chex.assert_shape(actions, (5, 2))


@pytest.mark.slow
def test_study_builds_every_run_from_one_config(tmp_path):
  """A one-seed miniature study: a config override reaches the BC baseline and the DAgger
  run alike, and the study leaves its config, results, table and plots."""
  config = study_config.get_config('drive,debug')
  config.network.hidden_sizes = (16, 16)
  config.lock()  # as the command line hands it over
  from imitation.studies import compounding_error  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'study')
  results = compounding_error.run_study(config, workdir)
  seed, demos = config.study.seeds[0], config.study.bc_demos[0]
  bc_dir = os.path.join(workdir, f'bc_{demos}_seed{seed}')
  dagger_dir = os.path.join(workdir, f'dagger_classic_seed{seed}')
  for run_dir, algorithm in ((bc_dir, 'bc'), (dagger_dir, 'dagger')):
    with open(os.path.join(run_dir, 'config.json')) as f:
      saved = json.load(f)
    assert saved['algorithm'] == algorithm
    assert saved['network']['hidden_sizes'] == [16, 16]  # the override reached both runs
    assert 'study' not in saved
  with open(os.path.join(bc_dir, 'results.json')) as f:
    bc_results = json.load(f)
  assert bc_results['steps'] == config.study.bc_train.num_steps
  assert bc_results['num_demos'] == demos
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['labels'] == json.loads(json.dumps(results['labels']))
  assert results['algorithm'] == 'compounding_error_study' and results['seeds'] == [seed]
  assert len(results['labels']['classic']) == config.dagger.num_rounds + 1
  assert set(results['drift']) == {'BC', 'DAgger'}
  for name in ('config.json', 'study.md', 'labels.png', 'drift.png', 'horizon.png'):
    assert os.path.exists(os.path.join(workdir, name)), name


def test_one_writer_per_workdir_and_a_killed_one_never_blocks(tmp_path, debug_config):
  """A second live process on a workdir gets one line naming the holder and writes nothing;
  once the holder is killed (-9), the workdir is usable at once."""
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from imitation.errors import WorkdirError  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'busy')
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time; from imitation.training import workdir; '
       f'workdir.lock(workdir.prepare({workdir!r})); print("locked", flush=True); '
       'time.sleep(120)'],
      stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(WorkdirError, match=f'is in use by pid {holder.pid}'):
      run_lib.Run(debug_config, workdir)
    assert not os.path.exists(os.path.join(workdir, 'config.json'))
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  run = run_lib.Run(debug_config, workdir)  # the lock died with its process
  assert os.path.exists(os.path.join(workdir, 'config.json'))
  run_lib.Run(debug_config, workdir).close()  # the holder itself may open it again
  run.close()
