"""Short human-readable tables of results.json contents."""

import os
from typing import Any, Dict, List, Optional, Tuple

from imitation import atomic


def _text_table(header: str, rows: List[Tuple[str, ...]]) -> str:
  """`header`, then `rows` in left-aligned columns, a dashed rule under the first row."""
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join([header] + lines)


def expert_vs_learner_table(
    results: Dict[str, Any], label: Optional[str] = None, header: Optional[str] = None
) -> str:
  """Expert vs learner success and return on the same evaluation episodes.

  Args:
    results: a results.json dict (of a training run or an evaluation).
    label: the learner's row name (default: the algorithm, upper-case).
    header: the line above the table (default: a summary of a training run).
  """
  label = label or results['algorithm'].upper()
  if results.get('success_rate') is None and 'r2' in results:
    return offline_table(results, label)
  if header is None:
    header = (
        f'{results["task"]}: {label} from {results["num_demos"]} demos '
        f'({results["num_transitions"]} transitions), {results["steps"]} steps, '
        f'{results["num_eval_episodes"]} eval episodes, {results["wall_time_s"]:.0f} s'
    )
  def cell(name, digits):
    """A figure, with its 95% interval over members when the run had several."""
    interval = results.get(f'{name}_ci95')
    return f'{results[name]:.{digits}f}' + ('' if interval is None else f' +- {interval:.{digits}f}')

  rows = [
      ('policy', 'success rate', 'mean return'),
      ('expert', cell('expert_success_rate', 3), cell('expert_mean_return', 2)),
      (label, cell('success_rate', 3), cell('mean_return', 2)),
  ]
  if results.get('num_members'):
    header += f'\n{results["num_members"]} members in one program: mean +- 95% interval'
  table = _text_table(header, rows)
  if results.get('seeds'):
    table += '\n\n' + _text_table('per member:', [('member', 'seed', 'success rate')] + [
        (','.join(f'{k}={v:g}' for k, v in m.items() if k.startswith('optimizer.')) or '-',
         str(m['seed']), f'{m["success_rate"]:.3f}') for m in results['seeds']])
  if results.get('per_task'):
    table += '\n\n' + per_task_table(results['per_task'], label)
  if results.get('held_out'):
    held_out = results['held_out']
    table += (f'\n\nheld-out task combinations ({held_out["num_eval_episodes"]} episodes): '
              f'{label} {held_out["success_rate"]:.3f}, expert {held_out["expert_success_rate"]:.3f}')
  return table


def offline_table(results: Dict[str, Any], label: str) -> str:
  """A run without an environment: held-out action error and R^2 per action dimension."""
  header = (f'{label} from {results["num_demos"]} demos ({results["num_transitions"]} '
            f'transitions), {results["steps"]} steps, scored on '
            f'{results["num_heldout_demos"]} held-out episodes '
            f'({results["num_heldout_transitions"]} transitions), '
            f'{results["wall_time_s"]:.0f} s')

  def figure(value, digits=4):
    return '-' if value is None else f'{value:.{digits}f}'

  rows = [('action dim', 'held-out MSE', 'R^2')]
  for dim, (mse, r2) in enumerate(zip(results['heldout_action_mse_per_dim'],
                                      results['r2_per_dim'])):
    rows.append((str(dim), figure(mse), figure(r2, 3)))
  rows.append(('mean', figure(results['heldout_action_mse']), figure(results['r2'], 3)))
  return _text_table(header, rows) + f'\n{results["closed_loop"]}'


def per_task_table(per_task: Dict[Any, Dict[str, Any]], label: str) -> str:
  """Per task: episodes, the expert's and the learner's success, the learner's return."""
  rows = [('task', 'episodes', 'expert success', f'{label} success', f'{label} return')]
  for task, stats in per_task.items():
    rows.append((str(task), str(stats['num_episodes']), f'{stats["expert_success_rate"]:.3f}',
                 f'{stats["success_rate"]:.3f}', f'{stats["mean_return"]:.2f}'))
  return _text_table('per task:', rows)


def dagger_rounds_table(results: Dict[str, Any]) -> str:
  """Per round: beta, labels, interventions and env steps (this round, and in total), success."""
  header = (f'{results["task"]}: DAgger ({results["variant"]}), seed {results["seed"]}, '
            f'expert success {results["expert_success_rate"]:.3f}, '
            f'{results["wall_time_s"]:.0f} s')
  rows = [('round', 'beta', 'labels', 'total labels', 'interventions', 'env steps', 'success')]
  for r in results['rounds']:
    rows.append((str(r['round']), f'{r["beta"]:.3f}', str(r['expert_labels']),
                 str(r['total_expert_labels']), str(r['total_interventions']),
                 str(r['total_env_steps']), f'{r["success_rate"]:.3f}'))
  return _text_table(header, rows)


def bco_rounds_table(results: Dict[str, Any]) -> str:
  """Per round: environment interactions (this round, in total), the inverse model's label
  error (held-out interactions; the demonstrations, where their actions are known), success."""
  header = (f'{results["task"]}: BCO(alpha={results["alpha"]:g}), seed {results["seed"]}, '
            f'expert success {results["expert_success_rate"]:.3f}, '
            f'{results["wall_time_s"]:.0f} s')
  rows = [('round', 'interactions', 'total interactions', 'held-out label mse',
           'demo label mse', 'success')]

  def error(value):
    return '-' if value is None else f'{value:.4f}'

  for r in results['rounds']:
    rows.append((str(r['round']), str(r['env_interactions']), str(r['total_env_interactions']),
                 error(r.get('inverse_heldout_mse')), error(r.get('demo_label_mse')),
                 f'{r["success_rate"]:.3f}'))
  return _text_table(header, rows)


def _format_mean_std(stat: Dict[str, float]) -> str:
  return f'{stat["mean"]:.3f} ± {stat["std"]:.3f}'


def study_table(summary: Dict[str, Any]) -> str:
  """The compounding-error study's markdown table: BC by demos, DAgger by round, expert."""
  lines = [f'# {summary["task"]}: BC vs DAgger, mean ± std over seeds {summary["seeds"]}', '',
           '| policy | expert labels | interventions | success |', '|---|---|---|---|']
  for point in summary['labels']['bc']:
    lines.append(f'| BC, {point["num_demos"]} demos | {point["expert_labels"]["mean"]:.0f} '
                 f'| - | {_format_mean_std(point["success_rate"])} |')
  for variant, points in summary['labels'].items():
    if variant == 'bc':
      continue
    for point in points[1:]:
      lines.append(
          f'| DAgger {variant}, round {point["round"]} | {point["expert_labels"]["mean"]:.0f} '
          f'| {point["interventions"]["mean"]:.0f} | {_format_mean_std(point["success_rate"])} |')
  lines.append(f'| expert | - | - | {_format_mean_std(summary["expert_success_rate"])} |')
  return '\n'.join(lines)


def plot_study(summary: Dict[str, Any], workdir: str, horizons: List[int]) -> None:
  """labels.png, drift.png and horizon.png of the compounding-error study."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  task = summary['task']

  def save(fig, ax, name, xlabel, ylabel, title):
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f'{task}: {title}')
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic.save_figure(fig, os.path.join(workdir, name))
    plt.close(fig)

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for name, points in summary['labels'].items():
    ax.errorbar([p['expert_labels']['mean'] for p in points],
                [p['success_rate']['mean'] for p in points],
                yerr=[p['success_rate']['std'] for p in points], marker='o', capsize=3,
                label='BC (more demos)' if name == 'bc' else f'DAgger ({name})')
  ax.axhline(summary['expert_success_rate']['mean'], color='k', ls='--', lw=1, label='expert')
  save(fig, ax, 'labels.png', 'expert labels', 'success rate', 'success vs labels')

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for name, values in summary['drift'].items():
    ax.plot(values['distance_mean'], label=name)
  save(fig, ax, 'drift.png', 'time step', 'distance to nearest demo state (std units)',
       "drift from the expert's states")

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for name, values in summary['horizon'].items():
    ax.errorbar(horizons, [values[h]['mean'] for h in horizons],
                yerr=[values[h]['std'] for h in horizons], marker='o', capsize=3, label=name)
  save(fig, ax, 'horizon.png', 'horizon (steps)', 'success rate', 'success vs horizon')
