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

from imitation import config_rules as rules
from imitation import atomic
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
    suggestions.append('a mixture, diffusion or flow head (--config.network.head=mixture, '
                       'diffusion or flow; with --config.network.chunk.horizon for actions '
                       f'that follow one mode for many steps): the {config.network.head} '
                       'head averages the modes')
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


class _Diagnosis:
  """What the checks share: the dataset, its held-out episodes, and (made once, when a
  check first asks) the fitted BC policies and the closed-loop evaluation under noise."""

  def __init__(self, config: ml_collections.ConfigDict, run: run_lib.Run):
    self.config, self.run, self.section = config, run, config.diagnose
    self.path = inputs_lib.dataset_path(run)
    self.episodes, _, self.num_available = demonstrations.load_episodes(config, self.path)
    self.transitions = transitions_lib.episodes_to_transitions(
        self.episodes, config.data.action_key)
    self.normalization = inputs_lib.normalization(config, self.transitions)
    self.action_size = int(self.transitions['action'].shape[-1])
    self.learner = bc.make_learner(config, self.action_size)
    self.rng = np.random.default_rng(np.asarray(jax.random.key_data(run.key(streams.DIAGNOSE))))
    self.has_env = bool(config.env.name)
    self.figures: List[str] = []
    # Held-out episodes: the first `holdout_fraction` of a shuffled order.
    self.order = self.rng.permutation(len(self.episodes))
    self.num_held_out = max(1, int(round(config.data.holdout_fraction * len(self.episodes))))
    self.held_out = np.zeros(len(self.episodes), bool)
    self.held_out[self.order[:self.num_held_out]] = True
    self.row_held_out = self.held_out[self.transitions['episode_index']]

  @functools.cached_property
  def fitted(self) -> Dict[str, Any]:
    """BC fitted to the training episodes (its params, for closed loop) and to a few
    episodes alone, with the normalised action errors both leave."""
    section, transitions, row_held_out = self.section, self.transitions, self.row_held_out
    few = np.isin(transitions['episode_index'],
                  self.order[self.num_held_out:][:section.memorize_episodes])
    states = quality.fit_policies(
        self.learner, transitions, self.normalization, np.stack([~row_held_out, few]),
        num_steps=section.num_steps, batch_size=self.config.train.batch_size,
        rng=self.run.key(streams.DIAGNOSE, 1))
    predictions = quality.predict(self.learner, states, transitions['observation'])
    actions = np.asarray(transitions['action'])
    mse = functools.partial(_normalized_mse, normalization=self.normalization)
    return {'policy_params': jax.tree.map(lambda x: x[0], states).policy_params,
            'train_mse': mse(predictions[0][~row_held_out], actions[~row_held_out]),
            'heldout_mse': mse(predictions[0][row_held_out], actions[row_held_out]),
            'memorize_mse': mse(predictions[1][few], actions[few])}

  @functools.cached_property
  def under_noise(self) -> Dict[str, Any]:
    """The fitted policy against the expert at each actuator-noise level, and its
    trajectories without noise."""
    config, section = self.config, self.section
    eval_rng = self.run.key(streams.DIAGNOSE, 3)
    policy_params = self.fitted['policy_params']
    noise_success, evaluation, trajectory = {}, None, None
    for level in section.noise_levels:
      env_config = config.env.copy_and_resolve_references()
      env_config.action_noise.absolute_std = float(level) * 2.0 * ACTION_BOUND
      env = envs.make_from_config(env_config)
      evaluator = Evaluator(env, self.learner.act, section.num_episodes, config.env.horizon)
      result = evaluator.versus_expert(policy_params, eval_rng)
      noise_success[float(level)] = {'success_rate': result['success_rate'],
                                     'expert_success_rate': result['expert_success_rate']}
      if evaluation is None:
        evaluation = result
        trajectory = jax.jit(rollout_lib.make_rollout(
            env, config.env.horizon, self.learner.act))(
                policy_params, jax.random.split(eval_rng, section.num_episodes), eval_rng, 0.0)
    return {'success_by_noise': noise_success, 'evaluation': evaluation,
            'trajectory': trajectory}


def _check_quality(d: _Diagnosis) -> Dict[str, Any]:
  """Quality scores of every episode: flagged episodes, histograms, the worst as a GIF,
  quality.md, and the scores next to the dataset (where data.filter finds them)."""
  config, run, section = d.config, d.run, d.section
  scores = quality.score_episodes(config, d.episodes, bc.make_learner,
                                  functools.partial(inputs_lib.normalization, config),
                                  run.key(streams.DIAGNOSE, 0))
  record = scores.to_json()
  check = check_quality(scores)
  quality_figures = [quality.plot_histograms(scores, run.path('quality_histograms.png'))]
  primary = check['score']
  worst = np.argsort(-data_quality.badness(primary, scores.scores[primary]),
                     kind='stable')[:section.worst_episodes]
  gif = quality.worst_episodes_gif(config.env, [d.episodes[i] for i in worst],
                                   run.path('worst_episodes.gif'),
                                   size=config.eval.video_size, rng=run.key(streams.DIAGNOSE, 5))
  quality_figures += [gif] if gif else []
  report = quality.markdown_report(
      scores, f'Quality of {len(d.episodes)} episodes of {d.path}', quality_figures)
  report += (f'\nworst_episodes.gif: episodes {[int(scores.episode_index[i]) for i in worst]}'
             f', worst first by {primary}.\n' if gif else '')
  run.write_json(data_quality.SCORES_FILE, record)
  if run.is_writer:
    atomic.write_text(run.path(QUALITY_REPORT), report)
    if ',' not in d.path:  # next to the dataset, where data.filter finds them
      data_quality.write_scores(rlds.resolve_path(d.path) or d.path, record)
  d.figures += quality_figures
  return check


def _check_action_space(d: _Diagnosis) -> Dict[str, Any]:
  """Bounds, saturation and multimodality, from a mixture fitted to the training episodes
  whose components cannot each cover two modes (configs/bc.py grasp_mixture)."""
  config, section = d.config, d.section
  mixture_config = config.copy_and_resolve_references()
  mixture_config.network.update(head='mixture', max_scale=section.mixture_max_scale)
  mixture = bc.make_learner(mixture_config, d.action_size)
  fitted = jax.tree.map(lambda x: x[0], quality.fit_policies(
      mixture, d.transitions, d.normalization, ~d.row_held_out[None],
      num_steps=section.num_steps, batch_size=config.train.batch_size,
      rng=d.run.key(streams.DIAGNOSE, 4)))
  rows = d.rng.permutation(np.flatnonzero(d.row_held_out))[:section.num_anchors]
  gap = mean_to_mode_gap(mixture, fitted, jax.tree.map(
      lambda x: np.asarray(x)[rows], d.transitions['observation']), d.normalization)
  return check_action_space(d.transitions, config, gap)


def _check_capacity(d: _Diagnosis) -> Dict[str, Any]:
  """Can the network memorise a few episodes; the train/held-out gap in action error and
  (with an environment) in success from training vs held-out starts."""
  config, section, fitted = d.config, d.section, d.fitted
  memorize_mse, train_mse, heldout_mse = (
      fitted['memorize_mse'], fitted['train_mse'], fitted['heldout_mse'])
  figures_capacity = {'memorize_mse': memorize_mse, 'train_mse': train_mse,
                      'heldout_mse': heldout_mse}
  problems, suggestions = [], []
  if memorize_mse > section.memorize_mse:
    problems.append(f'the network cannot memorise {section.memorize_episodes} episodes '
                    f'(normalised action MSE {memorize_mse:.3f} > {section.memorize_mse})')
    suggestions.append('a bigger network (--config.network.hidden_sizes)')
  gap = heldout_mse / max(train_mse, 1e-12)
  keys = quality.reset_keys(d.episodes) if d.has_env else None
  success_gap = 0.0
  if keys is not None:
    env = envs.make_from_config(config.env)
    count = min(section.num_episodes, int((~d.held_out).sum()), int(d.held_out.sum()))
    train_keys = keys[np.flatnonzero(~d.held_out)[:count]]
    test_keys = keys[np.flatnonzero(d.held_out)[:count]]
    eval_rng = d.run.key(streams.DIAGNOSE, 2)
    rollout = jax.jit(rollout_lib.make_rollout(env, config.env.horizon, d.learner.act))
    figures_capacity['train_start_success'] = _success_from(
        rollout, fitted['policy_params'], train_keys, eval_rng)
    figures_capacity['heldout_start_success'] = _success_from(
        rollout, fitted['policy_params'], test_keys, eval_rng)
    success_gap = (figures_capacity['train_start_success']
                   - figures_capacity['heldout_start_success'])
  if gap > section.overfit_ratio and success_gap > section.overfit_success_gap:
    problems.append(f'overfitting: held-out action error {gap:.1f}x the training error, '
                    f'success {success_gap:.2f} lower from held-out starts')
    suggestions.append('more demonstrations, or weight decay (--config.optimizer.name=adamw)')
  verdict = '; '.join(problems) or (
      f'memorises {section.memorize_episodes} episodes (MSE {memorize_mse:.3f}); held-out '
      f'error {gap:.1f}x training')
  return _verdict(bool(problems), verdict, '; '.join(suggestions),
                  heldout_to_train_mse=gap, **figures_capacity)


def _check_execution(d: _Diagnosis) -> Dict[str, Any]:
  """Closed-loop success as actuator noise grows."""
  section = d.section
  noise_success = d.under_noise['success_by_noise']
  levels = sorted(noise_success)
  drop = noise_success[levels[0]]['success_rate'] - noise_success[levels[-1]]['success_rate']
  return _verdict(
      drop > section.noise_success_drop,
      f'success {noise_success[levels[0]]["success_rate"]:.2f} without actuator noise, '
      f'{noise_success[levels[-1]]["success_rate"]:.2f} at {levels[-1]:.0%} of the range'
      + (' (5-10% execution error is normal: plan for it)' if drop > section.noise_success_drop else ''),
      'demonstrations under noise (--config.collect.action_noise.absolute_std) or DAgger',
      success_by_noise=noise_success, success_drop=drop)


def _check_compounding(d: _Diagnosis) -> Dict[str, Any]:
  """Action error on the policy's own states against the expert's, and the distance from
  its states to the data along its trajectories (drift.png)."""
  section, evaluation = d.section, d.under_noise['evaluation']
  ratio = evaluation['closed_loop_action_mse'] / max(evaluation['heldout_action_mse'], 1e-12)
  drift = compounding.distance_to_reference_by_step(
      jax.device_get(d.under_noise['trajectory']),
      np.asarray(d.transitions['observation']['state']))
  distance = drift['distance']
  success_gap = evaluation['expert_success_rate'] - evaluation['success_rate']
  d.figures.append(_plot_drift(distance, d.run.path('drift.png')))
  return _verdict(
      ratio > section.compounding_ratio and success_gap > section.compounding_success_gap,
      f'action error on its own states {ratio:.1f}x that on the expert\'s, success '
      f'{evaluation["success_rate"]:.2f} vs the expert\'s '
      f'{evaluation["expert_success_rate"]:.2f}; distance to the data '
      f'{distance[0]:.2f} at the start, {distance.max():.2f} at most',
      'DAgger (configs/dagger.py), or more demonstrations near where it drifts',
      closed_loop_action_mse=evaluation['closed_loop_action_mse'],
      heldout_action_mse=evaluation['heldout_action_mse'], error_ratio=ratio,
      distance_by_step=[float(x) for x in distance])


# name -> (the check, whether it needs an environment), in CHECKS' order.
_CHECK_FUNCTIONS = {
    'quality': (_check_quality, False),
    'action_space': (_check_action_space, False),
    'capacity': (_check_capacity, False),
    'execution': (_check_execution, True),
    'compounding': (_check_compounding, True),
}


def run_diagnosis(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs the checks `config.diagnose.checks` names; writes diagnosis.md, plots, the
  quality scores (next to the dataset and in the workdir) and results.json."""
  run = run_lib.Run(config, workdir)
  d = _Diagnosis(config, run)
  logging.info('diagnosing %d episodes (%d transitions) of %s', len(d.episodes),
               len(d.transitions['action']), d.path)
  checks: Dict[str, Dict[str, Any]] = {}
  for name in (n for n in CHECKS if n in config.diagnose.checks):
    check, needs_env = _CHECK_FUNCTIONS[name]
    checks[name] = (check(d) if d.has_env or not needs_env
                    else _verdict(False, 'skipped: no environment (env.name is empty)'))
  results = run.write_results(
      'diagnose', dataset=d.path, num_demos=len(d.episodes),
      num_available_episodes=d.num_available,
      num_transitions=int(len(d.transitions['action'])), checks=checks,
      flags=[name for name, check in checks.items() if check['flag']])
  if run.is_writer:
    atomic.write_text(run.path(REPORT_FILE), markdown_report(results, d.figures))
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
  atomic.save_figure(fig, path, dpi=110)
  plt.close(fig)
  return path


CONFIG_RULES = {
    'diagnose.checks': rules.subset_of(CHECKS),
    'diagnose.num_episodes': rules.positive_int(),
    'diagnose.num_steps': rules.positive_int(),
}
