"""The debugging checks of a BC dataset and policy, as one report with verdicts.

`run_diagnosis(config, workdir)` reads the dataset `config.data` names and runs:

  quality      per-episode quality scores (evaluation/quality.py), written next to the
               dataset; the episodes the primary score flags.
  action_space continuous or discrete, range against the environment's bounds, saturated
               actions, and multimodality: a mixture fitted to the other episodes says,
               at held-out states, how much less likely its mean action (what an MSE
               head predicts) is than its likeliest one.
  capacity     can the network memorise a few episodes; the gap between training and
               held-out episodes in action error and in closed-loop success.
  execution    closed-loop success as actuator noise grows (0 to 10% of the action range).
  compounding  action error on the policy's own states against on the expert's (flagged
               when it also costs success), and the distance from the policy's states to
               the data along its trajectories.

Each check ends in a verdict: `flag` (whether something needs changing), a one-line
`verdict` and the change it `suggests`. Checks that need an environment are skipped with a
line saying so when `env.name` is empty.
"""

import functools
import os
from typing import Any, Dict, List, Mapping, Sequence

from absl import logging
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import envs
from imitation import streams
from imitation.agents import bc
from imitation.data import demonstrations
from imitation.data import normalization as normalization_lib
from imitation.data import quality as data_quality
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.envs import rollout as rollout_lib
from imitation.evaluation import compounding
from imitation.evaluation import quality
from imitation.evaluation.evaluator import Evaluator
from imitation.training import inputs as inputs_lib
from imitation.training import run as run_lib

CHECKS = ('quality', 'action_space', 'capacity', 'execution', 'compounding')
REPORT_FILE = 'diagnosis.md'
QUALITY_REPORT = 'quality.md'  # every score's flags, precision and recall
ACTION_BOUND = 1.0  # every task of this project clips its actions to [-1, 1]


def _verdict(flag: bool, verdict: str, suggests: str = '', **figures: Any) -> Dict[str, Any]:
  return {'flag': bool(flag), 'verdict': verdict, 'suggests': suggests if flag else '',
          **figures}


def check_quality(scores: quality.QualityScores) -> Dict[str, Any]:
  """The primary score's flagged episodes, with every score's precision and recall."""
  primary = next(name for name in quality.PRIMARY + tuple(scores.flags)
                 if name in scores.flags)
  flagged = np.asarray(scores.episode_index)[scores.flags[primary]].tolist()
  pr = scores.precision_recall()
  truth = '' if primary not in pr else (
      f' (against the recorded demonstrators: precision {pr[primary]["precision"]:.2f}, '
      f'recall {pr[primary]["recall"]:.2f})')
  return _verdict(
      bool(flagged),
      f'{len(flagged)} of {len(scores.source)} episodes flagged by {primary}{truth}',
      f'filter them: --config.data.filter.score={primary}',
      score=primary, flagged_episodes=flagged, precision_recall=pr)


def mean_to_mode_gap(learner: Any, state: Any, observation: Mapping[str, Any],
                     normalization: Any) -> np.ndarray:
  """[N] log p(mode) - log p(mean) under a mixture policy's action distribution at each
  observation: ~0 where the actions of like states have one mode, large where the mean,
  which an MSE head predicts, falls between modes (a grasp at neither end of a bar)."""
  def gap(params, observation):
    distribution = learner.policy.apply(
        params, normalization_lib.normalize_observation(normalization, observation))
    weights = jax.nn.softmax(distribution.logits, axis=-1)
    mean = jp.sum(weights[..., None] * distribution.loc, axis=-2)
    return distribution.log_prob(distribution.mode()) - distribution.log_prob(mean)
  return np.asarray(jax.jit(gap)(state.params, jax.tree.map(jp.asarray, dict(observation))))


def check_action_space(transitions: Mapping[str, Any], config: ml_collections.ConfigDict,
                       mode_gap: np.ndarray) -> Dict[str, Any]:
  """`mode_gap`: `mean_to_mode_gap` at held-out states, from a mixture fitted to the
  other episodes."""
  section = config.diagnose
  actions = np.asarray(transitions['action'], np.float64)
  distinct = [len(np.unique(actions[:, d])) for d in range(actions.shape[1])]
  discrete = max(distinct) <= section.discrete_max_values
  outside = float(np.mean(np.abs(actions) > ACTION_BOUND + 1e-6))
  saturated = float(np.mean(np.abs(actions) >= section.saturation * ACTION_BOUND))
  spread = float(np.mean(mode_gap > np.log(section.mode_to_mean_likelihood)))
  multimodal = spread > section.multimodal_share
  unimodal_head = config.network.head in ('deterministic', 'gaussian')
  problems, suggestions, notes = [], [], []
  if multimodal and unimodal_head:
    problems.append(f'multimodal: at {spread:.0%} of held-out states the mean action is '
                    f'{section.mode_to_mean_likelihood:g}x less likely than the likeliest')
    suggestions.append('a mixture head (--config.network.head=mixture): the '
                       f'{config.network.head} head averages the modes')
  elif multimodal:
    notes.append(f'multimodal (the mean action unlikely at {spread:.0%} of held-out '
                 f'states), which the {config.network.head} head can represent')
  if outside > section.max_outside:
    problems.append(f'{outside:.1%} of action values lie outside [-1, 1], which the '
                    'environment clips')
    suggestions.append('check the action scaling of the data')
  if saturated > section.max_saturated:
    problems.append(f'{saturated:.1%} of action values are saturated')
    suggestions.append('a bounded head (--config.network.squash=True or bound=tanh)')
  kind = 'discrete' if discrete else 'continuous'
  verdict = '; '.join(problems + notes) if problems or notes else (
      f'{kind} actions within bounds, {saturated:.1%} saturated, unimodal (the mean action '
      f'unlikely at {spread:.1%} of held-out states)')
  return _verdict(bool(problems), verdict, '; '.join(suggestions), kind=kind,
                  distinct_values=distinct, outside_bounds=outside, saturated=saturated,
                  multimodal_share=spread,
                  action_min=actions.min(0).tolist(), action_max=actions.max(0).tolist())


def _normalized_mse(predicted: np.ndarray, target: np.ndarray, normalization) -> float:
  scale = np.asarray(normalization.action_std)
  return float(np.mean(np.square((predicted - target) / scale)))


def _success_from(rollout, params, reset_keys, rng) -> float:
  trajectory = rollout(params, reset_keys, rng, 0.0)
  return float(np.mean(jax.device_get(rollout_lib.episode_statistics(trajectory)['success'])))


def run_diagnosis(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs the checks `config.diagnose.checks` names; writes diagnosis.md, plots, the
  quality scores (next to the dataset and in the workdir) and results.json."""
  section = config.diagnose
  unknown = set(section.checks) - set(CHECKS)
  if unknown:
    raise ValueError(f'diagnose.checks: unknown {sorted(unknown)}; known: {CHECKS}')
  run = run_lib.Run(config, workdir)
  path = inputs_lib.dataset_path(run)
  episodes, _, num_available = demonstrations.load_episodes(config, path)
  transitions = transitions_lib.episodes_to_transitions(episodes, config.data.action_key)
  normalization = inputs_lib.normalization(config, transitions)
  action_size = int(transitions['action'].shape[-1])
  learner = bc.make_learner(config, action_size)
  rng = np.random.default_rng(np.asarray(jax.random.key_data(run.key(streams.DIAGNOSE))))
  checks: Dict[str, Dict[str, Any]] = {}
  figures: List[str] = []
  has_env = bool(config.env.name)
  logging.info('diagnosing %d episodes (%d transitions) of %s', len(episodes),
               len(transitions['action']), path)

  if 'quality' in section.checks:
    scores = quality.score_episodes(config, episodes, bc.make_learner,
                                    functools.partial(inputs_lib.normalization, config),
                                    run.key(streams.DIAGNOSE, 0))
    record = scores.to_json()
    checks['quality'] = check_quality(scores)
    quality_figures = [quality.plot_histograms(scores, run.path('quality_histograms.png'))]
    primary = checks['quality']['score']
    worst = np.argsort(-data_quality.badness(primary, scores.scores[primary]),
                       kind='stable')[:section.worst_episodes]
    gif = quality.worst_episodes_gif(config.env, [episodes[i] for i in worst],
                                     run.path('worst_episodes.gif'),
                                     size=config.eval.video_size, rng=run.key(streams.DIAGNOSE, 5))
    quality_figures += [gif] if gif else []
    report = quality.markdown_report(
        scores, f'Quality of {len(episodes)} episodes of {path}', quality_figures)
    report += (f'\nworst_episodes.gif: episodes {[int(scores.episode_index[i]) for i in worst]}'
               f', worst first by {primary}.\n' if gif else '')
    run.write_json(data_quality.SCORES_FILE, record)
    if run.is_writer:
      with open(run.path(QUALITY_REPORT), 'w') as f:
        f.write(report)
      if ',' not in path:  # next to the dataset, where data.filter finds them
        data_quality.write_scores(rlds.resolve_path(path), record)
    figures += quality_figures

  # Held-out episodes: the first `holdout_fraction` of a shuffled order.
  order = rng.permutation(len(episodes))
  num_held_out = max(1, int(round(config.data.holdout_fraction * len(episodes))))
  held_out = np.zeros(len(episodes), bool)
  held_out[order[:num_held_out]] = True
  row_held_out = held_out[transitions['episode_index']]

  if 'action_space' in section.checks:
    # A mixture whose components cannot each cover two modes (configs/bc.py grasp_mixture).
    mixture_config = config.copy_and_resolve_references()
    mixture_config.network.update(head='mixture', max_scale=section.mixture_max_scale)
    mixture = bc.make_learner(mixture_config, action_size)
    fitted = jax.tree.map(lambda x: x[0], quality.fit_policies(
        mixture, transitions, normalization, ~row_held_out[None],
        num_steps=section.num_steps, batch_size=config.train.batch_size,
        rng=run.key(streams.DIAGNOSE, 4)))
    rows = rng.permutation(np.flatnonzero(row_held_out))[:section.num_anchors]
    gap = mean_to_mode_gap(mixture, fitted, jax.tree.map(
        lambda x: np.asarray(x)[rows], transitions['observation']), normalization)
    checks['action_space'] = check_action_space(transitions, config, gap)

  needs_policy = {'capacity', 'execution', 'compounding'} & set(section.checks)
  if needs_policy:
    few = np.isin(transitions['episode_index'], order[num_held_out:][:section.memorize_episodes])
    states = quality.fit_policies(
        learner, transitions, normalization, np.stack([~row_held_out, few]),
        num_steps=section.num_steps, batch_size=config.train.batch_size,
        rng=run.key(streams.DIAGNOSE, 1))
    predictions = quality.predict(learner, states, transitions['observation'])
    policy = jax.tree.map(lambda x: x[0], states)
    policy_params = policy.policy_params
    actions = np.asarray(transitions['action'])
    train_mse = _normalized_mse(predictions[0][~row_held_out], actions[~row_held_out],
                                normalization)
    heldout_mse = _normalized_mse(predictions[0][row_held_out], actions[row_held_out],
                                  normalization)
    memorize_mse = _normalized_mse(predictions[1][few], actions[few], normalization)

  if 'capacity' in section.checks:
    figures_capacity = {'memorize_mse': memorize_mse, 'train_mse': train_mse,
                        'heldout_mse': heldout_mse}
    problems, suggestions = [], []
    if memorize_mse > section.memorize_mse:
      problems.append(f'the network cannot memorise {section.memorize_episodes} episodes '
                      f'(normalised action MSE {memorize_mse:.3f} > {section.memorize_mse})')
      suggestions.append('a bigger network (--config.network.hidden_sizes)')
    gap = heldout_mse / max(train_mse, 1e-12)
    keys = quality.reset_keys(episodes) if has_env else None
    if keys is not None:
      env = envs.make_from_config(config.env)
      count = min(section.num_episodes, int((~held_out).sum()), int(held_out.sum()))
      train_keys = keys[np.flatnonzero(~held_out)[:count]]
      test_keys = keys[np.flatnonzero(held_out)[:count]]
      eval_rng = run.key(streams.DIAGNOSE, 2)
      rollout = jax.jit(rollout_lib.make_rollout(env, config.env.horizon, learner.act))
      figures_capacity['train_start_success'] = _success_from(
          rollout, policy_params, train_keys, eval_rng)
      figures_capacity['heldout_start_success'] = _success_from(
          rollout, policy_params, test_keys, eval_rng)
      success_gap = (figures_capacity['train_start_success']
                     - figures_capacity['heldout_start_success'])
    else:
      success_gap = 0.0
    if gap > section.overfit_ratio and success_gap > section.overfit_success_gap:
      problems.append(f'overfitting: held-out action error {gap:.1f}x the training error, '
                      f'success {success_gap:.2f} lower from held-out starts')
      suggestions.append('more demonstrations, or weight decay (--config.optimizer.name=adamw)')
    verdict = '; '.join(problems) or (
        f'memorises {section.memorize_episodes} episodes (MSE {memorize_mse:.3f}); held-out '
        f'error {gap:.1f}x training')
    checks['capacity'] = _verdict(bool(problems), verdict, '; '.join(suggestions),
                                  heldout_to_train_mse=gap, **figures_capacity)

  if has_env and {'execution', 'compounding'} & set(section.checks):
    eval_rng = run.key(streams.DIAGNOSE, 3)
    noise_success = {}
    evaluation = None
    for level in section.noise_levels:
      env_config = config.env.copy_and_resolve_references()
      env_config.action_noise.absolute_std = float(level) * 2.0 * ACTION_BOUND
      env = envs.make_from_config(env_config)
      evaluator = Evaluator(env, learner.act, section.num_episodes, config.env.horizon)
      result = evaluator.versus_expert(policy_params, eval_rng)
      noise_success[float(level)] = {'success_rate': result['success_rate'],
                                     'expert_success_rate': result['expert_success_rate']}
      if evaluation is None:
        evaluation = result
        trajectory = jax.jit(rollout_lib.make_rollout(env, config.env.horizon, learner.act))(
            policy_params, jax.random.split(eval_rng, section.num_episodes), eval_rng, 0.0)
    if 'execution' in section.checks:
      levels = sorted(noise_success)
      drop = noise_success[levels[0]]['success_rate'] - noise_success[levels[-1]]['success_rate']
      checks['execution'] = _verdict(
          drop > section.noise_success_drop,
          f'success {noise_success[levels[0]]["success_rate"]:.2f} without actuator noise, '
          f'{noise_success[levels[-1]]["success_rate"]:.2f} at {levels[-1]:.0%} of the range'
          + (' (5-10% execution error is normal: plan for it)' if drop > section.noise_success_drop else ''),
          'demonstrations under noise (--config.collect.action_noise.absolute_std) or DAgger',
          success_by_noise=noise_success, success_drop=drop)
    if 'compounding' in section.checks:
      ratio = evaluation['closed_loop_action_mse'] / max(evaluation['heldout_action_mse'], 1e-12)
      drift = compounding.distance_to_reference_by_step(
          jax.device_get(trajectory), np.asarray(transitions['observation']['state']))
      distance = drift['distance']
      success_gap = evaluation['expert_success_rate'] - evaluation['success_rate']
      checks['compounding'] = _verdict(
          ratio > section.compounding_ratio and success_gap > section.compounding_success_gap,
          f'action error on its own states {ratio:.1f}x that on the expert\'s, success '
          f'{evaluation["success_rate"]:.2f} vs the expert\'s '
          f'{evaluation["expert_success_rate"]:.2f}; distance to the data '
          f'{distance[0]:.2f} at the start, {distance.max():.2f} at most',
          'DAgger (configs/dagger.py), or more demonstrations near where it drifts',
          closed_loop_action_mse=evaluation['closed_loop_action_mse'],
          heldout_action_mse=evaluation['heldout_action_mse'], error_ratio=ratio,
          distance_by_step=[float(x) for x in distance])
      figures.append(_plot_drift(distance, run.path('drift.png')))
  elif {'execution', 'compounding'} & set(section.checks):
    for name in {'execution', 'compounding'} & set(section.checks):
      checks[name] = _verdict(False, 'skipped: no environment (env.name is empty)')

  results = run.write_results(
      'diagnose', dataset=path, num_demos=len(episodes), num_available_episodes=num_available,
      num_transitions=int(len(transitions['action'])), checks=checks,
      flags=[name for name, check in checks.items() if check['flag']])
  report = markdown_report(results, figures)
  if run.is_writer:
    with open(run.path(REPORT_FILE), 'w') as f:
      f.write(report)
  run.close()
  return results


def markdown_report(results: Mapping[str, Any], figures: Sequence[str] = ()) -> str:
  """One line per check: its verdict and the change it suggests."""
  lines = [f'# Diagnosis of {results["dataset"]}', '',
           f'{results["num_demos"]} episodes, {results["num_transitions"]} transitions; '
           f'task {results["task"] or "none (offline)"}.', '',
           '| check | verdict | suggests |', '|---|---|---|']
  for name, check in results['checks'].items():
    mark = 'FLAG' if check['flag'] else 'ok'
    lines.append(f'| {name} ({mark}) | {check["verdict"]} | {check["suggests"] or "-"} |')
  lines += [''] + [f'![{os.path.basename(f)}]({os.path.basename(f)})' for f in figures]
  return '\n'.join(lines) + '\n'


def _plot_drift(distance: np.ndarray, path: str) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.plot(distance)
  ax.set(xlabel='time step', ylabel='distance to nearest demo state (std units)',
         title="the policy's drift from the data")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
