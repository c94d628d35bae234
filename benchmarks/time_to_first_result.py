"""Where the quickstart's wall time goes: compiling vs everything else, cold and warm cache.

  python -m benchmarks.time_to_first_result                  # the quickstart, twice
  python -m benchmarks.time_to_first_result --config=reach,debug --repeats=3

Runs `experiments.train`'s job on `configs/bc.py:CONFIG` in a fresh workdir `--repeats`
times, each in a fresh Python process (as a user reruns the command), with the persistent
compilation cache in `--cache_dir` (emptied before the first run, so run 0 is cold and the
later ones warm). Inside each process JAX's own event listeners time tracing to jaxpr,
lowering to MLIR and compiling (or fetching from the cache); "compiling" is the wall time
covered by any of them, counted once (a function traced inside another reports its own
trace too, so the per-stage sums overlap); the rest is collection, training, evaluation
and I/O. Prints one line per run and writes
WORKDIR/benchmark.json.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

_CONFIG = flags.DEFINE_string('config', 'reach', 'configs/bc.py argument.')
_REPEATS = flags.DEFINE_integer('repeats', 2, 'Runs; the first with an empty cache.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/time_to_first_result', 'Scratch directory.')
_CACHE = flags.DEFINE_string('cache_dir', '/tmp/time_to_first_result/jax_cache',
                             'Persistent compilation cache for these runs (emptied first).')
_CHILD = flags.DEFINE_string('child', '', 'Internal: run one training in this workdir.')

# JAX's duration events for the stages of turning a function into an executable.
COMPILE_EVENTS = {
    '/jax/core/compile/jaxpr_trace_duration': 'trace_s',
    '/jax/core/compile/jaxpr_to_mlir_module_duration': 'lower_s',
    '/jax/core/compile/backend_compile_duration': 'compile_s',
}


def _child(workdir: str) -> None:
  """One quickstart run in this process, reporting its compile split as JSON on stdout."""
  import jax  # pylint: disable=g-import-not-at-top
  totals = dict.fromkeys(COMPILE_EVENTS.values(), 0.0)
  intervals = []

  def listener(event, duration, **_):
    if event in COMPILE_EVENTS:
      totals[COMPILE_EVENTS[event]] += duration
      end = time.perf_counter()
      intervals.append((end - duration, end))

  jax.monitoring.register_event_duration_secs_listener(listener)
  from configs import bc as bc_config  # pylint: disable=g-import-not-at-top
  from experiments import common  # pylint: disable=g-import-not-at-top
  from imitation.agents import bc  # pylint: disable=g-import-not-at-top
  common.use_compilation_cache(_CACHE.value)
  config = bc_config.get_config(_CONFIG.value)
  config.progress_bar = False
  start = time.perf_counter()
  results = bc.train(config, workdir)
  # A jitted function traced inside another reports its own trace too: count the wall time
  # covered by any of the stages once (the union of their intervals).
  covered, last_end = 0.0, float('-inf')
  for begin, end in sorted(intervals):
    covered += max(0.0, end - max(begin, last_end))
    last_end = max(last_end, end)
  print(json.dumps({'train_s': time.perf_counter() - start, **totals, 'compiling_s': covered,
                    'success_rate': results['success_rate']}))


def main(argv):
  del argv
  if _CHILD.value:
    _child(_CHILD.value)
    return
  shutil.rmtree(_CACHE.value, ignore_errors=True)
  runs = []
  for repeat in range(_REPEATS.value):
    workdir = os.path.join(_WORKDIR.value, f'run_{repeat}')
    shutil.rmtree(workdir, ignore_errors=True)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, '-m', 'benchmarks.time_to_first_result', f'--child={workdir}',
         f'--config={_CONFIG.value}', f'--cache_dir={_CACHE.value}'],
        check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    run = {'wall_s': wall, **json.loads(out.stdout.strip().splitlines()[-1])}
    run['compiling_share'] = run['compiling_s'] / wall
    runs.append(run)
    print(f'run {repeat} ({"cold" if repeat == 0 else "warm"} cache): {wall:.1f} s wall '
          f'({run["train_s"]:.1f} s in train), compiling {run["compiling_s"]:.1f} s = '
          f'{100 * run["compiling_share"]:.0f}% (stage sums: trace {run["trace_s"]:.1f}, lower '
          f'{run["lower_s"]:.1f}, compile or cache fetch {run["compile_s"]:.1f})')
  with open(os.path.join(_WORKDIR.value, 'benchmark.json'), 'w') as f:
    json.dump({'config': _CONFIG.value, 'runs': runs}, f, indent=1)


if __name__ == '__main__':
  app.run(main)
