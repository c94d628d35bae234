"""Short human-readable tables of results.json contents."""

from typing import Any, Dict, Optional


def expert_vs_learner_table(
    results: Dict[str, Any], label: Optional[str] = None, header: Optional[str] = None
) -> str:
  """Expert vs learner success and return on the same evaluation episodes.

  Args:
    results: a results.json (or evaluation.json) dict.
    label: the learner's row name (default: the algorithm, upper-case).
    header: the line above the table (default: a summary of a training run).
  """
  label = label or results['algorithm'].upper()
  if header is None:
    header = (
        f'{results["task"]}: {label} from {results["num_demos"]} demos '
        f'({results["num_transitions"]} transitions), {results["steps"]} steps, '
        f'{results["num_eval_episodes"]} eval episodes, {results["wall_time_s"]:.0f} s'
    )
  rows = [
      ('policy', 'success rate', 'mean return'),
      ('expert', f'{results["expert_success_rate"]:.3f}', f'{results["expert_mean_return"]:.2f}'),
      (label, f'{results["success_rate"]:.3f}', f'{results["mean_return"]:.2f}'),
  ]
  widths = [max(len(row[i]) for row in rows) for i in range(3)]
  lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join([header] + lines)


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
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join([header] + lines)
