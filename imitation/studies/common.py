"""What studies (experiments made of many runs) share: finished-run lookup and seed spread."""

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from imitation.training import run as run_lib


def finished(workdir: str) -> Optional[Dict[str, Any]]:
  """The results of the run in `workdir` if it finished (so a stopped study resumes)."""
  path = os.path.join(workdir, run_lib.RESULTS_FILE)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return None


def mean_std(values: List[float]) -> Dict[str, float]:
  """Mean and (population) std over seeds, and how many there were."""
  return {'mean': float(np.mean(values)), 'std': float(np.std(values)), 'n': len(values)}
