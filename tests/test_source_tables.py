"""The source-tables study: its runs, one evaluation protocol for all, a rerun that trains
nothing and reprints the same tables."""

import json
import math
import os

import ml_collections
import pytest

from configs import source_tables as study_config
from imitation.errors import WorkdirError
from imitation.studies import source_tables


def _wilson(successes, episodes, z=1.959963984540054):
  """The textbook Wilson score interval, written out."""
  p = successes / episodes
  centre = (p + z * z / (2 * episodes)) / (1 + z * z / episodes)
  half = z / (1 + z * z / episodes) * math.sqrt(p * (1 - p) / episodes
                                                + z * z / (4 * episodes ** 2))
  return centre - half, centre + half


@pytest.mark.parametrize('successes,episodes', [(0, 16), (7, 10), (250, 256), (128, 256)])
def test_wilson_interval_is_the_textbook_one(successes, episodes):
  assert source_tables.wilson_interval(successes, episodes) == pytest.approx(
      _wilson(successes, episodes), abs=1e-9)


class _CountingEvaluator:
  protocol = {'episode_seed': 1, 'num_episodes': 4, 'action_tolerance': 0.2}

  def __init__(self):
    self.calls = 0

  def __call__(self, policy_dir):
    self.calls += 1
    return {'seen': {'success_rate': 0.5}}


def test_a_policy_is_scored_once_per_protocol(tmp_path):
  evaluator, cache = _CountingEvaluator(), str(tmp_path / 'evaluations')
  policy_dir = str(tmp_path / 'bc_seed0' / 'policy')
  first = source_tables.evaluate(evaluator, policy_dir, cache)
  assert source_tables.evaluate(evaluator, policy_dir, cache) == first
  assert evaluator.calls == 1
  evaluator.protocol = {**evaluator.protocol, 'num_episodes': 8}  # another protocol: rescored
  source_tables.evaluate(evaluator, policy_dir, cache)
  assert evaluator.calls == 2


def test_every_row_is_built_from_one_config():
  config = study_config.get_config('pick_place,debug')
  config.network.hidden_sizes = (16, 16)
  trials = source_tables.study_trials(config, '/tmp/unused')
  rows = [dict(t.cell)['row'] for t in trials]
  assert sorted(set(rows)) == sorted(config.study.rows)
  assert rows.count('single_task') == len(config.env.kwargs.tasks)
  by_name = {os.path.basename(t.workdir): t.config for t in trials}
  for name, cfg in by_name.items():
    assert 'study' not in cfg
    assert cfg.network.task.fusion == 'concat', name  # every policy reads the task id
  assert by_name['single_red_seed0'].env.kwargs.tasks == ('red',)
  assert by_name['single_red_seed0'].collect.num_episodes == config.collect.num_episodes // 3
  assert by_name['bc_image_seed0'].env.kwargs.image_size == 32
  assert by_name['bc_image_seed0'].network.encoder == 'cnn'
  assert by_name['diffusion_seed0'].network.head == 'diffusion'
  assert by_name['diffusion_seed0'].network.chunk.horizon == config.study.generative.horizon
  assert by_name['bco_seed0'].collect.drop_actions and 'dagger' not in by_name['bco_seed0']
  assert by_name['dagger_intervention_seed0'].dagger.variant == 'intervention'
  assert by_name['bc_seed0'].network.hidden_sizes == (16, 16)  # overrides reach every row
  assert by_name['bc_image_seed0'].network.hidden_sizes == (16, 16)


@pytest.mark.slow
def test_study_reports_every_row_on_seen_and_novel_settings_and_reruns_without_training(
    tmp_path, monkeypatch):
  config = study_config.get_config('pick_place,debug')
  config.study.rows = ('single_task', 'bc', 'dagger_intervention')
  config.network.hidden_sizes = (16, 16)
  config.lock()
  workdir = str(tmp_path / 'study')
  results = source_tables.run_study(config, workdir)
  with open(os.path.join(workdir, source_tables.TABLE_FILE)) as f:
    table = f.read()
  assert set(results['rows']) == {'expert', *config.study.rows}
  for row, stats in results['rows'].items():  # novel settings reported for every approach
    assert stats['seen'] is not None and stats['novel'] is not None, row
  for row, by_seed in results['per_seed'].items():
    for figures in by_seed.values():
      for setting in ('seen', 'novel'):
        f = figures[setting]
        assert f['wilson95'][0] <= f['success_rate'] <= f['wilson95'][1]
      assert 0.0 <= figures['action_accuracy'] <= 1.0
  single = results['per_seed']['single_task']['0']
  assert single['seen']['episodes'] == 3 * config.study.eval.num_episodes  # one policy a task
  assert single['num_demos'] == 3 * (config.collect.num_episodes // 3)
  rounds = results['dagger']['dagger_intervention']
  assert [p['round'] for p in rounds] == list(range(config.dagger.num_rounds + 1))
  labels = [p['action_labels']['mean'] for p in rounds]
  assert labels == sorted(labels) and labels[0] == results['rows']['bc']['action_labels']['mean']
  for k in range(config.dagger.num_rounds + 1):
    assert os.path.exists(os.path.join(workdir, 'dagger_intervention_seed0', 'rounds', str(k),
                                       'policy'))
  for name in ('results.json', source_tables.PLOT_FILE):
    assert os.path.exists(os.path.join(workdir, name))

  def refuse(*args):
    raise AssertionError(f'a rerun trained or scored again: {args}')

  monkeypatch.setattr(source_tables.agents, 'train', refuse)
  monkeypatch.setattr(source_tables.PolicyEvaluator, '__call__', refuse)
  again = source_tables.run_study(config, workdir)
  with open(os.path.join(workdir, source_tables.TABLE_FILE)) as f:
    assert f.read() == table
  assert json.dumps(again['rows'], sort_keys=True) == json.dumps(results['rows'], sort_keys=True)
  # A run finished under another config is refused, not reported as this config's.
  os.remove(os.path.join(workdir, 'results.json'))
  changed = ml_collections.ConfigDict(config.to_dict())
  changed.train.num_steps += 10
  with pytest.raises(WorkdirError, match='finished run with another config'):
    source_tables.run_study(changed, workdir)
