"""The expert as a run: collecting its demonstrations into an RLDS dataset.

The expert needs no training; its run rolls it out (`data.collect`), writes the episodes to
WORKDIR/demos and leaves results.json in the shared schema with the demonstrations' summary.
"""

import os
from typing import Any, Dict, Optional

from absl import logging
import ml_collections

from imitation.data import collect as collect_lib
from imitation.data import demonstrations
from imitation.data import rlds
from imitation.errors import ConfigError
from imitation.evaluation import acting
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import run as run_lib

ALGORITHM = 'expert'


def previous_policy(collect_config: ml_collections.ConfigDict
                    ) -> Optional[collect_lib.PolicyDemonstrator]:
  """(act fn, params) of the exported policy at `collect.policy_dir` (the mixture's
  `policy` demonstrator, acting by its mode), or None when no directory is set."""
  directory = collect_config.get('policy_dir', '')
  if not directory:
    return None
  if not os.path.exists(os.path.join(directory, checkpoint_lib.POLICY_CONFIG)):
    raise ConfigError(f'collect.policy_dir={directory}: no exported policy there '
                      f'({checkpoint_lib.POLICY_CONFIG} missing)')
  policy, params, _ = checkpoint_lib.load_policy(directory)
  return acting.make_act_fn(policy, deterministic=True), params


def collect(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Collects `config.collect.num_episodes` expert episodes into WORKDIR/demos.

  Returns what it writes to results.json: the schema's task, algorithm ('expert') and seed,
  then `dataset`, `num_demos`, `num_transitions`, the expert's `success_rate` and
  `mean_return` over the episodes, and `collect_time_s`.
  """
  run = run_lib.Run(config, workdir)
  path = run.path(demonstrations.DEFAULT_DEMOS_DIR)
  dataset = os.path.join(path, config.collect.dataset_name, config.collect.dataset_version)
  if rlds.dataset_exists(dataset):  # written whole before a kill or an earlier run ended
    logging.info('%s is complete: summarising it instead of collecting again', dataset)
    summary = collect_lib.summarize_dataset(config.env, config.collect, dataset)
  else:
    summary = collect_lib.collect_demonstrations(
        config.env, config.collect, path, policy=previous_policy(config.collect))
  results = run.write_results(
      ALGORITHM, dataset=summary['path'], num_demos=summary['num_episodes'],
      num_transitions=summary['num_transitions'], success_rate=summary['success_rate'],
      mean_return=summary['mean_return'], by_source=summary['by_source'],
      collect_time_s=summary['seconds'])
  run.close()
  return results
