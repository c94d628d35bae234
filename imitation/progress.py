"""Progress of a run's long phases on stderr (tqdm): collecting, writing datasets, training,
evaluating, DAgger rounds, rendering videos.

One switch for all of them: the run frame turns it off for `config.progress_bar=False`
and on every process but the writer of a multi-host run.
"""

import contextlib
from typing import Iterator, Optional

import tqdm

_ENABLED = [True]


def set_enabled(enabled: bool) -> None:
  _ENABLED[0] = bool(enabled)


def enabled() -> bool:
  return _ENABLED[0]


def bar(total: Optional[int] = None, desc: str = '', unit: str = 'it', disable: bool = False,
        **kwargs) -> tqdm.tqdm:
  """A tqdm bar (a no-op while progress is off, or when `disable`)."""
  return tqdm.tqdm(total=total, desc=desc, unit=unit, disable=disable or not enabled(),
                   dynamic_ncols=True, **kwargs)


@contextlib.contextmanager
def task(desc: str, count: int, unit: str, leave: bool = True) -> Iterator[tqdm.tqdm]:
  """A phase done in one compiled call (an evaluation, a video's rollout): its bar stands at
  0 while the call runs and completes with the rate when the block ends."""
  progress = bar(total=count, desc=desc, unit=unit, leave=leave)
  try:
    yield progress
    progress.update(count - progress.n)
  finally:
    progress.close()
