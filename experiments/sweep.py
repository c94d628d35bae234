r"""Run a sweep (a grid or list of overrides x seeds) on Ray Tune and tabulate it.

  python -m experiments.sweep --config=configs/bc.py:reach --sweep=configs/sweeps/reach_lr.json \
      --workdir=/tmp/sweep_reach_lr

Every trial is an ordinary run of the base config with its overrides, in
WORKDIR/trials/<cell>/<seeds>; a cell's consecutive seeds train as one vmapped run
(`num_seeds`; --noshare_seeds runs one process per seed). Rerunning skips finished trials and
resumes stopped ones from their checkpoints. Local Ray by default; `--address=auto` (or
HOST:PORT) joins a cluster whose nodes see this checkout at the same path and WORKDIR on a
shared filesystem. Writes WORKDIR/sweep.csv, sweep.md and sweep.png (imitation/studies/sweep.py).
"""

import os

from absl import flags

from experiments import common

_SWEEP = flags.DEFINE_string('sweep', None, 'Sweep file (JSON): grid or list, and seeds.')
_ADDRESS = flags.DEFINE_string('address', '', "Ray cluster address ('auto', HOST:PORT); "
                               'empty starts a local Ray instance.')
_CPUS = flags.DEFINE_float('cpus_per_trial', 2.0, 'CPUs Ray reserves for each trial.')
_GPUS = flags.DEFINE_float('gpus_per_trial', 0.0, 'GPUs Ray reserves for each trial.')
_SHARE_SEEDS = flags.DEFINE_bool('share_seeds', True, "Train a cell's consecutive seeds as "
                                 'members of one vmapped run.')


def train(config, workdir):
  """One trial, in a Ray worker: the config's trainer, as experiments.train runs it."""
  from imitation import agents  # pylint: disable=g-import-not-at-top
  common.quiet_third_party_logs()
  return agents.train(config, workdir)


def run_sweep(config, workdir):
  from imitation.studies import sweep  # pylint: disable=g-import-not-at-top
  spec = sweep.read_sweep(_SWEEP.value)
  trials = sweep.make_trials(config, spec, workdir, share_seeds=_SHARE_SEEDS.value)
  sweep.run_trials(trials, train, storage=os.path.join(workdir, 'ray'), address=_ADDRESS.value,
                   cpus_per_trial=_CPUS.value, gpus_per_trial=_GPUS.value)
  rows = sweep.aggregate(trials)
  paths = sweep.write_outputs(rows, workdir, spec)
  with open(paths[sweep.TABLE_FILE]) as f:
    print(f.read())
  print(f'{len(rows)} runs: {", ".join(paths.values())}')


def main():
  flags.mark_flag_as_required('sweep')
  common.run(run_sweep, doc=__doc__, config_file='configs/bc.py',
             flag_names=('sweep', 'address', 'cpus_per_trial', 'gpus_per_trial', 'share_seeds'))


if __name__ == '__main__':
  main()
