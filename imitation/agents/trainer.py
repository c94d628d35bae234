"""The BC family's one trainer: a learner trained on demonstrations, scored, exported.

`train(config, workdir, make_learner, algorithm)` tells every BC-family run's story, top
down: open the run frame, read the training input, build the learner, initialise (or
restore) its state, fit, and finish (export + results.json). What differs between runs is
only where the batches come from and how a policy is scored, picked by the config:

* closed loop (an environment): demos collected or read, success against the expert on
  the same episodes, and on held-out task combinations where the env has them;
* offline (`env.name` empty): whole episodes held out, scored by action error and R^2;
* members (`num_seeds > 1` or `vmap`): seeds x a hyperparameter's values trained as one
  vmapped program, each member scored and exported as its own run would be.

A new policy class or loss is a `make_learner(config, action_size)`; nothing here knows
which one it trains.
"""

from typing import Any, Callable, Dict, List, NamedTuple, Optional

from absl import logging
import ml_collections

from imitation import envs
from imitation import streams
from imitation.errors import ConfigError
from imitation.evaluation import evaluator as evaluator_lib
from imitation.evaluation import offline
from imitation.networks import policy as policy_lib
from imitation.training import ema
from imitation.training import inputs as inputs_lib
from imitation.training import members as members_lib
from imitation.training import run as run_lib
from imitation.training.learner import Learner

MakeLearner = Callable[[ml_collections.ConfigDict, int], Learner]

# The figures results.json summarises over members (mean, std, 95% interval).
SUMMARISED = ('success_rate', 'expert_success_rate', 'mean_return', 'expert_mean_return',
              'heldout_action_mse', 'closed_loop_action_mse')


class Scoring(NamedTuple):
  """How a run scores its policy: `evaluate(state)` every `eval_every` steps, and
  `conclude(state, final_eval)`, the final evaluation results.json holds."""
  evaluate: Callable[[Any], Dict[str, Any]]
  conclude: Callable[[Any, Optional[Dict[str, Any]]], Dict[str, Any]]


def train(config: ml_collections.ConfigDict, workdir: str, make_learner: MakeLearner,
          algorithm: str, *, stop_at_step: Optional[int] = None) -> Dict[str, Any]:
  """Trains `make_learner`'s learner as `config` says, resuming from `workdir`.

  Leaves in `workdir`: config.json, demos/ (seed_S/demos/ per member seed) if it collected
  them, checkpoints/, tensorboard/, metrics.jsonl, policy/ (policy/<member>/ per member)
  and results.json. `stop_at_step` stops there, as a preempted job would (returns {}).
  """
  run = run_lib.Run(config, workdir)
  members = run.members
  stacked = members if len(members) > 1 else None  # seeds x values as one program
  env = envs.make_from_config(config.env) if config.env.name else None
  held_out_env = envs.make_held_out_from_config(config.env) if env else None  # not trained on
  windows = policy_lib.windows(config.network)  # what one training row spans
  if env is None:
    logging.warning(offline.CLOSED_LOOP_UNAVAILABLE)
    data = inputs_lib.offline(run, windows)
  elif stacked:
    data = inputs_lib.members(run, env, windows)
  else:
    data = inputs_lib.closed_loop(run, env, windows)
  logging.info('training data: %s', data.info)
  learner = ema.with_ema(make_learner(config, data.action_size),
                        config.train.get('ema_decay', 0.0))
  keys = [streams.key(m.seed, streams.INIT) for m in members]
  if stacked:
    scoring = _members_scoring(config, env, learner, data, members)
    keys = members_lib.stack(keys)
  else:
    scoring = _scoring(config, env, held_out_env, learner, data,
                       streams.key(members[0].seed, streams.EVAL))
    keys = keys[0]
  state = run.init_state(learner, keys, data.example_observation, data.normalization,
                         members=stacked)
  if learner.prepare is not None:  # a restored checkpoint replaces this state in `fit`
    state = learner.prepare(state, data.task_ids)
  state, final_eval, resumed_from_step = run.fit(
      learner, state, data.dataset, evaluate=scoring.evaluate, stop_at_step=stop_at_step,
      members=stacked)
  if run.step_of(state) < config.train.num_steps:
    return run.stop()
  return run.finish(
      algorithm, learner=learner, state=state, action_size=data.action_size,
      evaluation=scoring.conclude(state, final_eval), final_step=run.step_of(state),
      members=stacked, **data.info, resumed_from_step=resumed_from_step)


def _scoring(config, env, held_out_env, learner: Learner, data: inputs_lib.TrainingInput,
             eval_key) -> Scoring:
  """One policy: closed loop against the expert on the episodes of `eval_key` (and on
  `held_out_env`'s combinations, where the run holds some out), or offline on the
  held-out episodes."""
  if env is None:
    scorer = offline.OfflineEvaluator(learner.act, data.heldout)
    return Scoring(
        evaluate=lambda state: scorer(state.policy_params),
        conclude=lambda state, final: {
            'success_rate': None, 'closed_loop': offline.CLOSED_LOOP_UNAVAILABLE,
            **(final or scorer(state.policy_params))})

  def evaluator_of(scored_env):
    return evaluator_lib.Evaluator(scored_env, learner.act, config.eval.num_episodes,
                                   config.env.horizon)

  evaluator = evaluator_of(env)
  held_out = evaluator_of(held_out_env) if held_out_env is not None else None

  def conclude(state, final_eval):
    comparison = evaluator.versus_expert(state.policy_params, eval_key, learner=final_eval)
    if held_out is None:
      return comparison
    return {**comparison, 'held_out': held_out.versus_expert(state.policy_params, eval_key)}

  return Scoring(evaluate=lambda state: evaluator(state.policy_params, eval_key),
                 conclude=conclude)


def _members_scoring(config, env, learner: Learner, data: inputs_lib.TrainingInput,
                     members: List[members_lib.Member]) -> Scoring:
  """Every member played on its own seed's episodes by one compiled rollout; figures are
  summarised over members (mean, std, 95% interval), each member's kept under `seeds`."""
  if learner.prepare is not None or learner.after_eval is not None or not learner.exportable:
    raise ConfigError(f'{config.algorithm}: only BC learners train as members')
  logging.info('training %d members (%d values x %d seeds) in one program',
               len(members), *members_lib.axes(members))
  evaluator = evaluator_lib.Evaluator(env, learner.act, config.eval.num_episodes,
                                      config.env.horizon, members=True)
  eval_keys = members_lib.stack([streams.key(m.seed, streams.EVAL) for m in members])

  def conclude(state, final_eval):
    learners = None if final_eval is None else [final_eval['members'][m.label] for m in members]
    comparisons = evaluator.versus_expert(state.policy_params, eval_keys, learner=learners)
    per_member = [{'seed': m.seed, **dict(m.overrides), **comparison, **data.per_seed[m.seed]}
                  for m, comparison in zip(members, comparisons)]
    summary = _aggregate(per_member, members)
    del summary['members']  # results.json lists them, in member order, under `seeds`
    return {'num_members': len(members), **summary, 'seeds': per_member,
            'num_eval_episodes': per_member[0]['num_eval_episodes']}

  return Scoring(
      evaluate=lambda state: _aggregate(evaluator(state.policy_params, eval_keys), members),
      conclude=conclude)


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
