"""DAgger's wall time and collection-phase throughput on a default run.

  python -m benchmarks.dagger_rounds                      # drive, 5 rounds (0-4), classic
  python -m benchmarks.dagger_rounds --repeats=2 --workdir=/tmp/dagger_bench
  python -m benchmarks.dagger_rounds --compilation_cache=   # no persistent cache

Runs `dagger.train` on `configs/dagger.py:TASK` in a fresh workdir, `--repeats` times in one
process with the persistent compilation cache on (the last repeat is the warm figure), and
times each round's collection phase: the learner rollout, the expert's labels, turning
them into episodes and handing them to the dataset (whatever of the RLDS append is still
on the critical path). Steady state: the rounds after the first collection, whose rollout
is already compiled. Prints the figures and writes WORKDIR/benchmark.json.
"""

import json
import os
import shutil
import time

from absl import app
from absl import flags
import numpy as np

from configs import dagger as dagger_config
from experiments import common
from imitation.agents import dagger

_TASK = flags.DEFINE_string('task', 'drive', 'configs/dagger.py argument.')
_REPEATS = flags.DEFINE_integer('repeats', 2, 'Runs, each in a fresh workdir.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/dagger_rounds_benchmark', 'Scratch directory.')
_CACHE = flags.DEFINE_string('compilation_cache', None,
                             'Persistent compilation cache (default: the entry points\' own; '
                             'empty: off, as before the cache existed).')


def main(argv):
  del argv
  common.quiet_third_party_logs()
  cache = _CACHE.value
  if cache is None:
    cache = getattr(common, 'DEFAULT_COMPILATION_CACHE', '')
  if cache:
    common.use_compilation_cache(cache)
  phases = []
  collect_round = dagger._collect_round  # pylint: disable=protected-access

  def timed_collect_round(*args, **kwargs):
    start = time.perf_counter()
    out = collect_round(*args, **kwargs)
    pending = out[0] if isinstance(out, tuple) else out
    phases.append((time.perf_counter() - start, pending['expert_labels']))
    return out

  dagger._collect_round = timed_collect_round  # pylint: disable=protected-access
  runs = []
  for repeat in range(_REPEATS.value):
    config = dagger_config.get_config(_TASK.value)
    config.progress_bar = False
    workdir = os.path.join(_WORKDIR.value, f'run_{repeat}')
    shutil.rmtree(workdir, ignore_errors=True)
    phases.clear()
    start = time.perf_counter()
    results = dagger.train(config, workdir)
    wall = time.perf_counter() - start
    steady = phases[1:]
    runs.append({
        'wall_s': wall, 'success_rate': results['success_rate'],
        'collect_s': [p[0] for p in phases], 'labels': [p[1] for p in phases],
        'steady_labels_per_s': (sum(p[1] for p in steady) / sum(p[0] for p in steady)
                                if steady else float('nan')),
        'first_collect_s': phases[0][0],
    })
    print(f'run {repeat}: {wall:.1f} s, success {results["success_rate"]:.3f}, '
          f'collection phases {" ".join(f"{p[0]:.3f}" for p in phases)} s for '
          f'{phases[0][1]} labels each; steady state {runs[-1]["steady_labels_per_s"]:,.0f} '
          f'labels/s')
  report = {'task': _TASK.value, 'compilation_cache': cache, 'runs': runs,
            'median_steady_labels_per_s': float(np.median([r['steady_labels_per_s']
                                                           for r in runs]))}
  with open(os.path.join(_WORKDIR.value, 'benchmark.json'), 'w') as f:
    json.dump(report, f, indent=1)


if __name__ == '__main__':
  app.run(main)
