"""The compounding-error study: BC given more demos vs DAgger given labels, on one budget axis.

  python -m experiments.compounding_error --config=configs/dagger.py:drive \
      --workdir=/tmp/study_drive --seeds=0,1,2 --bc_demos=8,16,24,32

For each seed it runs BC with each number of demos and DAgger in each variant (the config's
DAgger settings; round 0 is BC on `collect.num_episodes` demos), each in its own
sub-workdir (finished runs are reused, so a stopped study resumes). It then writes to
WORKDIR:

* `labels.png`: (a) closed-loop success vs expert labels, BC vs DAgger variants.
* `drift.png`: (b) distance from the expert's state distribution vs time step.
* `horizon.png`: (c) success vs episode horizon.
* `study.json` and `study.md`: every figure's numbers, and the seed-style table
  (BC, BC + N interventions, expert), mean and std over seeds.
"""

import json
import os
from typing import Any, Dict, List

from absl import flags
from absl import logging
import jax
import numpy as np

from configs import bc as bc_config
from experiments import common
from imitation import envs
from imitation.agents import acting
from imitation.agents import bc
from imitation.agents import dagger
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.evaluation import compounding
from imitation.evaluation import report
from imitation.evaluation import rollout as rollout_lib
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import workdir as workdir_lib

_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds.')
_BC_DEMOS = flags.DEFINE_list('bc_demos', ['8', '16', '24', '32'], 'BC dataset sizes (episodes).')
_VARIANTS = flags.DEFINE_list('variants', list(dagger.VARIANTS), 'DAgger variants.')
_HORIZONS = flags.DEFINE_list('horizons', ['50', '100', '200', '300', '450', '600'],
                              'Horizons for success-vs-horizon.')


def _finished(workdir: str):
  path = os.path.join(workdir, 'results.json')
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return None


def _bc_run(config, seed: int, num_demos: int, workdir: str) -> Dict[str, Any]:
  bc_cfg = bc_config.get_config(config.env.name)
  bc_cfg.seed = seed
  bc_cfg.collect.num_episodes = num_demos
  bc_cfg.progress_bar = False
  return _finished(workdir) or bc.train(bc_cfg, workdir)


def _dagger_run(config, seed: int, variant: str, workdir: str) -> Dict[str, Any]:
  cfg = config.copy_and_resolve_references()
  cfg.seed = seed
  cfg.dagger.variant = variant
  cfg.progress_bar = False
  return _finished(workdir) or dagger.train(cfg, workdir)


def _mean_std(values: List[float]) -> Dict[str, float]:
  return {'mean': float(np.mean(values)), 'std': float(np.std(values)), 'n': len(values)}


def study(config, workdir):
  workdir = workdir_lib.prepare(workdir)
  seeds = [int(s) for s in _SEEDS.value]
  bc_demos = [int(n) for n in _BC_DEMOS.value]
  horizons = [int(h) for h in _HORIZONS.value]
  env = envs.make_from_config(config.env)
  runs = {'bc': {}, 'dagger': {v: {} for v in _VARIANTS.value}}
  for seed in seeds:
    for n in bc_demos:
      logging.info('seed %d: BC with %d demos', seed, n)
      runs['bc'].setdefault(n, {})[seed] = _bc_run(
          config, seed, n, os.path.join(workdir, f'bc_{n}_seed{seed}'))
    for variant in _VARIANTS.value:
      logging.info('seed %d: DAgger (%s)', seed, variant)
      runs['dagger'][variant][seed] = _dagger_run(
          config, seed, variant, os.path.join(workdir, f'dagger_{variant}_seed{seed}'))

  # (a) success vs expert labels.
  curves = {'bc': [], **{v: [] for v in _VARIANTS.value}}
  for n in bc_demos:
    results = runs['bc'][n]
    curves['bc'].append({
        'expert_labels': _mean_std([r['num_transitions'] for r in results.values()]),
        'success_rate': _mean_std([r['success_rate'] for r in results.values()]),
        'num_demos': n})
  for variant in _VARIANTS.value:
    per_seed = runs['dagger'][variant]
    for k in range(config.dagger.num_rounds + 1):
      rounds = [r['rounds'][k] for r in per_seed.values()]
      curves[variant].append({
          'round': k,
          'expert_labels': _mean_std([r['total_expert_labels'] for r in rounds]),
          'interventions': _mean_std([r['total_interventions'] for r in rounds]),
          'success_rate': _mean_std([r['success_rate'] for r in rounds])})
  expert = _mean_std([r['expert_success_rate']
                      for r in runs['bc'][bc_demos[0]].values()])

  # (b) and (c): BC on the round-0 demos vs classic DAgger's final policy, seed by seed.
  base_demos = config.collect.num_episodes
  policies = {}
  if base_demos in runs['bc']:
    policies['BC'] = {s: os.path.join(workdir, f'bc_{base_demos}_seed{s}') for s in seeds}
  if 'classic' in runs['dagger']:
    policies['DAgger'] = {s: os.path.join(workdir, f'dagger_classic_seed{s}') for s in seeds}
  drift, by_horizon = {}, {}
  for name, dirs in policies.items():
    drift[name], by_horizon[name] = [], []
    for seed, run_dir in dirs.items():
      policy, params, _ = checkpoint_lib.load_policy(os.path.join(run_dir, 'policy'))
      act_fn = acting.make_act_fn(policy)
      demos, _ = rlds.load_episodes(os.path.join(run_dir, 'demos'))
      reference = transitions_lib.episodes_to_transitions(demos)['observation']['state']
      rollout = jax.jit(rollout_lib.make_rollout(env, config.env.horizon, act_fn))
      rng = jax.random.PRNGKey(1000 + seed)
      keys = jax.random.split(rng, config.eval.num_episodes)
      trajectory = jax.device_get(rollout(params, keys, rng, 0.0))
      drift[name].append(compounding.distance_to_reference_by_step(trajectory, reference))
      by_horizon[name].append(compounding.success_by_horizon(
          env, act_fn, params, horizons, config.eval.num_episodes, rng))

  summary = {
      'task': config.env.name, 'seeds': seeds, 'expert_success_rate': expert,
      'labels': curves,
      'drift': {name: {'distance_mean': np.mean([d['distance'] for d in v], 0).tolist(),
                       'running_mean': np.mean([d['running'] for d in v], 0).tolist()}
                for name, v in drift.items()},
      'horizon': {name: {h: _mean_std([r[h]['success_rate'] for r in v]) for h in horizons}
                  for name, v in by_horizon.items()},
  }
  workdir_lib.write_json(workdir, 'study.json', summary)
  table = report.study_table(summary)
  with open(os.path.join(workdir, 'study.md'), 'w') as f:
    f.write(table + '\n')
  report.plot_study(summary, workdir, horizons)
  print(table)


if __name__ == '__main__':
  common.run(study)
