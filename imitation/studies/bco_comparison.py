"""The BCO study: BC with the demonstrations' actions vs BCO(0) and BCO(alpha) without them.

For each seed it runs BC (the demos with their actions) and BCO(alpha) (the same demos,
collected with the same seed, their actions dropped), each in its own sub-workdir
(bc_seedS, bco_seedS): a sweep (studies/sweep.py) in this process or as Ray Tune trials;
finished runs are skipped and stopped ones resume. BCO(0) is BCO(alpha)'s round 0 (random
interactions only, before the policy ever acts). It then writes to the workdir:

* `study.md`: success (mean ± std over seeds) against environment interactions per BCO
  round, beside BC's, with the inverse model's label errors;
* `interactions.png`: success vs environment interactions; `labels.png`: the label error
  (held-out interactions, and the demonstrations' real actions) per round;
* `results.json` (the shared schema; the curves under `bc` and `bco`).
"""

import os
from typing import Any, Dict, List

import ml_collections

from imitation import agents
from imitation.agents import bc
from imitation.agents import bco
from imitation.studies import common as study_common
from imitation.studies import sweep
from imitation.training import run as run_lib

ALGORITHM = 'bco_study'
TABLE_FILE = 'study.md'
ROUND_FIGURES = ('success_rate', 'total_env_interactions', 'inverse_heldout_mse',
                 'demo_label_mse')


def bc_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  """BC with actions: the study config's sections, demos collected with their actions."""
  cfg = study_common.run_config(config, seed)
  cfg.algorithm = bc.ALGORITHM
  cfg.collect.drop_actions = False
  with cfg.unlocked():
    del cfg['bco']
  return cfg


def bco_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  cfg = study_common.run_config(config, seed)
  cfg.algorithm = bco.ALGORITHM
  return cfg


def study_trials(config: ml_collections.ConfigDict, workdir: str) -> List[sweep.Trial]:
  trials = []
  for seed in config.study.seeds:
    for name, make in (('bc', bc_config), ('bco', bco_config)):
      trials.append(sweep.Trial(cell=(('algorithm', name),), seeds=(seed,),
                                config=make(config, seed),
                                workdir=os.path.join(workdir, f'{name}_seed{seed}')))
  return trials


def run_study(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs (or resumes) the study; returns what it writes to results.json."""
  run = run_lib.Run(config, workdir)
  trials = study_trials(config, run.workdir)
  sweep.run_study_trials(trials, agents.train, config.study, storage=run.path('ray'))
  results = {name: [study_common.finished(t.workdir) for t in trials
                    if dict(t.cell)['algorithm'] == name] for name in ('bc', 'bco')}
  record = run.write_results(ALGORITHM, seed=None, seeds=list(config.study.seeds),
                             **summarize(results['bc'], results['bco']))
  if run.is_writer:
    study_common.write_report(run.path(TABLE_FILE), study_table(record) + '\n')
    plot_study(record, run.workdir)
  run.close()
  return record


def summarize(bc_results: List[Dict[str, Any]], bco_results: List[Dict[str, Any]],
              ) -> Dict[str, Any]:
  """The study's figures from its runs' results (one per seed each): BC's success, and
  per BCO round the spread over seeds of its success, interactions and label errors."""
  alphas = {r['alpha'] for r in bco_results}
  if len(alphas) != 1:
    raise ValueError(f'BCO runs of different alphas: {sorted(alphas)}')
  return {
      'bc': {'success_rate': study_common.spread([r['success_rate'] for r in bc_results])},
      'bco': [_round_spread([r['rounds'][k] for r in bco_results], k)
              for k in range(min(len(r['rounds']) for r in bco_results))],
      'expert_success_rate': study_common.spread(
          [r['expert_success_rate'] for r in bc_results]),
      'alpha': alphas.pop(),
  }


def _round_spread(records: List[Dict[str, Any]], round_index: int) -> Dict[str, Any]:
  spread = {'round': round_index}
  for name in ROUND_FIGURES:
    values = [r.get(name) for r in records]
    spread[name] = None if any(v is None for v in values) else study_common.spread(values)
  return spread


def _mean_std(stat) -> str:
  return '-' if stat is None else f'{stat["mean"]:.3g} ± {stat["std"]:.2g}'


def study_table(results: Dict[str, Any]) -> str:
  """Markdown: BC with actions, then each BCO round, mean ± std over the seeds."""
  lines = [f'# {results["task"]}: BC vs BCO(alpha={results["alpha"]:g}), mean ± std over '
           f'seeds {results["seeds"]}', '',
           '| policy | actions in the demos | environment interactions | label MSE, held-out '
           'interactions | label MSE, demos | success |', '|---|---|---|---|---|---|',
           f'| BC | yes | 0 | - | - | {_mean_std(results["bc"]["success_rate"])} |']
  for point in results['bco']:
    name = 'BCO(0)' if point['round'] == 0 else f'BCO(alpha), round {point["round"]}'
    interactions = point['total_env_interactions']['mean']
    lines.append(f'| {name} | no | {interactions:.0f} | {_mean_std(point["inverse_heldout_mse"])}'
                 f' | {_mean_std(point["demo_label_mse"])} | '
                 f'{_mean_std(point["success_rate"])} |')
  lines.append(f'| expert | | | | | {_mean_std(results["expert_success_rate"])} |')
  return '\n'.join(lines)


def plot_study(results: Dict[str, Any], workdir: str) -> None:
  """interactions.png (success vs environment interactions) and labels.png (label error
  per round)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  points = results['bco']
  x = [p['total_env_interactions']['mean'] for p in points]
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.errorbar(x, [p['success_rate']['mean'] for p in points],
              yerr=[p['success_rate']['std'] for p in points], marker='o',
              label=f'BCO(alpha={results["alpha"]:g}) by round (round 0: BCO(0))')
  bc_success = results['bc']['success_rate']
  ax.axhline(bc_success['mean'], color='k', linestyle='--', label='BC with actions')
  ax.axhline(0.9 * bc_success['mean'], color='grey', linestyle=':', label='90% of BC')
  ax.set(xlabel='environment interactions', ylabel='success rate', title=results['task'])
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, 'interactions.png'), dpi=120)
  plt.close(fig)
  fig, ax = plt.subplots(figsize=(5, 3.5))
  rounds = [p['round'] for p in points]
  for name, label in (('inverse_heldout_mse', 'held-out interactions'),
                      ('demo_label_mse', 'demonstrations (real actions)')):
    if all(p[name] is not None for p in points):
      ax.errorbar(rounds, [p[name]['mean'] for p in points],
                  yerr=[p[name]['std'] for p in points], marker='o', label=label)
  ax.set(xlabel='BCO round (0: BCO(0))', ylabel='inverse model action MSE', yscale='log',
         title=results['task'], xticks=rounds)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, 'labels.png'), dpi=120)
  plt.close(fig)
