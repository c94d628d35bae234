"""Sweeps: many runs of one base config, scheduled by Ray Tune, gathered into one table.

A sweep file (JSON) names the runs: a `grid` (every combination of the listed values) or a
`list` of override sets, times `seeds`:

    {"grid": {"optimizer.learning_rate": [3e-3, 1e-3, 3e-4]}, "seeds": [0, 1, 2]}
    {"list": [{"network.head": "gaussian"}, {"network.head": "mixture"}], "seeds": [0, 1]}

Each trial is a normal run (the base config with its overrides) in its own workdir,
WORKDIR/trials/<cell>/seed_<s>, so the files a sweep leaves are those of ordinary runs. With
`share_seeds` (the default), a cell's consecutive seeds become one trial trained as vmapped
members (`num_seeds`, training/members.py): one program for the cell's seeds.

Ray Tune (a local Ray instance, or a cluster given its address) runs the trials with the CPUs
and GPUs each asks for. A trial whose workdir holds results.json is finished and not
submitted again; one stopped midway resumes from its own checkpoints. `aggregate` then
reads every trial's results.json into rows; `write_outputs` writes them as sweep.csv,
sweep.md (mean +- 95% interval per cell) and sweep.png.
"""

import csv
import dataclasses
import itertools
import json
import os
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from absl import logging
import ml_collections

from imitation import config_rules as rules
from imitation import atomic
from imitation.errors import ConfigError
from imitation.studies import common as study_common
from imitation.training import members as members_lib
from imitation.training import run as run_lib
from imitation.training import workdir as workdir_lib

CSV_FILE = 'sweep.csv'
TABLE_FILE = 'sweep.md'
PLOT_FILE = 'sweep.png'
TRIALS_DIR = 'trials'
# The per-run figures the CSV carries (those a run's results.json has).
COLUMNS = ('success_rate', 'expert_success_rate', 'mean_return', 'closed_loop_action_mse',
           'heldout_action_mse', 'num_demos', 'steps')


@dataclasses.dataclass
class Trial:
  """One run of the sweep: its cell (overrides), seeds, config and workdir."""
  cell: Tuple[Tuple[str, Any], ...]  # ((config name, value),) of the cell
  seeds: Tuple[int, ...]  # one, or several trained as members
  config: ml_collections.ConfigDict
  workdir: str

  @property
  def name(self) -> str:
    seeds = (f'seed_{self.seeds[0]}' if len(self.seeds) == 1
             else f'seeds_{self.seeds[0]}-{self.seeds[-1]}')
    return f'{cell_name(self.cell)}/{seeds}'


def cell_name(cell: Sequence[Tuple[str, Any]]) -> str:
  """`learning_rate=0.001,head=mixture`: the cell's overrides, by their last name part."""
  return ','.join(f'{name.rpartition(".")[2]}={_format(value)}' for name, value in cell) or 'base'


def _format(value: Any) -> str:
  return f'{value:g}' if isinstance(value, float) else str(value).replace('/', '_')


def read_sweep(path: str) -> Dict[str, Any]:
  """The sweep file at `path` (JSON), checked: its cells and seeds. A missing or malformed
  file, or a value of the wrong type, is a one-line ConfigError naming the file."""
  if not path:
    raise ConfigError('--sweep must name a sweep file (JSON: "grid" or "list", and "seeds")')
  try:
    with open(path) as f:
      spec = json.load(f)
  except OSError as e:
    raise ConfigError(f'--sweep={path}: {e.strerror}') from None
  except json.JSONDecodeError as e:
    raise ConfigError(f'{path}: not JSON: {e.msg} at line {e.lineno} column {e.colno}'
                      ) from None
  if not isinstance(spec, dict):
    raise ConfigError(f'{path}: a sweep is a JSON object with "grid" or "list" and "seeds", '
                      f'not a {type(spec).__name__}')
  unknown = set(spec) - {'grid', 'list', 'seeds'}
  if unknown or ('grid' in spec) == ('list' in spec):
    raise ConfigError(f'{path}: a sweep has "grid" or "list" (not both) and "seeds"; '
                      f'unknown keys {sorted(unknown)}')
  if 'grid' in spec:
    grid = spec['grid']
    if not isinstance(grid, dict) or not all(
        isinstance(v, list) and v for v in grid.values()):
      raise ConfigError(f'{path}: "grid" maps each config key to a non-empty list of values, '
                        f'got {json.dumps(grid)[:80]}')
    cells = [tuple(zip(grid, values)) for values in itertools.product(*grid.values())]
  else:
    if not isinstance(spec['list'], list) or not all(
        isinstance(o, dict) for o in spec['list']):
      raise ConfigError(f'{path}: "list" is a list of objects (config key -> value), got '
                        f'{json.dumps(spec["list"])[:80]}')
    cells = [tuple(overrides.items()) for overrides in spec['list']]
  seeds = spec.get('seeds', [0])
  if not isinstance(seeds, list) or not all(
      isinstance(s, int) and not isinstance(s, bool) for s in seeds):
    raise ConfigError(f'{path}: "seeds" is a list of integers, got {json.dumps(seeds)[:80]}')
  if not cells or not seeds or len(set(seeds)) != len(seeds):
    raise ConfigError(f'{path}: needs at least one cell and distinct seeds, got {seeds}')
  return {'cells': cells, 'seeds': seeds}


def override(config: ml_collections.ConfigDict, name: str, value: Any) -> None:
  section, _, key = name.rpartition('.')
  target = config
  for part in filter(None, section.split('.')):
    if part not in target:
      raise ConfigError(f'sweep override {name!r}: the config has no section {part!r}')
    target = target[part]
  if key not in target:
    raise ConfigError(f'sweep override {name!r}: the config has no field {key!r}')
  old = target[key]
  try:
    target[key] = tuple(value) if isinstance(old, tuple) and isinstance(value, list) else value
  except TypeError as e:  # ml_collections refuses a value of another type
    raise ConfigError(f'sweep override {name}={json.dumps(value)}: {e}') from None


def _consecutive_runs(seeds: Sequence[int]) -> List[Tuple[int, ...]]:
  """[0, 1, 2, 5] -> [(0, 1, 2), (5,)]: members are seeds seed, seed + 1, ..."""
  runs = []
  for seed in sorted(seeds):
    if runs and seed == runs[-1][-1] + 1:
      runs[-1] = runs[-1] + (seed,)
    else:
      runs.append((seed,))
  return runs


def make_trials(base: ml_collections.ConfigDict, spec: Mapping[str, Any], workdir: str,
                share_seeds: bool = True) -> List[Trial]:
  """The trials of sweep `spec` (see `read_sweep`) on config `base`, under WORKDIR/trials."""
  trials = []
  groups = (_consecutive_runs(spec['seeds']) if share_seeds
            else [(s,) for s in spec['seeds']])
  for cell in spec['cells']:
    for seeds in groups:
      config = members_lib.config_at_seed(base, seeds[0])
      for name, value in cell:
        override(config, name, value)
      if len(seeds) > 1:
        if 'num_seeds' not in config:
          raise ConfigError(f'{config.algorithm} has no members (num_seeds): '
                            'run the sweep with --noshare_seeds')
        config.num_seeds = len(seeds)
      config.progress_bar = False
      trial = Trial(cell=cell, seeds=seeds, config=config, workdir='')
      trial.workdir = os.path.join(workdir, TRIALS_DIR, *trial.name.split('/'))
      trials.append(trial)
  return trials


def _run_trial(params: Dict[str, Any], trials: Sequence[Trial],
               train: Callable[[ml_collections.ConfigDict, str], Dict[str, Any]]) -> None:
  """A Ray Tune trainable: runs trial `params['trial']` in its workdir, reports its success."""
  from ray import tune  # pylint: disable=g-import-not-at-top
  trial = trials[params['trial']]
  results = train(trial.config, trial.workdir)
  tune.report({'success_rate': float(results.get('success_rate', float('nan')))})


def worker_environment() -> Dict[str, str]:
  """What a Ray worker needs from this process: the library on its path, and the persistent
  compilation cache this process uses (JAX reads both settings from the environment)."""
  import jax  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = {'PYTHONPATH': os.pathsep.join(filter(None, [repo, os.environ.get('PYTHONPATH')]))}
  cache = jax.config.jax_compilation_cache_dir
  if cache:
    env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=str(
        jax.config.jax_persistent_cache_min_compile_time_secs))
  return env


def _pending(trials: Sequence[Trial]) -> List[Trial]:
  """The trials without results; a finished trial of another config is refused (a
  WorkdirError naming the change), so a study never reports a run it would not train."""
  for trial in trials:
    workdir_lib.check_unchanged_if_finished(trial.workdir, trial.config, run_lib.RESULTS_FILE)
  pending = [t for t in trials if study_common.finished(t.workdir) is None]
  logging.info('%d of %d trials finished; running %d', len(trials) - len(pending),
               len(trials), len(pending))
  return pending


def run_local(trials: Sequence[Trial],
              train: Callable[[ml_collections.ConfigDict, str], Any]) -> List[Trial]:
  """Runs the unfinished `trials` one after another in this process (no Ray); returns them."""
  pending = _pending(trials)
  for trial in pending:
    logging.info('trial %s', trial.name)
    train(trial.config, trial.workdir)
  return pending


def run_trials(trials: Sequence[Trial], train: Callable[[ml_collections.ConfigDict, str], Any],
               *, storage: str, address: str = '', cpus_per_trial: float = 1.0,
               gpus_per_trial: float = 0.0) -> List[Trial]:
  """Runs the unfinished `trials` on Ray Tune; returns those it ran.

  `train(config, workdir)` is the job (a trainer of imitation.agents); Ray starts a local
  instance unless `address` names a cluster ('auto': the one this machine belongs to).
  Workers get `worker_environment()`.
  """
  pending = _pending(trials)
  if not pending:
    return []
  import ray  # pylint: disable=g-import-not-at-top
  from ray import tune  # pylint: disable=g-import-not-at-top

  if not ray.is_initialized():
    ray.init(address=address or None, runtime_env={'env_vars': worker_environment()},
             include_dashboard=False, log_to_driver=False, configure_logging=False)
  trainable = tune.with_resources(
      tune.with_parameters(_run_trial, trials=list(pending), train=train),
      {'cpu': cpus_per_trial, 'gpu': gpus_per_trial})
  tuner = tune.Tuner(
      trainable,
      param_space={'trial': tune.grid_search(list(range(len(pending))))},
      run_config=tune.RunConfig(name='sweep', storage_path=os.path.abspath(storage),
                                verbose=0, failure_config=tune.FailureConfig(max_failures=0)),
  )
  grid = tuner.fit()
  failed = [pending[r.config['trial']].name for r in grid if r.error is not None]
  if failed:
    raise RuntimeError(f'sweep trials failed: {failed} (their logs: {storage})')
  return pending


def run_study_trials(trials: Sequence[Trial],
                     train: Callable[[ml_collections.ConfigDict, str], Any],
                     study: ml_collections.ConfigDict, *, storage: str) -> List[Trial]:
  """A study's trials on the engine its `study` section names: `local` (this process,
  one after another) or `ray` (Ray Tune, at `study.ray_address` with the section's
  resources per trial)."""
  if study.engine == 'ray':
    return run_trials(trials, train, storage=storage, address=study.ray_address,
                      cpus_per_trial=study.cpus_per_trial, gpus_per_trial=study.gpus_per_trial)
  if study.engine == 'local':
    return run_local(trials, train)
  raise ConfigError(f'study.engine={study.engine!r}: expected local or ray')


def aggregate(trials: Sequence[Trial]) -> List[Dict[str, Any]]:
  """One row per (cell, seed) from every finished trial's results.json (members expanded)."""
  rows = []
  for trial in trials:
    results = study_common.finished(trial.workdir)
    if results is None:
      continue
    per_seed = results.get('seeds') or [results]
    for figures in per_seed:
      row = {'cell': cell_name(trial.cell), **{name: value for name, value in trial.cell},
             'seed': figures['seed'], 'workdir': trial.workdir}
      row.update({k: figures[k] for k in COLUMNS if k in figures})
      row.setdefault('steps', results.get('steps'))
      row['wall_time_s'] = results['wall_time_s']
      rows.append(row)
  return rows


def summarise(rows: Sequence[Dict[str, Any]], metric: str = 'success_rate',
              ) -> Dict[str, Dict[str, float]]:
  """Per cell, in first-seen order: the spread of `metric` over its seeds."""
  cells: Dict[str, List[float]] = {}
  for row in rows:
    cells.setdefault(row['cell'], []).append(row[metric])
  return {cell: members_lib.spread(values) for cell, values in cells.items()}


def markdown_table(rows: Sequence[Dict[str, Any]],
                   metrics: Sequence[str] = ('success_rate', 'expert_success_rate')) -> str:
  """| cell | seeds | metric (mean +- 95% interval) ... |"""
  summaries = {m: summarise(rows, m) for m in metrics}
  lines = ['| cell | seeds | ' + ' | '.join(metrics) + ' |',
           '|---|---|' + '---|' * len(metrics)]
  for cell, stats in summaries[metrics[0]].items():
    cells = [f'{summaries[m][cell]["mean"]:.3f} +- {summaries[m][cell]["ci95"]:.3f}'
             for m in metrics]
    lines.append(f'| {cell} | {stats["n"]} | ' + ' | '.join(cells) + ' |')
  lines.append('')
  lines.append('mean +- half-width of the 95% t-interval over seeds')
  return '\n'.join(lines)


def write_outputs(rows: Sequence[Dict[str, Any]], workdir: str,
                  spec: Mapping[str, Any]) -> Dict[str, str]:
  """sweep.csv (every row), sweep.md (the table) and sweep.png (success per cell)."""
  if not rows:
    raise ConfigError(f'no finished trials under {os.path.join(workdir, TRIALS_DIR)}')
  paths = {name: os.path.join(workdir, name) for name in (CSV_FILE, TABLE_FILE, PLOT_FILE)}
  fields = list(dict.fromkeys(k for row in rows for k in row))

  def write_csv(f):
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)

  atomic.write_with(paths[CSV_FILE], write_csv, mode='w')
  study_common.write_report(paths[TABLE_FILE], markdown_table(rows) + '\n')
  _plot(rows, spec, paths[PLOT_FILE])
  return paths


def _plot(rows: Sequence[Dict[str, Any]], spec: Mapping[str, Any], path: str) -> None:
  """Success (mean, 95% interval, each seed) against the one numeric grid axis, if the
  sweep has one; otherwise one bar per cell."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

  summary = summarise(rows)
  grid = spec.get('cells') or []
  names = {name for cell in grid for name, _ in cell}
  fig, ax = plt.subplots(figsize=(5, 3.5))
  numeric = len(names) == 1 and all(
      isinstance(value, (int, float)) for cell in grid for _, value in cell)
  if numeric:
    (name,) = names
    xs = [dict(cell)[name] for cell in grid]
    cells = [cell_name(cell) for cell in grid]
    means = [summary[c]['mean'] for c in cells]
    ax.errorbar(xs, means, yerr=[summary[c]['ci95'] for c in cells], marker='o', capsize=3)
    for row in rows:
      ax.scatter(row[name], row['success_rate'], color='grey', s=8, alpha=0.6)
    if min(xs) > 0 and max(xs) / min(xs) >= 10:
      ax.set_xscale('log')
    ax.set_xlabel(name)
  else:
    cells = list(summary)
    ax.bar(range(len(cells)), [summary[c]['mean'] for c in cells],
           yerr=[summary[c]['ci95'] for c in cells], capsize=3)
    ax.set_xticks(range(len(cells)), cells, rotation=30, ha='right', fontsize=7)
  ax.set_ylabel('success rate')
  ax.set_ylim(-0.02, 1.02)
  ax.set_title(f'{len(rows)} runs; mean and 95% interval over seeds', fontsize=9)
  fig.tight_layout()
  atomic.save_figure(fig, path)
  plt.close(fig)


ENGINES = ('local', 'ray')
CONFIG_RULES = {'study.engine': rules.one_of(ENGINES)}
