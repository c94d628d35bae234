"""Short human-readable tables of results.json contents."""

from typing import Any, Dict


def expert_vs_learner_table(results: Dict[str, Any]) -> str:
  """Expert vs learner success and return on the same evaluation episodes."""
  learner = results['algorithm'].upper()
  rows = [
      ('policy', 'success rate', 'mean return'),
      ('expert', f'{results["expert_success_rate"]:.3f}', f'{results["expert_mean_return"]:.2f}'),
      (learner, f'{results["success_rate"]:.3f}', f'{results["mean_return"]:.2f}'),
  ]
  widths = [max(len(row[i]) for row in rows) for i in range(3)]
  lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  header = (
      f'{results["task"]}: {learner} from {results["num_demos"]} demos '
      f'({results["num_transitions"]} transitions), {results["steps"]} steps, '
      f'{results["num_eval_episodes"]} eval episodes, {results["wall_time_s"]:.0f} s'
  )
  return '\n'.join([header] + lines)
