"""The reference comparison: single-task policies vs one multi-task policy, per task.

It serves any family whose env takes a `tasks` argument to draw only some of its tasks
(`tabletop`, the heterogeneous `suite`). For each seed it collects `study.demos_per_task` expert demonstrations of each task of the
family, each into its own RLDS dataset (seen combinations only), then trains

* a single-task policy per task on that task's dataset (the same task-conditioned network
  as the multi-task one: within a task, the colour and pad factors still matter), and
* one multi-task policy per rule in `study.loss_weights` on the mixture of all the datasets
  (`data.path` lists them; `data.task_mixture` samples them),

each a sweep trial (studies/sweep.py) in its own sub-workdir, run in this process
(`study.engine=local`) or on Ray Tune (`ray`); finished runs are reused, so a stopped
study resumes. Every
policy is evaluated on `study.eval_episodes_per_task` episodes per task on the seen
combinations and as many on each task's held-out combinations (tasks with none have no
held-out figure). It writes `comparison.md` (per task, mean ± sample std over seeds),
`comparison.png` (bars per task: single vs each multi-task rule, seen and held-out) and
`results.json` (every figure's numbers under `per_task`, every run's under `runs`).
"""

import os
from typing import Any, Dict, List, Optional

from absl import logging
import ml_collections
import numpy as np

from imitation import agents
from imitation import atomic
from imitation.agents import bc
from imitation.agents import multitask
from imitation.data import collect
from imitation.data import rlds
from imitation.studies import common as study_common
from imitation.studies import sweep
from imitation.training import run as run_lib

ALGORITHM = 'multitask_comparison'
TABLE_FILE = 'comparison.md'
PLOT_FILE = 'comparison.png'
SINGLE = 'single'


def held_out_tasks(config: ml_collections.ConfigDict) -> List[str]:
  """The tasks with held-out combinations in the env config (tabletop's (task, colour, pad)
  triples start with the index of a task in `env.kwargs.tasks`); none for the suite."""
  held_out = config.env.kwargs.get('held_out', ())
  tasks = config.env.kwargs.get('tasks', ())
  return [t for i, t in enumerate(tasks) if any(c[0] == i for c in held_out)]


def _run_config(config: ml_collections.ConfigDict, seed: int,
                tasks: List[str]) -> ml_collections.ConfigDict:
  """The study config for one run on `tasks`: study section gone, seed and demos set."""
  cfg = study_common.run_config(config, seed)
  cfg.collect.num_episodes = config.study.demos_per_task
  cfg.env.kwargs.tasks = tuple(tasks)
  cfg.eval.num_episodes = config.study.eval_episodes_per_task * len(tasks)
  if not set(tasks) & set(held_out_tasks(config)):
    cfg.env.held_out_kwargs = {}  # nothing held out of these tasks: no held-out evaluation
  return cfg


def single_config(config, seed: int, task: str, data_path: str) -> ml_collections.ConfigDict:
  """The single-task policy of `task`: BC on its own dataset, evaluated on it alone."""
  cfg = _run_config(config, seed, [task])
  cfg.algorithm = bc.ALGORITHM
  cfg.data.path = data_path
  with cfg.unlocked():
    del cfg['multitask']
  return cfg


def multi_config(config, seed: int, rule: str, data_paths: List[str]) -> ml_collections.ConfigDict:
  """The multi-task policy with loss-weight `rule`, on the mixture of every task's dataset."""
  cfg = _run_config(config, seed, list(config.study.tasks))
  cfg.algorithm = multitask.ALGORITHM
  cfg.data.path = ','.join(data_paths)
  cfg.multitask.loss_weights = rule
  return cfg


def _collect(config: ml_collections.ConfigDict, seed: int, task: str, path: str) -> str:
  """`task`'s demonstrations for `seed` at `path` (collected once, then reused)."""
  if not rlds.dataset_exists(path):
    cfg = _run_config(config, seed, [task])
    logging.info('seed %d: collecting %d %s demos', seed, cfg.collect.num_episodes, task)
    collect.collect_demonstrations(cfg.env, cfg.collect, path)
  return path


def study_trials(config: ml_collections.ConfigDict, workdir: str,
                 data_paths: Dict[int, Dict[str, str]]) -> List[sweep.Trial]:
  """Every run of the comparison as a sweep trial, per seed: a single-task policy per task
  (single_TASK_seedS) and a multi-task policy per loss-weight rule (multi_RULE_seedS)."""
  study = config.study
  trials = []
  for seed in study.seeds:
    paths = data_paths[seed]
    for task in study.tasks:
      trials.append(sweep.Trial(
          cell=(('variant', SINGLE), ('task', task)), seeds=(seed,),
          config=single_config(config, seed, task, paths[task]),
          workdir=os.path.join(workdir, f'single_{task}_seed{seed}')))
    for rule in study.loss_weights:
      trials.append(sweep.Trial(
          cell=(('variant', f'multi_{rule}'),), seeds=(seed,),
          config=multi_config(config, seed, rule, [paths[t] for t in study.tasks]),
          workdir=os.path.join(workdir, f'multi_{rule}_seed{seed}')))
  return trials


def run_study(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs (or resumes) the comparison `config` describes; returns its results.json."""
  run = run_lib.Run(config, workdir)
  study = config.study
  tasks, seeds = list(study.tasks), list(study.seeds)
  data_paths = {seed: {t: _collect(config, seed, t, run.path('data', f'{t}_seed{seed}'))
                       for t in tasks} for seed in seeds}
  trials = study_trials(config, run.workdir, data_paths)
  sweep.run_study_trials(trials, agents.train, study, storage=run.path('ray'))
  variants = [SINGLE] + [f'multi_{rule}' for rule in study.loss_weights]
  runs: Dict[str, Dict[int, Any]] = {v: {} for v in variants}
  for trial in trials:
    cell, seed = dict(trial.cell), trial.seeds[0]
    finished = study_common.finished(trial.workdir)
    if cell['variant'] == SINGLE:
      runs[SINGLE].setdefault(seed, {})[cell['task']] = finished
    else:
      runs[cell['variant']][seed] = finished

  per_task = {v: _per_task(runs[v], v, tasks, seeds) for v in variants}
  results = run.write_results(
      ALGORITHM, seed=None, seeds=seeds, tasks=tasks, held_out_tasks=held_out_tasks(config),
      demos_per_task=study.demos_per_task, per_task=per_task,
      runs={v: {str(s): _run_figures(r) for s, r in by_seed.items()}
            for v, by_seed in runs.items()})
  if run.is_writer:
    study_common.write_report(run.path(TABLE_FILE), comparison_table(results) + '\n')
    plot_comparison(results, run.path(PLOT_FILE))
  run.close()
  return results


def _task_figures(results: Dict[str, Any], task: str, single: bool) -> Dict[str, float]:
  """One run's seen and held-out success on `task` (a single-task run covers one task)."""
  seen = results if single else results['per_task'][task]
  figures = {'success_rate': seen['success_rate']}
  held_out = results.get('held_out')
  if held_out:
    figures['held_out'] = (held_out if single else held_out['per_task'].get(task, {})).get(
        'success_rate')
  return figures


def _per_task(by_seed, variant, tasks, seeds) -> Dict[str, Dict[str, Any]]:
  """Per task, and their mean ('mean'): seen and held-out success, mean ± std over seeds."""
  single = variant == SINGLE
  figures = {t: [_task_figures(by_seed[s][t] if single else by_seed[s], t, single)
                 for s in seeds] for t in tasks}
  table = {}
  for task, per_seed in figures.items():
    table[task] = {'success_rate': study_common.spread([f['success_rate'] for f in per_seed])}
    if all(f.get('held_out') is not None for f in per_seed):
      table[task]['held_out'] = study_common.spread([f['held_out'] for f in per_seed])
  # The mean over tasks, taken within each seed, then its spread over seeds.
  table['mean'] = {'success_rate': study_common.spread(
      [np.mean([figures[t][i]['success_rate'] for t in tasks]) for i in range(len(seeds))])}
  with_held_out = [t for t in tasks if 'held_out' in table[t]]
  if with_held_out:
    table['mean']['held_out'] = study_common.spread(
        [np.mean([figures[t][i]['held_out'] for t in with_held_out]) for i in range(len(seeds))])
  return table


def _run_figures(results: Dict[str, Any]) -> Dict[str, Any]:
  keep = ('success_rate', 'held_out', 'per_task', 'wall_time_s', 'num_demos', 'steps')
  if 'success_rate' in results:
    return {k: results[k] for k in keep if k in results}
  return {task: _run_figures(r) for task, r in results.items()}  # single: one run per task


def _cell(stats: Optional[Dict[str, float]]) -> str:
  return '-' if stats is None else f'{stats["mean"]:.3f} ± {stats["std"]:.3f}'


def comparison_table(results: Dict[str, Any]) -> str:
  """Markdown: per task, each variant's seen and held-out success (mean ± sample std over
  seeds)."""
  variants = list(results['per_task'])
  rows = list(results['tasks']) + ['mean']
  lines = [f'# {results["task"]}: single-task vs multi-task, {results["demos_per_task"]} demos '
           f'per task, mean ± sample std over seeds {results["seeds"]}', '',
           '| task | ' + ' | '.join(f'{v} seen | {v} held-out' for v in variants) + ' |',
           '|---|' + '---|---|' * len(variants)]
  for task in rows:
    cells = []
    for v in variants:
      stats = results['per_task'][v][task]
      cells += [_cell(stats['success_rate']), _cell(stats.get('held_out'))]
    lines.append(f'| {task} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def plot_comparison(results: Dict[str, Any], path: str) -> None:
  """Bars per task (and their mean): each variant's success, seen and held-out panels."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  variants = list(results['per_task'])
  rows = list(results['tasks']) + ['mean']
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
  width = 0.8 / len(variants)
  for ax, key, title in zip(axes, ('success_rate', 'held_out'),
                            ('seen combinations', 'held-out combinations')):
    for i, variant in enumerate(variants):
      stats = [results['per_task'][variant][t].get(key) for t in rows]
      x = [j + (i - (len(variants) - 1) / 2) * width for j in range(len(rows))]
      ax.bar(x, [s['mean'] if s else 0.0 for s in stats], width,
             yerr=[s['std'] if s else 0.0 for s in stats], capsize=3, label=variant)
    ax.set_xticks(range(len(rows)), rows)
    ax.set(title=f'{results["task"]}: {title}', ylim=(0, 1.05))
  axes[0].set_ylabel(f'success rate (mean ± std, {len(results["seeds"])} seeds)')
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  atomic.save_figure(fig, path)
  plt.close(fig)
