"""What agents that work in rounds (DAgger, BCO) share: the progress file a stopped run
resumes from, and closing a round with the running totals of its budget."""

import json
import os
from typing import Any, Dict, Sequence


def read_progress(workdir: str, filename: str, collected_round: int) -> Dict[str, Any]:
  """The progress in `workdir/filename`, or a fresh one: no round completed, rounds up to
  `collected_round` collected (DAgger's round 0 is the demos; BCO collects its own)."""
  path = os.path.join(workdir, filename)
  if not os.path.exists(path):
    return {'completed_round': -1, 'collected_round': collected_round, 'rounds': [],
            'pending': None}
  with open(path) as f:
    return json.load(f)


def close_round(progress: Dict[str, Any], round_index: int, record: Dict[str, Any],
                totals: Sequence[str]) -> Dict[str, Any]:
  """Records round `round_index` in `progress` with `total_KEY`, the sum over rounds so far,
  for each of `totals`; returns the record."""
  previous = progress['rounds'][-1] if progress['rounds'] else {}
  for key in totals:
    record[f'total_{key}'] = previous.get(f'total_{key}', 0) + record[key]
  progress['rounds'].append(record)
  progress['completed_round'] = round_index
  progress['pending'] = None
  return record
