"""BC for many members (seeds x one hyperparameter's values) in one compiled program.

`--config.num_seeds=K` (and optionally `--config.vmap.name=optimizer.learning_rate
--config.vmap.values=(1e-3,3e-4)`) trains every member as `jax.vmap` of the one BC update:
one compile of the update, one of the expert rollout (each seed collects its own demos
with it), one vmapped evaluation rollout for all members. Member (value, i) draws exactly
what a separate run with seed `seed + i` and that value draws (demos, init, data order,
evaluation episodes), so its figures are that run's up to float rounding.

results.json keeps the shared schema: its top-level figures are means over members, with
`*_std` and `*_ci95` (half-width of a 95% t-interval); `seeds` lists each member's own
results (its seed, hyperparameter value and evaluation), and `groups` the spread per
hyperparameter value.
"""

import os
from typing import Any, Callable, Dict, List, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from imitation import envs
from imitation import streams
from imitation.data import demonstrations
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import ConfigError
from imitation.evaluation.evaluator import Evaluator
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import members as members_lib
from imitation.training import run as run_lib
from imitation.training.learner import Learner

# The figures results.json summarises over members (mean, std, 95% interval).
SUMMARISED = ('success_rate', 'expert_success_rate', 'mean_return', 'expert_mean_return',
              'heldout_action_mse', 'closed_loop_action_mse')


def _check_supported(config: ml_collections.ConfigDict, learner: Learner) -> None:
  if jax.process_count() > 1:
    raise ConfigError('members (num_seeds > 1 or vmap) run in one process; '
                      'across hosts, run one seed per job (experiments.sweep)')
  if config.data.get('pipeline', 'device') != 'device':
    raise ConfigError('members (num_seeds > 1 or vmap) need data.pipeline=device')
  if config.env.get('held_out_kwargs'):
    raise ConfigError(f'{config.env.name} evaluates held-out tasks, which members do not; '
                      'run its seeds separately')
  if learner.prepare is not None or learner.after_eval is not None or not learner.exportable:
    raise ConfigError(f'{config.algorithm}: only BC learners train as members')


def _member_data(run: run_lib.Run, config: ml_collections.ConfigDict,
                 members: List[members_lib.Member], env: Any):
  """Per seed: the dataset path, transitions and counts (one shared dataset with data.path)."""
  by_seed = {}
  for member in members:
    if member.seed in by_seed:
      continue
    member_config = member.config(config)
    if config.data.path and by_seed:  # one given dataset serves every seed
      by_seed[member.seed] = next(iter(by_seed.values()))
      continue
    workdir = run.path(f'seed_{member.seed}')
    path = demonstrations.resolve_dataset(member_config, workdir)
    transitions, info = demonstrations.load_transitions(member_config, path, env)
    by_seed[member.seed] = (path, transitions, info)
  return by_seed


def _aggregate(per_member: List[Dict[str, Any]], members: List[members_lib.Member],
               ) -> Dict[str, Any]:
  """The mean, std and 95% interval of each summarised figure over members, each member's
  own figures under `members`, and (with a vmap axis) the spread per value under `groups`."""
  summary = {}
  for name in SUMMARISED:
    if name in per_member[0]:
      stats = members_lib.spread([m[name] for m in per_member])
      summary.update({name: stats['mean'], f'{name}_std': stats['std'],
                      f'{name}_ci95': stats['ci95']})
  summary['members'] = {m.label: figures for m, figures in zip(members, per_member)}
  groups = {}
  for member, figures in zip(members, per_member):
    if member.overrides:
      name = ','.join(f'{k}={v:g}' for k, v in member.overrides)
      groups.setdefault(name, []).append(figures['success_rate'])
  if groups:
    summary['groups'] = {name: {'success_rate': members_lib.spread(values)}
                         for name, values in groups.items()}
  return summary


def train(
    config: ml_collections.ConfigDict, workdir: str, *, stop_at_step: Optional[int] = None,
    make_learner: Callable[[ml_collections.ConfigDict, int], Learner],
    algorithm: str,
) -> Dict[str, Any]:
  """Trains every member of `config` (see `training.members`) as one program.

  Leaves in `workdir`: config.json, seed_S/demos/ per seed (unless data.path is given),
  checkpoints/ (the stacked state), tensorboard/ and metrics.jsonl (means and per-member
  curves), policy/<member label>/ per member, and results.json.
  """
  members = members_lib.members_of(config)
  env = envs.make_from_config(config.env)
  learner = make_learner(config, env.action_size)
  _check_supported(config, learner)
  run = run_lib.Run(config, workdir)
  groups, num_seeds = members_lib.axes(members)
  logging.info('training %d members (%d values x %d seeds) in one program',
               len(members), groups, num_seeds)

  by_seed = _member_data(run, config, members, env)
  seeds = [m.seed for m in members[:num_seeds]]
  shared = bool(config.data.path)
  data = [by_seed[s][1] for s in seeds]
  normalizations = {s: run.normalization(by_seed[s][1]) for s in seeds}
  normalization = members_lib.stack([normalizations[m.seed] for m in members])
  example = jax.tree.map(lambda x: x[:1].copy(), data[0]['observation'])
  if shared:
    dataset = run.device_dataset(data[0])
  else:
    dataset = DeviceDataset.stack(
        [{'observation': d['observation'], 'action': d['action']} for d in data],
        run.replicated)
  # Only the device copy outlives this: the host transitions go once it is made.
  by_seed = {s: (path, info) for s, (path, _, info) in by_seed.items()}
  del data

  keys = members_lib.stack([streams.key(m.seed, streams.INIT) for m in members])
  state = run.init_state(learner, keys, example, normalization, members=True)
  state = members_lib.set_hyperparameters(state, members)
  evaluator = Evaluator(env, learner.act, config.eval.num_episodes, config.env.horizon,
                        members=True)
  eval_keys = members_lib.stack([streams.key(m.seed, streams.EVAL) for m in members])

  def evaluate(state):
    return _aggregate(evaluator(state.policy_params, eval_keys), members)

  state, final_eval, resumed_from_step = run.fit(
      learner, state, dataset, evaluate=evaluate, stop_at_step=stop_at_step, members=members)
  step = int(jax.device_get(state.step)[0])
  if step < config.train.num_steps:
    return run.stop()

  learners = None
  if final_eval is not None:
    learners = [final_eval['members'][m.label] for m in members]
  comparisons = evaluator.versus_expert(state.policy_params, eval_keys, learner=learners)
  per_member = []
  for member, comparison in zip(members, comparisons):
    path, info = by_seed[member.seed]
    per_member.append({'seed': member.seed, **dict(member.overrides), **comparison,
                       'num_demos': info['num_demos'],
                       'num_transitions': info['num_transitions'], 'dataset': path})
    checkpoint_lib.export_policy(
        run.path(run_lib.POLICY_DIR, member.label),
        members_lib.unstack(state.params, member.index),
        members_lib.unstack(state.normalization, member.index),
        network_config=member.config(config).network, action_dim=env.action_size,
        extra={'env': config.env.to_dict(), 'algorithm': algorithm, 'seed': member.seed,
               **dict(member.overrides)})
  summary = _aggregate(per_member, members)
  del summary['members']  # results.json lists them, in member order, under `seeds`
  first = per_member[0]
  results = run.write_results(
      algorithm, steps=step, num_members=len(members), **summary, seeds=per_member,
      num_eval_episodes=first['num_eval_episodes'],
      num_demos=int(np.mean([m['num_demos'] for m in per_member])),
      num_transitions=int(np.mean([m['num_transitions'] for m in per_member])),
      dataset=first['dataset'] if shared else os.path.join(workdir, 'seed_*', 'demos'),
      resumed_from_step=resumed_from_step)
  run.writer().write(step, {k: results[k] for k in ('success_rate', 'expert_success_rate')},
                     prefix='final/')
  run.close()
  return results
