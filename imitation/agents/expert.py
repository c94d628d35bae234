"""The expert as a run: collecting its demonstrations into an RLDS dataset.

The expert needs no training; its run rolls it out (`data.collect`), writes the episodes to
WORKDIR/demos and leaves results.json in the shared schema with the demonstrations' summary.
"""

from typing import Any, Dict

import ml_collections

from imitation.data import collect as collect_lib
from imitation.data import demonstrations
from imitation.training import run as run_lib

ALGORITHM = 'expert'


def collect(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Collects `config.collect.num_episodes` expert episodes into WORKDIR/demos.

  Returns what it writes to results.json: the schema's task, algorithm ('expert') and seed,
  then `dataset`, `num_demos`, `num_transitions`, the expert's `success_rate` and
  `mean_return` over the episodes, and `collect_time_s`.
  """
  run = run_lib.Run(config, workdir)
  summary = collect_lib.collect_demonstrations(
      config.env, config.collect, run.path(demonstrations.DEFAULT_DEMOS_DIR))
  results = run.write_results(
      ALGORITHM, dataset=summary['path'], num_demos=summary['num_episodes'],
      num_transitions=summary['num_transitions'], success_rate=summary['success_rate'],
      mean_return=summary['mean_return'], collect_time_s=summary['seconds'])
  run.close()
  return results
