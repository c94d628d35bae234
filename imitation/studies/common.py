"""What studies (experiments made of many runs) share: a run's config at a seed, finished-run
lookup, the spread over seeds, and whole-or-absent writes of their reports."""

import json
import os
from typing import Any, Dict, Optional

import ml_collections

from imitation import atomic
from imitation.training import members as members_lib
from imitation.training import run as run_lib

# The spread over seeds every study reports: mean, sample std (ddof=1), 95% interval, n.
spread = members_lib.spread


def run_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  """The study config for one of its runs at `seed`: the study section gone, no bars."""
  cfg = members_lib.config_at_seed(config, seed)
  cfg.progress_bar = False
  with cfg.unlocked():  # the command line's config is locked against new or removed keys
    del cfg['study']
  return cfg


def write_report(path: str, text: str) -> str:
  """A study's markdown report, written whole or not at all."""
  return atomic.write_text(path, text)


def finished(workdir: str) -> Optional[Dict[str, Any]]:
  """The results of the run in `workdir` if it finished (so a stopped study resumes)."""
  path = os.path.join(workdir, run_lib.RESULTS_FILE)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return None
