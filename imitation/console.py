"""Console output for entry points: our own INFO logs, other libraries' warnings only."""

import logging
import os

from absl import logging as absl_logging

_PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OUR_DIRS = tuple(
    os.path.join(_PROJECT_DIR, name) + os.sep
    for name in ('imitation', 'experiments', 'configs', 'benchmarks')
)


def _is_ours(record: logging.LogRecord) -> bool:
  return record.levelno >= logging.WARNING or record.pathname.startswith(_OUR_DIRS)


def quiet_third_party_logs() -> None:
  """Orbax, TFDS and XLA log every file they touch at INFO, drowning the run's own lines."""
  absl_logging.get_absl_handler().addFilter(_is_ours)
