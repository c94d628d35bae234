"""Quality filters: which episodes training keeps, by source or by a stored quality score.

The scores are computed once (evaluation/quality.py, `experiments/diagnose.py`) and stored
next to the dataset as `quality_scores.json`; `data.filter` then drops episodes by them:

  sources    keep only episodes whose recorded demonstrator is listed (e.g. ('expert',)).
  score      a score name; with rule `flagged` the episodes that score flagged are dropped,
             with `threshold` those worse than `threshold`, with `quantile` the worst
             `quantile` share.
"""

import json
import os
from typing import Any, Dict, Mapping, Optional, Set

import numpy as np

from imitation import config_rules as rules
from imitation.errors import ConfigError, DatasetError

SCORES_FILE = 'quality_scores.json'
RULES = ('flagged', 'threshold', 'quantile')
# Scores where a high value is good (the rest: high is bad).
HIGH_IS_GOOD = ('replay_success', 'replay_return')


def badness(score: str, values: Any) -> np.ndarray:
  """The score's values oriented so that higher is worse."""
  values = np.asarray(values, np.float64)
  return -values if score in HIGH_IS_GOOD else values


def scores_path(dataset_dir: str) -> str:
  """Where a dataset's scores are: in its directory, or beside a one-file dataset (HDF5)."""
  if os.path.isfile(dataset_dir):
    return f'{dataset_dir}.{SCORES_FILE}'
  return os.path.join(dataset_dir, SCORES_FILE)


def write_scores(dataset_dir: str, scores: Mapping[str, Any]) -> str:
  """Writes the scores next to the dataset (whole, via a temporary file)."""
  path = scores_path(dataset_dir)
  with open(path + '.tmp', 'w') as f:
    json.dump(scores, f, indent=1)
  os.replace(path + '.tmp', path)
  return path


def dropped_episodes(scores: Mapping[str, Any], score: str, rule: str,
                     threshold: float, quantile: float) -> Set[int]:
  """The `episode_index`es the score filter drops (see the module docstring)."""
  if rule not in RULES:
    raise ConfigError(f'data.filter.rule={rule!r}: expected one of {RULES}')
  rows = scores['episodes']
  if not rows or score not in rows[0] and rule != 'flagged':
    known = sorted(k for k in (rows[0] if rows else {}) if k not in
                   ('episode_index', 'source', 'flagged_by'))
    raise ConfigError(f'data.filter.score={score!r} is not in the stored scores ({known})')
  if rule == 'flagged':
    return {r['episode_index'] for r in rows if score in r['flagged_by']}
  values = np.array([r[score] for r in rows], np.float64)
  worse = badness(score, values)
  if rule == 'threshold':
    drop = worse > badness(score, threshold)
  else:  # quantile, in [0, 1) (its declared rule below)
    drop = np.zeros(len(rows), bool)
    drop[np.argsort(-worse, kind='stable')[:int(round(quantile * len(rows)))]] = True
  return {r['episode_index'] for r, d in zip(rows, drop) if d}


class EpisodeFilter:
  """`data.filter` for one dataset: `keep(episode)` says whether training uses it."""

  def __init__(self, section: Optional[Mapping[str, Any]], dataset_dir: str):
    section = dict(section or {})
    self.sources = tuple(section.get('sources', ()))
    self.dropped: Set[int] = set()
    score = section.get('score', '')
    if score:
      path = section.get('scores_path') or scores_path(dataset_dir)
      if not os.path.exists(path):
        raise DatasetError(f'data.filter.score={score!r} needs quality scores at {path}: '
                           'run experiments/diagnose.py on the dataset first')
      with open(path) as f:
        scores = json.load(f)
      self.dropped = dropped_episodes(scores, score, section.get('rule', 'flagged'),
                                      section.get('threshold', 0.0),
                                      section.get('quantile', 0.0))

  @property
  def active(self) -> bool:
    return bool(self.sources or self.dropped)

  def keep(self, episode: Mapping[str, Any]) -> bool:
    metadata = episode.get('episode_metadata', {})
    if self.sources and metadata.get('source') not in self.sources:
      return False
    return int(metadata.get('episode_index', -1)) not in self.dropped

  def describe(self) -> Dict[str, Any]:
    return {'sources': list(self.sources), 'dropped_by_score': len(self.dropped)}


CONFIG_RULES = {
    'data.filter.rule': rules.one_of(RULES),
    'data.filter.quantile': rules.fraction(high_open=True),
}
