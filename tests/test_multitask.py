"""Multi-task BC: per-task loss weights in the compiled step, and the success-rate rule."""

import chex
import jax
from jax import numpy as jp
import numpy as np
import pytest

from configs import multitask as multitask_config
from imitation.agents import multitask
from imitation.data import normalization as normalization_lib
from imitation.errors import ConfigError


def test_success_rate_rule_moves_weight_toward_the_failing_task():
  weights = multitask.success_rate_weights(np.array([0.95, 0.9, 0.3]), gamma=2.0, eps=0.05,
                                           uniform_mix=0.5)
  assert weights.mean() == pytest.approx(1.0)
  assert weights[2] > weights[1] > weights[0]
  assert weights.min() >= 0.5 - 1e-6  # the uniform share keeps every task trained
  equal = multitask.success_rate_weights(np.full(3, 0.7), gamma=2.0, eps=0.05, uniform_mix=0.5)
  np.testing.assert_allclose(equal, np.ones(3), rtol=1e-6)


def _config(rule='uniform'):
  config = multitask_config.get_config('reach_multi,debug')
  config.multitask.loss_weights = rule
  return config


def _setup(config):
  learner = multitask.make_learner(config, action_size=2)
  rng = np.random.default_rng(0)
  observation = {'state': rng.normal(size=(64, 14)).astype(np.float32),
                 'task_id': rng.integers(0, 3, size=64).astype(np.int32)}
  batch = {'observation': observation, 'action': rng.normal(size=(64, 2)).astype(np.float32)}
  normalization = normalization_lib.compute(batch, min_std=1e-3)
  state = learner.init(jax.random.PRNGKey(0), example_observation=jax.tree.map(
      lambda x: x[:1], observation), normalization=normalization)
  return learner, state, batch


def test_changing_the_weights_does_not_recompile_and_changes_the_step():
  learner, state, batch = _setup(_config())
  update = jax.jit(chex.assert_max_traces(learner.update, n=1))
  uniform_state, uniform = update(state, batch, jax.random.PRNGKey(1))
  reweighted = state.replace(task_weights=jp.array([0.0, 0.0, 3.0]))
  reweighted_state, weighted = update(reweighted, batch, jax.random.PRNGKey(1))  # no retrace
  # Uniform weights are plain BC; after reweighting only task 2's examples count, thrice.
  assert float(uniform['loss']) == pytest.approx(float(uniform['nll']), rel=1e-6)
  observation = normalization_lib.normalize_observation(state.normalization, batch['observation'])
  target = normalization_lib.normalize_action(state.normalization, batch['action'])
  nll = -learner.policy.apply(state.params, observation).log_prob(target)
  task2 = batch['observation']['task_id'] == 2
  assert task2.any() and not task2.all()
  assert float(weighted['loss']) == pytest.approx(float(jp.mean(3.0 * task2 * nll)), rel=1e-5)
  assert not np.allclose(jax.tree.leaves(uniform_state.params)[0],
                         jax.tree.leaves(reweighted_state.params)[0])


def test_after_eval_sets_weights_from_per_task_success():
  config = _config('success_rate')
  learner, state, _ = _setup(config)
  assert learner.after_eval is not None
  evaluation = {'per_task': {'0': {'success_rate': 1.0}, '1': {'success_rate': 0.9},
                             '2': {'success_rate': 0.2}}}
  state, logged = learner.after_eval(state, evaluation)
  weights = np.asarray(state.task_weights)
  assert weights[2] > weights[1] > weights[0] and weights.mean() == pytest.approx(1.0)
  assert logged['task_weight']['2'] == pytest.approx(weights[2])
  # Smoothed: a second evaluation moves task 2's success halfway (smoothing 0.5).
  state, _ = learner.after_eval(state, {'per_task': {'2': {'success_rate': 0.6}}})
  assert float(state.task_success[2]) == pytest.approx(0.4)
  # Other rules only log their weights.
  uniform, uniform_state, _ = _setup(_config('uniform'))
  kept, logged = uniform.after_eval(uniform_state, evaluation)
  np.testing.assert_array_equal(kept.task_weights, np.ones(3))
  assert logged == {'task_weight': {'0': 1.0, '1': 1.0, '2': 1.0}}


def test_inverse_frequency_weights_equalise_each_tasks_share_of_the_loss():
  config = _config('inverse_frequency')
  learner, state, batch = _setup(config)
  task_ids = np.array([0] * 60 + [1] * 30 + [2] * 10)
  state = learner.prepare(state, task_ids)
  weights = np.asarray(state.task_weights)
  assert weights.mean() == pytest.approx(1.0)
  shares = weights * np.bincount(task_ids)  # each task's total weight in the data
  np.testing.assert_allclose(shares, shares[0], rtol=1e-5)
  assert multitask.make_learner(_config('uniform'), 2).prepare is None


def test_fixed_weights_per_task_normalised_and_per_task_losses_logged():
  config = _config('fixed')
  config.multitask.fixed_weights = (1.0, 1.0, 4.0)
  learner, state, batch = _setup(config)
  np.testing.assert_allclose(state.task_weights, [0.5, 0.5, 2.0])
  _, metrics = jax.jit(learner.update)(state, batch, jax.random.PRNGKey(1))
  observation = normalization_lib.normalize_observation(state.normalization, batch['observation'])
  target = normalization_lib.normalize_action(state.normalization, batch['action'])
  nll = -learner.policy.apply(state.params, observation).log_prob(target)
  for task in range(3):
    rows = batch['observation']['task_id'] == task
    assert float(metrics[f'task_loss/{task}']) == pytest.approx(float(nll[rows].mean()), rel=1e-5)


def test_uncertainty_weighting_learns_a_log_variance_per_task():
  """Kendall et al.: the task with the larger loss learns the larger log-variance (a smaller
  weight); the log-variances move inside the compiled step."""
  config = _config('uncertainty')
  config.optimizer.learning_rate = 0.05
  learner, state, batch = _setup(config)
  # Task 2's targets are 10x noisier: its loss stays the largest.
  task2 = batch['observation']['task_id'] == 2
  batch = {**batch, 'action': np.where(task2[:, None], 10.0 * batch['action'], batch['action'])}
  update = jax.jit(learner.update)
  for i in range(200):
    state, metrics = update(state, batch, jax.random.PRNGKey(i))
  log_variance = np.asarray(state.task_log_variance)
  assert log_variance[2] > log_variance[0] + 0.5 and log_variance[2] > log_variance[1] + 0.5
  _, logged = learner.after_eval(state, {})
  assert logged['task_weight']['2'] == pytest.approx(float(np.exp(-log_variance[2])), rel=1e-5)
  assert np.isfinite(float(metrics['loss']))


def test_bad_multitask_settings_are_config_errors():
  config = _config('fixed')
  config.multitask.fixed_weights = (1.0, 2.0)  # neither per task nor per task id
  with pytest.raises(ConfigError, match='fixed_weights'):
    multitask.make_learner(config, 2)
  config = _config('focal')
  with pytest.raises(ConfigError, match='loss_weights'):
    multitask.make_learner(config, 2)
  config = _config()
  config.network.task.fusion = 'none'
  with pytest.raises(ConfigError, match='task-conditioned'):
    multitask.make_learner(config, 2)


@pytest.mark.slow
def test_multitask_run_reports_per_task_held_out_and_checkpoints_its_weights(tmp_path):
  """Multi-task BC on reach_multi (tiny), success-rate weights: results and metrics per task
  id, the held-out (task, sector) pair evaluated apart, weights logged and checkpointed."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  from imitation.training import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top
  config = _config('success_rate')
  config.data.task_mixture = 'uniform'  # every task alike in the batches
  config.lock()  # as the command line hands it over
  workdir = str(tmp_path)
  results = multitask.train(config, workdir)
  assert results['algorithm'] == 'multitask_bc'
  per_task = results['per_task']
  assert set(per_task) <= {'0', '1', '2'} and len(per_task) >= 2
  assert sum(t['num_episodes'] for t in per_task.values()) == results['num_eval_episodes']
  for stats in per_task.values():
    assert stats['expert_success_rate'] == 1.0 and 0.0 <= stats['success_rate'] <= 1.0
  held_out = results['held_out']
  assert held_out['expert_success_rate'] == 1.0
  assert set(held_out['per_task']) == {'0'}  # the only held-out pair is task 0 in sector 0
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  names = set().union(*rows)
  assert {f'eval/per_task/{t}/success_rate' for t in per_task} <= names
  last_weights = [row for row in rows if 'eval/task_weight/0' in row][-1]
  assert last_weights['step'] == config.train.num_steps
  learner, template, _ = _setup(config)
  checkpointer = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  restored = checkpointer.restore(template)
  checkpointer.close()
  np.testing.assert_allclose(restored.task_weights,
                             [last_weights[f'eval/task_weight/{t}'] for t in range(3)], rtol=1e-6)
  table = report.expert_vs_learner_table(results)
  assert 'per task:' in table and 'held-out task combinations' in table


@pytest.mark.slow
def test_comparison_study_trains_single_and_multi_task_policies_and_reports_per_task(tmp_path):
  """The reference comparison, tiny: a dataset and a single-task policy per task, one
  multi-task policy on their mixture, per-task seen and held-out figures, table and plot;
  a second call reuses every finished run."""
  import os  # pylint: disable=g-import-not-at-top
  from configs import multitask_comparison as multitask_study  # pylint: disable=g-import-not-at-top
  from imitation.studies import multitask_comparison  # pylint: disable=g-import-not-at-top
  config = multitask_study.get_config('tabletop,debug')
  config.study.loss_weights = ('uniform',)
  config.train.num_steps = 20
  config.lock()
  workdir = str(tmp_path)
  results = multitask_comparison.run_study(config, workdir)
  assert set(results['per_task']) == {'single', 'multi_uniform'}
  for variant in results['per_task'].values():
    assert set(variant) == {'grasp', 'push', 'insert', 'mean'}
    assert 'held_out' not in variant['grasp']  # nothing of grasp is held out
    assert 'held_out' in variant['push'] and 'held_out' in variant['insert']
  multi = results['runs']['multi_uniform']['0']
  assert set(multi['per_task']) == {'grasp', 'push', 'insert'}
  assert multi['num_demos'] == 3 * config.study.demos_per_task
  assert set(results['runs']['single']['0']) == {'grasp', 'push', 'insert'}
  single_push = results['runs']['single']['0']['push']
  assert results['per_task']['single']['push']['success_rate']['mean'] == \
      single_push['success_rate']
  for name in ('comparison.md', 'comparison.png', 'results.json'):
    assert os.path.exists(os.path.join(workdir, name))
  with open(os.path.join(workdir, 'comparison.md')) as f:
    assert '| insert |' in f.read()
  # Resuming: every run is finished, so nothing trains again.
  mtime = os.path.getmtime(os.path.join(workdir, 'multi_uniform_seed0', 'results.json'))
  again = multitask_comparison.run_study(config, workdir)
  assert again['per_task'] == results['per_task']
  assert os.path.getmtime(os.path.join(workdir, 'multi_uniform_seed0', 'results.json')) == mtime
  # Where the finished policy misses, per combination (docs/multitask.md).
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  errors = subprocess.run(
      [sys.executable, 'scripts/tabletop_errors.py', '--episodes=64',
       f'--workdir={os.path.join(workdir, "multi_uniform_seed0")}'],
      cwd=repo, capture_output=True, text=True, timeout=300)
  assert errors.returncode == 0, errors.stderr[-2000:]
  seen, _, held_out = errors.stdout.partition('held-out combinations:')
  assert 'grasp, red, pad 0' in seen and 'insert, red, pad 2' not in seen
  assert 'insert, red, pad 2' in held_out and 'grasp,' not in held_out
