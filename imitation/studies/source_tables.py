"""The source's tables on one manipulation family: every approach, over seeds, one protocol.

For each seed it trains (sweep trials, studies/sweep.py; each in its own sub-workdir,
finished runs reused, so a stopped study resumes and a finished one reruns without
training) the rows `study.rows` names:

* `single_task`: BC, one policy per task on that task's demos alone (single_TASK_seedS);
* `bc`: BC, one task-conditioned policy for the whole family (multi-task BC, bc_seedS);
* `bc_image`: the same from camera images alone (bc_image_seedS);
* `dagger_classic`, `dagger_intervention`: BC + DAgger, each round a label budget
  (dagger_VARIANT_seedS; every round's policy exported in rounds/K/policy);
* `diffusion`: the generative head over action chunks (`study.generative`, diffusion_seedS);
* `bco`: BCO(alpha), the demonstrations without actions (bco_seedS).

Then every policy (each DAgger round's too) is scored by one protocol (`study.eval`,
`evaluate_policy`): the same fixed episodes on the seen and on the novel (held-out)
settings, its per-step action accuracy on the expert's states, Wilson intervals per seed and
t intervals over seeds. Scores are kept in evaluations/ (keyed by the protocol), so a rerun
reprints the same tables. It writes `tables.md` (the comparison table, the DAgger table, the
compounding-error table, every seed's figures), `compounding.png` (per-step accuracy vs
success) and `results.json` (every figure under `rows`, `dagger` and `per_seed`).
"""

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import jax
import ml_collections
import numpy as np
import scipy.stats

from imitation import agents
from imitation import atomic
from imitation import envs
from imitation.agents import bc
from imitation.agents import bco
from imitation.agents import dagger
from imitation.envs import rollout as rollout_lib
from imitation.evaluation import acting
from imitation.studies import common as study_common
from imitation.studies import multitask_comparison
from imitation.studies import sweep
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import run as run_lib

ALGORITHM = 'source_tables'
TABLE_FILE = 'tables.md'
PLOT_FILE = 'compounding.png'
EVALUATIONS_DIR = 'evaluations'
DAGGER_ROWS = ('dagger_classic', 'dagger_intervention')
# Each row's name in the tables and the source's figure it is measured against.
ROW_NAMES = {
    'expert': ('expert (scripted)', 'expert 95-99%'),
    'single_task': ('BC, single-task (a policy per task)', 'BC 70-80% / 30-50% novel; '
                    'single-task 88%'),
    'bc': ('BC, multi-task (one task-conditioned policy)', 'multi-task BC 70-80% / 50-70% '
           'novel; multi-task 72%'),
    'bc_image': ('BC from images, multi-task', 'BC from cameras (no figure of its own)'),
    'dagger_classic': ('BC + DAgger, classic (last round)', 'BC + DAgger 75-85% / 40-60%'),
    'dagger_intervention': ('BC + DAgger, intervention-gated (last round)',
                            'BC + DAgger 75-85% / 40-60%'),
    'diffusion': ('diffusion policy, action chunks, multi-task', 'diffusion 80-90% / 60-70%'),
    'bco': ('BCO(alpha), no action labels, multi-task', 'learning from observation (none)'),
}


# The runs.

def _run_config(config: ml_collections.ConfigDict, seed: int, algorithm: str,
                keep: Tuple[str, ...] = ()) -> ml_collections.ConfigDict:
  """The study config at `seed` for `algorithm`, without the other agents' sections."""
  cfg = study_common.run_config(config, seed)
  cfg.algorithm = algorithm
  with cfg.unlocked():
    for section in ('dagger', 'bco'):
      if section not in keep and section in cfg:
        del cfg[section]
  return cfg


def single_task_config(config, seed: int, task: str) -> ml_collections.ConfigDict:
  """BC on `task`'s demos alone: an equal share of the family's demos, its own settings."""
  cfg = _run_config(config, seed, bc.ALGORITHM)
  tasks = tuple(config.env.kwargs.tasks)
  cfg.env.kwargs.tasks = (task,)
  cfg.collect.num_episodes = config.collect.num_episodes // len(tasks)
  if task not in multitask_comparison.held_out_tasks(config):
    cfg.env.held_out_kwargs = {}  # nothing of this task is held out
  return cfg


def bc_config(config, seed: int) -> ml_collections.ConfigDict:
  return _run_config(config, seed, bc.ALGORITHM)


def image_config(config, seed: int) -> ml_collections.ConfigDict:
  """BC from images: the image overrides (configs/source_tables.py), then their updates."""
  cfg = bc_config(config, seed)
  for name, value in config.study.image_overrides:
    sweep.override(cfg, name, value)
  cfg.train.update(config.study.image_train)
  return cfg


def dagger_config(config, seed: int, variant: str) -> ml_collections.ConfigDict:
  cfg = _run_config(config, seed, dagger.ALGORITHM, keep=('dagger',))
  cfg.dagger.variant = variant
  return cfg


def diffusion_config(config, seed: int) -> ml_collections.ConfigDict:
  cfg = bc_config(config, seed)
  generative = config.study.generative
  cfg.network.head = generative.head
  cfg.network.chunk.update(horizon=generative.horizon, execute_steps=generative.execute_steps)
  return cfg


def bco_config(config, seed: int) -> ml_collections.ConfigDict:
  """BCO(alpha) on the same demos, their actions dropped (set aside only to score labels)."""
  cfg = _run_config(config, seed, bco.ALGORITHM, keep=('bco',))
  cfg.collect.drop_actions = True
  cfg.train.eval_every = cfg.train.num_steps  # BCO evaluates its rounds itself
  return cfg


def study_trials(config: ml_collections.ConfigDict, workdir: str) -> List[sweep.Trial]:
  """Every run of the study as a sweep trial, rows in `study.rows` order, seeds within."""
  study = config.study
  trials = []

  def add(row, seed, cfg, name, **cell):
    trials.append(sweep.Trial(cell=(('row', row), *cell.items()), seeds=(seed,), config=cfg,
                              workdir=os.path.join(workdir, f'{name}_seed{seed}')))

  for row in study.rows:
    for seed in study.seeds:
      if row == 'single_task':
        for task in config.env.kwargs.tasks:
          add(row, seed, single_task_config(config, seed, task), f'single_{task}', task=task)
      elif row == 'bc':
        add(row, seed, bc_config(config, seed), 'bc')
      elif row == 'bc_image':
        add(row, seed, image_config(config, seed), 'bc_image')
      elif row in DAGGER_ROWS:
        variant = row.split('_', 1)[1]
        add(row, seed, dagger_config(config, seed, variant), row)
      elif row == 'diffusion':
        add(row, seed, diffusion_config(config, seed), 'diffusion')
      elif row == 'bco':
        add(row, seed, bco_config(config, seed), 'bco')
      else:
        raise ValueError(f'study.rows: unknown row {row!r}; known: {sorted(ROW_NAMES)}')
  return trials


# The protocol.

def wilson_interval(successes: int, episodes: int) -> Tuple[float, float]:
  """The Wilson score 95% interval of a success rate of `successes` in `episodes`."""
  interval = scipy.stats.binomtest(int(successes), int(episodes)).proportion_ci(
      confidence_level=0.95, method='wilson')
  return float(interval.low), float(interval.high)


def _rate(successes: int, episodes: int) -> Dict[str, Any]:
  """A success rate with its counts and Wilson interval."""
  return {'successes': successes, 'episodes': episodes, 'success_rate': successes / episodes,
          'wilson95': wilson_interval(successes, episodes)}


def _episode_rate(trajectory: rollout_lib.Trajectory) -> Dict[str, Any]:
  success = np.asarray(rollout_lib.episode_statistics(trajectory)['success'])
  return _rate(int(np.sum(success > 0)), int(len(success)))


class PolicyEvaluator:
  """The study's protocol for one policy directory (see `study.eval`): its rollouts are
  compiled once per (network, env) and shared by every policy of that shape."""

  def __init__(self, protocol: ml_collections.ConfigDict):
    self.protocol = protocol.to_dict()
    self._rollouts: Dict[str, Any] = {}
    seed = int(protocol.episode_seed)
    self._reset_keys = jax.random.split(jax.random.PRNGKey(seed), protocol.num_episodes)
    self._rng = jax.random.fold_in(jax.random.PRNGKey(seed), 1)

  def _rollout(self, policy, network: Dict[str, Any], env_config: ml_collections.ConfigDict,
               setting: str):
    key = json.dumps([network, env_config.to_dict(), setting], sort_keys=True, default=str)
    if key not in self._rollouts:
      env = (envs.make_from_config(env_config) if setting == 'seen'
             else envs.make_held_out_from_config(env_config))
      self._rollouts[key] = None if env is None else jax.jit(rollout_lib.make_rollout(
          env, env_config.horizon, acting.make_act_fn(policy)))
    return self._rollouts[key]

  def __call__(self, policy_dir: str) -> Dict[str, Any]:
    """Seen and novel success of the policy and of the expert on the same episodes, and the
    policy's per-step action accuracy on the expert's states (seen settings)."""
    policy, params, policy_config = checkpoint_lib.load_policy(policy_dir)
    env_config = ml_collections.ConfigDict(policy_config['env'])
    figures = {}
    for setting in ('seen', 'novel'):
      rollout = self._rollout(policy, policy_config['network'], env_config, setting)
      if rollout is None:
        continue
      learner = jax.device_get(rollout(params, self._reset_keys, self._rng, 0.0))
      expert = jax.device_get(rollout(params, self._reset_keys, self._rng, 1.0))
      figures[setting] = _episode_rate(learner)
      figures[f'expert_{setting}'] = _episode_rate(expert)
      if setting == 'seen':
        mask = np.asarray(rollout_lib.episode_mask(expert.done)) > 0
        error = np.abs(np.asarray(expert.learner_action) - np.asarray(expert.expert_action))
        error = error.max(-1)[mask]
        tolerance = float(self.protocol['action_tolerance'])
        figures['action_accuracy'] = float(np.mean(error <= tolerance))
        figures['action_accuracy_half_tolerance'] = float(np.mean(error <= tolerance / 2))
        figures['expert_state_steps'] = int(mask.sum())
    return figures


def evaluate(evaluator: PolicyEvaluator, policy_dir: str, cache_dir: str) -> Dict[str, Any]:
  """The protocol's figures for `policy_dir`, read from `cache_dir` when that file was
  written under the same protocol (so a rerun reprints the same tables without a rollout)."""
  name = os.path.relpath(policy_dir, os.path.dirname(cache_dir)).replace(os.sep, '__')
  path = os.path.join(cache_dir, f'{name}.json')
  if os.path.exists(path):
    with open(path) as f:
      cached = json.load(f)
    if cached['protocol'] == evaluator.protocol:
      return cached['figures']
  figures = evaluator(policy_dir)
  os.makedirs(cache_dir, exist_ok=True)
  atomic.write_json(path, {'protocol': evaluator.protocol, 'policy_dir': policy_dir,
                           'figures': figures})
  return figures


# Figures.

def _pooled(evaluations: List[Dict[str, Any]], setting: str) -> Optional[Dict[str, Any]]:
  """One seed's figures over several policies (single-task: one per task): episodes pooled."""
  parts = [e[setting] for e in evaluations if setting in e]
  if not parts:
    return None
  return _rate(sum(p['successes'] for p in parts), sum(p['episodes'] for p in parts))


def seed_figures(evaluations: List[Dict[str, Any]], results: List[Dict[str, Any]],
                 round_record: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """One row's figures at one seed, from its policies' evaluations and runs' results (a
  DAgger round's from that round's record): budgets, time, success, accuracy."""
  figures = {setting: _pooled(evaluations, setting)
             for setting in ('seen', 'novel', 'expert_seen', 'expert_novel')}
  steps = sum(e['expert_state_steps'] for e in evaluations)
  for name in ('action_accuracy', 'action_accuracy_half_tolerance'):  # over all their steps
    figures[name] = sum(e[name] * e['expert_state_steps'] for e in evaluations) / steps
  figures['num_demos'] = sum(r['num_demos'] for r in results)
  if round_record is not None:
    figures.update(action_labels=round_record['total_expert_labels'],
                   interventions=round_record['total_interventions'],
                   env_interactions=round_record['total_env_steps'] - results[0]['rounds'][0][
                       'total_env_steps'],
                   wall_time_s=round_record['elapsed_s'])
  else:
    state_only = all(r['algorithm'] == bco.ALGORITHM for r in results)
    figures.update(
        action_labels=0 if state_only else sum(r['num_transitions'] for r in results),
        interventions=0,
        env_interactions=sum(r.get('env_interactions', 0) for r in results),
        wall_time_s=sum(r['wall_time_s'] for r in results))
  return figures


def _spread_of(per_seed: Dict[int, Dict[str, Any]], name: str, key: Optional[str] = None):
  values = [f[name] if key is None else (f[name] or {}).get(key) for f in per_seed.values()]
  if any(v is None for v in values):
    return None
  return study_common.spread(values)


def row_summary(per_seed: Dict[int, Dict[str, Any]]) -> Dict[str, Any]:
  """A row's figures over seeds: each the spread (mean, std, t interval) of its per-seed
  values."""
  summary = {name: _spread_of(per_seed, name, 'success_rate')
             for name in ('seen', 'novel', 'expert_seen', 'expert_novel')}
  for name in ('action_accuracy', 'action_accuracy_half_tolerance', 'num_demos',
               'action_labels', 'interventions', 'env_interactions', 'wall_time_s'):
    summary[name] = _spread_of(per_seed, name)
  return summary


def run_study(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs (or resumes) the study `config` describes; returns its results.json."""
  run = run_lib.Run(config, workdir)
  study = config.study
  trials = study_trials(config, run.workdir)
  sweep.run_study_trials(trials, agents.train, study, storage=run.path('ray'))
  evaluator = PolicyEvaluator(study.eval)
  cache = run.path(EVALUATIONS_DIR)
  by_row: Dict[str, Dict[int, List[sweep.Trial]]] = {}
  for trial in trials:
    by_row.setdefault(dict(trial.cell)['row'], {}).setdefault(trial.seeds[0], []).append(trial)

  per_seed: Dict[str, Dict[int, Dict[str, Any]]] = {}
  dagger_rounds: Dict[str, List[Dict[int, Dict[str, Any]]]] = {}
  for row, seeds in by_row.items():
    per_seed[row] = {}
    for seed, row_trials in seeds.items():
      results = [study_common.finished(t.workdir) for t in row_trials]
      if row in DAGGER_ROWS:
        (trial,), (result,) = row_trials, results
        rounds = result['rounds']
        for k, record in enumerate(rounds):
          policy_dir = os.path.join(trial.workdir, 'rounds', str(k), run_lib.POLICY_DIR)
          figures = seed_figures([evaluate(evaluator, policy_dir, cache)], [result], record)
          dagger_rounds.setdefault(row, [{} for _ in rounds])[k][seed] = figures
        per_seed[row][seed] = dagger_rounds[row][-1][seed]
      else:
        evaluations = [evaluate(evaluator, os.path.join(t.workdir, run_lib.POLICY_DIR), cache)
                       for t in row_trials]
        per_seed[row][seed] = seed_figures(evaluations, results)

  # The expert on the family's episodes (a row of one policy for all tasks, where there is one).
  expert = next((f for row, f in per_seed.items() if row != 'single_task'),
                next(iter(per_seed.values())))
  rows = {'expert': {'seen': _spread_of(expert, 'expert_seen', 'success_rate'),
                     'novel': _spread_of(expert, 'expert_novel', 'success_rate')}}
  rows.update({row: row_summary(figures) for row, figures in per_seed.items()})
  dagger_table = {row: [{'round': k, **row_summary(by_seed)} for k, by_seed in enumerate(rounds)]
                  for row, rounds in dagger_rounds.items()}
  results = run.write_results(
      ALGORITHM, seed=None, seeds=list(study.seeds), protocol=study.eval.to_dict(),
      rows=rows, dagger=dagger_table,
      per_seed={row: {str(s): f for s, f in figures.items()} for row, figures in per_seed.items()})
  if run.is_writer:
    study_common.write_report(run.path(TABLE_FILE), tables(results) + '\n')
    plot_compounding(results, run.path(PLOT_FILE))
  run.close()
  return results


# Reports.

def _interval(stats: Optional[Dict[str, float]], digits: int = 2) -> str:
  """mean [low, high]: the t 95% interval over seeds, clipped to [0, 1]."""
  if stats is None:
    return '-'
  low, high = max(stats['mean'] - stats['ci95'], 0.0), min(stats['mean'] + stats['ci95'], 1.0)
  if stats['n'] < 2:
    return f'{stats["mean"]:.{digits}f}'
  return f'{stats["mean"]:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]'


def _count(stats: Optional[Dict[str, float]]) -> str:
  return '-' if stats is None else f'{stats["mean"]:,.0f}'


def _per_100(stats: Dict[str, Any], gated: bool) -> str:
  """Takeovers per 100 learner steps of the DAgger rollouts; '-' where no gate takes over."""
  interactions = stats['env_interactions']['mean'] if stats['env_interactions'] else 0
  if not interactions or not gated:
    return '-'
  return f'{100 * stats["interventions"]["mean"] / interactions:.1f}'


def tables(results: Dict[str, Any]) -> str:
  """Markdown: the comparison table, the DAgger table, the compounding-error table and every
  seed's success with its Wilson interval."""
  protocol, rows = results['protocol'], results['rows']
  seeds = results['seeds']
  lines = [
      f'# {results["task"]}: the source\'s tables, seeds {seeds}', '',
      f'Every policy: the last of its run, {protocol["num_episodes"]} fixed episodes per '
      f'setting (PRNGKey({protocol["episode_seed"]})), under the actuator noise; mean over '
      'seeds with its t 95% interval. Per-step accuracy: the share of the expert\'s own states '
      f'where every action dimension is within {protocol["action_tolerance"]:g} of the '
      "expert's.", '',
      '| approach | demos | action labels | env interactions | wall time to a policy (s) | '
      'success, seen | success, novel | per-step accuracy | source |',
      '|---|---|---|---|---|---|---|---|---|',
      f'| {ROW_NAMES["expert"][0]} | - | - | - | - | {_interval(rows["expert"]["seen"])} | '
      f'{_interval(rows["expert"]["novel"])} | - | {ROW_NAMES["expert"][1]} |']
  for row, stats in rows.items():
    if row == 'expert':
      continue
    name, source = ROW_NAMES[row]
    lines.append(
        f'| {name} | {_count(stats["num_demos"])} | {_count(stats["action_labels"])} | '
        f'{_count(stats["env_interactions"])} | {_count(stats["wall_time_s"])} | '
        f'{_interval(stats["seen"])} | {_interval(stats["novel"])} | '
        f'{_interval(stats["action_accuracy"], 3)} | {source} |')
  if results['dagger']:
    lines += ['', '## BC + DAgger: success against expert labels', '',
              '| variant | round | action labels | interventions | interventions per 100 '
              'learner steps | success, seen | of the expert | success, novel |',
              '|---|---|---|---|---|---|---|---|']
    for row, points in results['dagger'].items():
      for point in points:
        of_expert = point['seen']['mean'] / max(point['expert_seen']['mean'], 1e-9)
        lines.append(
            f'| {row.split("_", 1)[1]} | {point["round"]} | {_count(point["action_labels"])} | '
            f'{_count(point["interventions"])} | {_per_100(point, row != "dagger_classic")} | '
            f'{_interval(point["seen"])} | {of_expert:.0%} | {_interval(point["novel"])} |')
  lines += ['', '## Compounding error: per-step accuracy against episode success', '',
            f'| approach | accuracy (within {protocol["action_tolerance"]:g}) | accuracy '
            f'(within {protocol["action_tolerance"] / 2:g}) | success, seen | of the expert |',
            '|---|---|---|---|---|']
  for row, stats in rows.items():
    if row == 'expert':
      continue
    of_expert = stats['seen']['mean'] / max(stats['expert_seen']['mean'], 1e-9)
    lines.append(f'| {ROW_NAMES[row][0]} | {_interval(stats["action_accuracy"], 3)} | '
                 f'{_interval(stats["action_accuracy_half_tolerance"], 3)} | '
                 f'{_interval(stats["seen"])} | {of_expert:.0%} |')
  lines += ['', '## Every seed (success: successes / episodes, Wilson 95% interval)', '',
            '| approach | seed | seen | novel | per-step accuracy |', '|---|---|---|---|---|']
  for row, by_seed in results['per_seed'].items():
    for seed, figures in by_seed.items():
      cells = []
      for setting in ('seen', 'novel'):
        f = figures[setting]
        cells.append('-' if f is None else f'{f["successes"]}/{f["episodes"]} = '
                     f'{f["success_rate"]:.3f} [{f["wilson95"][0]:.3f}, {f["wilson95"][1]:.3f}]')
      lines.append(f'| {ROW_NAMES[row][0]} | {seed} | {cells[0]} | {cells[1]} | '
                   f'{figures["action_accuracy"]:.3f} |')
  return '\n'.join(lines)


def plot_compounding(results: Dict[str, Any], path: str) -> None:
  """Per-step action accuracy on the expert's states against closed-loop success, one point
  per seed, one colour per approach."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6.5, 4.5))
  for row, by_seed in results['per_seed'].items():
    ax.scatter([f['action_accuracy'] for f in by_seed.values()],
               [f['seen']['success_rate'] for f in by_seed.values()], label=ROW_NAMES[row][0],
               s=25)
  ax.plot([0, 1], [0, 1], color='k', ls=':', lw=1, label='success = accuracy')
  ax.set(xlabel=f'per-step action accuracy on expert states (within '
                f'{results["protocol"]["action_tolerance"]:g})',
         ylabel='episode success, seen settings', xlim=(0, 1.02), ylim=(0, 1.02),
         title=f'{results["task"]}: compounding error')
  ax.legend(fontsize=7, loc='upper left')
  fig.tight_layout()
  atomic.save_figure(fig, path)
  plt.close(fig)
