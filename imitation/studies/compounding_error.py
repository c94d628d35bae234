"""The compounding-error study: BC given more demos vs DAgger given labels, on one budget axis.

For each seed it runs BC with each number of demos and DAgger in each variant, all built from
one config (configs/compounding_error.py), each in its own sub-workdir: a sweep (studies/sweep.py) run
in this process (`study.engine=local`) or as Ray Tune trials (`ray`); finished runs are
skipped and stopped ones resume, so a stopped study resumes. It then writes to the workdir:

* `labels.png`: (a) closed-loop success vs expert labels, BC vs DAgger variants.
* `drift.png`: (b) distance from the expert's state distribution vs time step.
* `horizon.png`: (c) success vs episode horizon.
* `results.json` (the shared schema; every figure's numbers under `labels`, `drift` and
  `horizon`) and `study.md` (a table of success per expert-label budget, mean and std over seeds).
"""

import os
from typing import Any, Dict, List

import jax
import ml_collections
import numpy as np

from imitation import agents
from imitation import envs
from imitation import streams
from imitation.agents import bc
from imitation.agents import dagger
from imitation.data import demonstrations
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.envs import rollout as rollout_lib
from imitation.evaluation import acting
from imitation.evaluation import compounding
from imitation.evaluation import report
from imitation.studies import common as study_common
from imitation.studies import sweep
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import run as run_lib

ALGORITHM = 'compounding_error_study'
TABLE_FILE = 'study.md'


def bc_config(config: ml_collections.ConfigDict, seed: int,
              num_demos: int) -> ml_collections.ConfigDict:
  """The study's BC baseline: the study config's sections with BC's target and step counts."""
  cfg = study_common.run_config(config, seed)
  cfg.algorithm = bc.ALGORITHM
  cfg.collect.num_episodes = num_demos
  cfg.data.action_key = config.study.bc_action_key
  cfg.train.update(config.study.bc_train)
  with cfg.unlocked():
    del cfg['dagger']
  return cfg


def dagger_config(config: ml_collections.ConfigDict, seed: int,
                  variant: str) -> ml_collections.ConfigDict:
  """The study's DAgger run of `variant`: the study config as it is, at `seed`."""
  cfg = study_common.run_config(config, seed)
  cfg.algorithm = dagger.ALGORITHM
  cfg.dagger.variant = variant
  return cfg


def study_trials(config: ml_collections.ConfigDict, workdir: str) -> List[sweep.Trial]:
  """Every run of the study as a sweep trial: BC per demo count and DAgger per variant, per
  seed, each in its own sub-workdir (bc_N_seedS, dagger_VARIANT_seedS)."""
  study = config.study
  trials = []
  for seed in study.seeds:
    for n in study.bc_demos:
      trials.append(sweep.Trial(cell=(('algorithm', bc.ALGORITHM), ('num_demos', n)),
                                seeds=(seed,), config=bc_config(config, seed, n),
                                workdir=os.path.join(workdir, f'bc_{n}_seed{seed}')))
    for variant in study.variants:
      trials.append(sweep.Trial(cell=(('algorithm', dagger.ALGORITHM), ('variant', variant)),
                                seeds=(seed,), config=dagger_config(config, seed, variant),
                                workdir=os.path.join(workdir, f'dagger_{variant}_seed{seed}')))
  return trials


def run_study(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs (or resumes) the study `config` describes; returns what it writes to results.json."""
  run = run_lib.Run(config, workdir)
  study = config.study
  seeds, bc_demos, horizons = list(study.seeds), list(study.bc_demos), list(study.horizons)
  trials = study_trials(config, run.workdir)
  sweep.run_study_trials(trials, agents.train, study, storage=run.path('ray'))
  runs = {'bc': {}, 'dagger': {v: {} for v in study.variants}}
  for trial in trials:
    cell = dict(trial.cell)
    (runs['bc'].setdefault(cell['num_demos'], {}) if cell['algorithm'] == bc.ALGORITHM
     else runs['dagger'][cell['variant']])[trial.seeds[0]] = study_common.finished(trial.workdir)

  summary = {'labels': _labels_curves(config, runs, bc_demos),
             'expert_success_rate': study_common.spread(
                 [r['expert_success_rate'] for r in runs['bc'][bc_demos[0]].values()])}
  summary.update(_drift_and_horizon(config, run, runs, seeds, horizons))
  results = run.write_results(ALGORITHM, seed=None, seeds=seeds, **summary)
  if run.is_writer:
    study_common.write_report(run.path(TABLE_FILE), report.study_table(results) + '\n')
    report.plot_study(results, run.workdir, horizons)
  run.close()
  return results


def _labels_curves(config, runs, bc_demos) -> Dict[str, List[Dict[str, Any]]]:
  """(a) success vs expert labels: BC by number of demos, each DAgger variant by round."""
  curves = {'bc': []}
  for n in bc_demos:
    results = runs['bc'][n].values()
    curves['bc'].append({
        'expert_labels': study_common.spread([r['num_transitions'] for r in results]),
        'success_rate': study_common.spread([r['success_rate'] for r in results]),
        'num_demos': n})
  for variant, per_seed in runs['dagger'].items():
    curves[variant] = []
    for k in range(config.dagger.num_rounds + 1):
      rounds = [r['rounds'][k] for r in per_seed.values()]
      curves[variant].append({
          'round': k,
          'expert_labels': study_common.spread([r['total_expert_labels'] for r in rounds]),
          'interventions': study_common.spread([r['total_interventions'] for r in rounds]),
          'success_rate': study_common.spread([r['success_rate'] for r in rounds])})
  return curves


def _drift_and_horizon(config, run, runs, seeds, horizons) -> Dict[str, Any]:
  """(b) and (c): BC on the round-0 demos vs classic DAgger's final policy, seed by seed."""
  env = envs.make_from_config(config.env)
  base_demos = config.collect.num_episodes
  policies = {}
  if base_demos in runs['bc']:
    policies['BC'] = {s: run.path(f'bc_{base_demos}_seed{s}') for s in seeds}
  if 'classic' in runs['dagger']:
    policies['DAgger'] = {s: run.path(f'dagger_classic_seed{s}') for s in seeds}
  drift, by_horizon = {}, {}
  for name, dirs in policies.items():
    drift[name], by_horizon[name] = [], []
    for seed, run_dir in dirs.items():
      policy, params, _ = checkpoint_lib.load_policy(os.path.join(run_dir, run_lib.POLICY_DIR))
      act_fn = acting.make_act_fn(policy)
      demos, _ = rlds.load_episodes(os.path.join(run_dir, demonstrations.DEFAULT_DEMOS_DIR))
      reference = transitions_lib.episodes_to_transitions(demos)['observation']['state']
      rollout = jax.jit(rollout_lib.make_rollout(env, config.env.horizon, act_fn))
      rng = jax.random.PRNGKey(streams.STUDY_SEED_OFFSET + seed)
      keys = jax.random.split(rng, config.eval.num_episodes)
      trajectory = jax.device_get(rollout(params, keys, rng, 0.0))
      drift[name].append(compounding.distance_to_reference_by_step(trajectory, reference))
      by_horizon[name].append(compounding.success_by_horizon(
          env, act_fn, params, horizons, config.eval.num_episodes, rng))
  return {
      'drift': {name: {'distance_mean': np.mean([d['distance'] for d in v], 0).tolist(),
                       'running_mean': np.mean([d['running'] for d in v], 0).tolist()}
                for name, v in drift.items()},
      'horizon': {name: {h: study_common.spread([r[h]['success_rate'] for r in v]) for h in horizons}
                  for name, v in by_horizon.items()},
  }
