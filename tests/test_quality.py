"""Mixed-quality collection, quality scores against the recorded truth, filters, diagnose."""

import functools
import json
import os

import jax
import numpy as np
import pytest

from configs import diagnose as diagnose_config
from imitation.agents import bc
from imitation.data import collect
from imitation.data import demonstrations
from imitation.data import quality as data_quality
from imitation.data import rlds
from imitation.errors import ConfigError, DatasetError
from imitation.evaluation import quality
from imitation.studies import diagnose
from imitation.training import inputs as inputs_lib

NUM_EPISODES = 16


@pytest.fixture(scope='module')
def mixed(tmp_path_factory, debug_config):
  """16 reach episodes: 4 by a biased expert, 4 by a noisy one, 8 by the expert."""
  config = debug_config.copy_and_resolve_references()
  config.collect.num_episodes = NUM_EPISODES
  config.collect.mixture = dict(biased_expert=0.25, noisy_expert=0.25)
  path = str(tmp_path_factory.mktemp('mixed'))
  summary = collect.collect_demonstrations(config.env, config.collect, path)
  config.data.path = path
  return config, path, summary, rlds.load_episodes(path)[0]


def test_mixture_records_each_episodes_demonstrator(mixed):
  config, _, summary, episodes = mixed
  sources = [e['episode_metadata']['source'] for e in episodes]
  assert sorted(sources) == ['biased_expert'] * 4 + ['expert'] * 8 + ['noisy_expert'] * 4
  assert {k: v['num_episodes'] for k, v in summary['by_source'].items()} == {
      'biased_expert': 4, 'expert': 8, 'noisy_expert': 4}
  for episode, source in zip(episodes, sources):
    steps = episode['steps']
    real = ~steps['action_is_pad']
    offset = (steps['action'] - steps['expert_action'])[real]
    if source == 'expert':
      np.testing.assert_array_equal(offset, 0.0)
    elif source == 'biased_expert':  # one offset, of norm collect.bias, for the whole episode
      np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-6)
      assert np.linalg.norm(offset[0]) == pytest.approx(config.collect.bias, rel=1e-5)
    else:  # fresh noise of std noisy_std every step
      assert np.std(offset) == pytest.approx(config.collect.noisy_std, rel=0.2)
  with pytest.raises(ConfigError, match='unknown demonstrators'):
    collect.demonstrators(_with(config.collect, mixture={'lazy_expert': 0.1}))


def _with(section, **changes):
  section = section.copy_and_resolve_references()
  with section.unlocked():
    for key, value in changes.items():
      section[key] = value
  return section


def test_replay_reproduces_episodes_and_scores_agree_with_the_truth(mixed):
  """Replaying recorded actions from recorded reset keys gives back each episode's return;
  the expert's own episodes agree with its labels exactly; every score is scored."""
  config, _, _, episodes = mixed
  replayed = quality.replay(config.env, episodes, jax.random.PRNGKey(0))
  recorded = np.array([e['episode_metadata']['return'] for e in episodes])
  np.testing.assert_allclose(replayed['replay_return'], recorded, rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(
      replayed['replay_success'], [e['episode_metadata']['success'] for e in episodes])
  sources = np.array([e['episode_metadata']['source'] for e in episodes])
  assert np.all(replayed['expert_agreement'][sources == 'expert'] == 0.0)
  # A constant offset b on A=2 dimensions: mean squared distance |b|^2 / 2 (before clipping).
  np.testing.assert_allclose(replayed['expert_agreement'][sources == 'biased_expert'],
                             config.collect.bias ** 2 / 2, rtol=1e-4)
  scores = quality.score_episodes(config, episodes, bc.make_learner,
                                  functools.partial(inputs_lib.normalization, config),
                                  jax.random.PRNGKey(1))
  assert set(scores.scores) == set(quality.SCORES)
  pr = scores.precision_recall()
  assert pr['expert_agreement'] == {'precision': 1.0, 'recall': 1.0, 'flagged': 8}
  for values in scores.scores.values():
    assert values.shape == (NUM_EPISODES,) and np.all(np.isfinite(values))
  record = json.loads(json.dumps(scores.to_json()))
  assert record['num_bad'] == 8 and len(record['episodes']) == NUM_EPISODES


def test_filters_drop_by_source_and_by_stored_score(mixed, tmp_path, reach_env):
  config, path, _, episodes = mixed
  config = config.copy_and_resolve_references()
  config.data.filter.sources = ('expert',)
  _, info = demonstrations.load_transitions(config, path, reach_env)
  assert info['num_demos'] == 8
  config.data.filter.sources = ()
  config.data.filter.score = 'expert_agreement'
  with pytest.raises(DatasetError, match='run experiments/diagnose.py'):
    demonstrations.load_transitions(config, path, reach_env)
  rows = [{'episode_index': int(e['episode_metadata']['episode_index']),
           'source': e['episode_metadata']['source'],
           'expert_agreement': float(e['episode_metadata']['source'] != 'expert'),
           'replay_success': float(i % 4 != 0),
           'flagged_by': (['expert_agreement']
                          if e['episode_metadata']['source'] != 'expert' else [])}
          for i, e in enumerate(episodes)]
  data_quality.write_scores(rlds.resolve_path(path), {'episodes': rows})
  kept, _, _ = demonstrations.load_episodes(config, path)
  assert {e['episode_metadata']['source'] for e in kept} == {'expert'}
  config.data.filter.update(score='replay_success', rule='threshold', threshold=0.5)
  assert len(demonstrations.load_episodes(config, path)[0]) == 12  # drops the 4 failures
  config.data.filter.update(rule='quantile', quantile=0.5, score='expert_agreement')
  assert len(demonstrations.load_episodes(config, path)[0]) == 8
  config.data.filter.score = 'smell'
  with pytest.raises(ConfigError, match="'smell' is not in the stored scores"):
    demonstrations.load_episodes(config, path)


def test_diagnose_writes_one_report_with_a_verdict_per_check(mixed, tmp_path):
  _, path, _, _ = mixed
  config = diagnose_config.get_config('reach,debug')
  config.data.path = path
  config.diagnose.noise_levels = (0.0,)  # one evaluator compiled
  results = diagnose.run_diagnosis(config, str(tmp_path))
  assert list(results['checks']) == list(diagnose.CHECKS)
  for check in results['checks'].values():
    assert isinstance(check['flag'], bool) and check['verdict']
    assert bool(check['suggests']) == check['flag']
  quality_check = results['checks']['quality']
  assert quality_check['score'] == 'expert_agreement' and quality_check['flag']
  assert quality_check['precision_recall']['expert_agreement']['recall'] == 1.0
  assert os.path.exists(data_quality.scores_path(rlds.resolve_path(path)))
  with open(tmp_path / 'diagnosis.md') as f:
    report = f.read()
  assert report.count('| ') >= len(diagnose.CHECKS) and 'quality_histograms.png' in report
  with open(tmp_path / diagnose.QUALITY_REPORT) as f:  # every score against the truth
    assert f.read().count('| 1.00 | 1.00 |') >= 1
  assert os.path.exists(tmp_path / 'worst_episodes.gif')
  with open(tmp_path / 'results.json') as f:
    assert json.load(f)['flags'] == results['flags']


def test_a_previous_policy_demonstrates_its_share(mixed, tmp_path):
  """The `policy` demonstrator ("self-play"): a trained policy's own actions, recorded with
  the expert's labels beside them."""
  from imitation.agents import expert  # pylint: disable=g-import-not-at-top
  config, path, _, _ = mixed
  config = config.copy_and_resolve_references()
  bc.train(config, str(tmp_path / 'bc'))
  config.collect.update(num_episodes=8, num_parallel_envs=8)
  config.collect.mixture.update(biased_expert=0.0, noisy_expert=0.0, policy=0.5)
  with pytest.raises(ConfigError, match='collect.mixture.policy needs a previous policy'):
    collect.collect_demonstrations(config.env, config.collect, str(tmp_path / 'refused'))
  config.collect.policy_dir = str(tmp_path / 'bc' / 'policy')
  results = expert.collect(config, str(tmp_path / 'collect'))
  assert results['by_source']['policy']['num_episodes'] == 4
  act, params = expert.previous_policy(config.collect)
  episodes, _ = rlds.load_episodes(results['dataset'])
  for episode in episodes:
    steps = episode['steps']
    real = ~steps['action_is_pad']
    if episode['episode_metadata']['source'] == 'policy':
      own = np.asarray(act.first_action(
          params, {k: v[real] for k, v in steps['observation'].items()}, jax.random.PRNGKey(0)))
      np.testing.assert_allclose(steps['action'][real], own, atol=1e-5)
      assert not np.allclose(steps['action'][real], steps['expert_action'][real])
    else:
      np.testing.assert_array_equal(steps['action'], steps['expert_action'])
