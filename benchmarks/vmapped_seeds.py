"""K seeds as K sequential runs vs one vmapped run (`--config.num_seeds=K`), end to end.

  python -m benchmarks.vmapped_seeds                       # reach, K = 8
  python -m benchmarks.vmapped_seeds --num_seeds=3 --config=reach,debug --workdir=/tmp/b

Each variant is timed as a user runs it: a fresh `python -m experiments.train` process per
run (demo collection, compile, training, evaluation, export), with the default persistent
compilation cache. The sequential runs go first, so the vmapped run finds no fewer cached
programs than the sequential runs after the first. Prints both wall times, their ratio, the
seconds each spent in its update chunks (from the runs' metrics files) and each seed's
success rate under both, and writes them to WORKDIR/benchmark.json.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

from imitation.training import members
from imitation.training import metric_writer

_CONFIG = flags.DEFINE_string('config', 'reach', 'configs/bc.py argument: task or preset.')
_NUM_SEEDS = flags.DEFINE_integer('num_seeds', 8, 'Seeds (0 .. K-1).')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/vmapped_seeds_benchmark', 'Scratch directory.')
_OVERRIDES = flags.DEFINE_list('overrides', [], 'Extra --config.X=Y flags for every run.')


def _train(workdir: str, *overrides: str) -> float:
  """Seconds one `experiments.train` process takes, start to exit."""
  shutil.rmtree(workdir, ignore_errors=True)
  command = [sys.executable, '-m', 'experiments.train', f'--config=configs/bc.py:{_CONFIG.value}',
             f'--workdir={workdir}', '--config.progress_bar=False', *overrides,
             *[f'--config.{o}' for o in _OVERRIDES.value]]
  start = time.time()
  subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return time.time() - start


def _results(workdir: str):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


def _updates_s(workdir: str) -> float:
  """Seconds the run spent in its update chunks (compiles included, evaluation not): each
  logged chunk's updates over its updates/s, from the run's metrics file."""
  seconds, last_step = 0.0, 0
  with open(os.path.join(workdir, metric_writer.METRICS_FILE)) as f:
    for row in map(json.loads, f):
      if 'train/steps_per_second' in row:
        seconds += (row['step'] - last_step) / row['train/steps_per_second']
        last_step = row['step']
  return seconds


def main(argv):
  del argv
  k = _NUM_SEEDS.value
  sequential_s, sequential_updates_s, sequential = [], [], []
  for seed in range(k):
    workdir = os.path.join(_WORKDIR.value, f'seed_{seed}')
    sequential_s.append(_train(workdir, f'--config.seed={seed}'))
    sequential_updates_s.append(_updates_s(workdir))
    sequential.append(_results(workdir)['success_rate'])
    print(f'sequential seed {seed}: {sequential_s[-1]:.1f} s ({sequential_updates_s[-1]:.1f} s '
          f'in updates), success {sequential[-1]:.3f}')
  workdir = os.path.join(_WORKDIR.value, 'vmapped')
  vmapped_s = _train(workdir, f'--config.num_seeds={k}')
  vmapped_updates_s = _updates_s(workdir)
  results = _results(workdir)
  vmapped = [m['success_rate'] for m in results['seeds']]
  report = {
      'config': _CONFIG.value, 'num_seeds': k,
      'sequential_wall_s': sum(sequential_s), 'sequential_runs_s': sequential_s,
      'sequential_updates_s': sum(sequential_updates_s),
      'vmapped_wall_s': vmapped_s, 'vmapped_updates_s': vmapped_updates_s,
      'ratio': vmapped_s / sum(sequential_s),
      'updates_ratio': vmapped_updates_s / sum(sequential_updates_s),
      'sequential_success': sequential, 'vmapped_success': vmapped,
      'sequential_spread': members.spread(sequential), 'vmapped_spread': members.spread(vmapped),
  }
  with open(os.path.join(_WORKDIR.value, 'benchmark.json'), 'w') as f:
    json.dump(report, f, indent=1)
  print(f'{k} sequential runs: {sum(sequential_s):.0f} s, {sum(sequential_updates_s):.0f} s in '
        f'updates; one vmapped run: {vmapped_s:.0f} s, {vmapped_updates_s:.0f} s in updates '
        f'(ratio {report["ratio"]:.2f}, updates {report["updates_ratio"]:.2f})')
  for name in ('sequential', 'vmapped'):
    spread = report[f'{name}_spread']
    print(f'{name:10s} success {spread["mean"]:.3f} +- {spread["ci95"]:.3f} (95% CI), '
          f'per seed {" ".join(f"{s:.3f}" for s in report[f"{name}_success"])}')


if __name__ == '__main__':
  app.run(main)
