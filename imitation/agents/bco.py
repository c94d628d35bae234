"""Behavioral cloning from observation, BCO(alpha) (Torabi et al. 2018), on the BC pieces.

The demonstrations record what happened, not the actions taken (a state-only dataset,
data/state_only.py; any dataset's actions are ignored). Round 0 is BCO(0): the learner
acts in the environment with random actions for `bco.pre_interactions` steps, recording
(s, a, s'); an inverse dynamics model p(a | s, s'), a BC learner over a history of two
observations (any head, any encoder: `bco.inverse`), is trained on them; it labels each
demonstrated transition (s_t, s_t+1); BC trains on the inferred actions. With `bco.alpha`
> 0, each of `bco.num_rounds` further rounds lets the previous round's policy (plus
exploration noise) collect alpha x pre_interactions more steps, retrains the inverse model
on every interaction so far, relabels the demonstrations and retrains BC from scratch.

Every environment step the learner takes is counted (`env_interactions`), as DAgger counts
expert labels. Each round scores the inverse model: its action error on held-out
interaction episodes (`bco.holdout_fraction` of each round's), and on the demonstrations
where their real actions are known (kept aside by `collect.drop_actions`, or the dataset's
own). Interactions are appended to WORKDIR/interactions (RLDS, no expert labels) when a
round collects them and progress is saved after each round, so a stopped run resumes in
the round it was in (each fit resumes from its own checkpoints).
"""

import dataclasses
import math
import os
from typing import Any, Dict, List, Optional

from absl import logging
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import envs
from imitation import progress as progress_lib
from imitation import streams
from imitation.agents import bc
from imitation.agents import rounds as rounds_lib
from imitation.data import demonstrations
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import rlds
from imitation.data import state_only
from imitation.data import transitions as transitions_lib
from imitation.data import windows as windows_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.envs import rollout as rollout_lib
from imitation.envs.base import STATIC_OBSERVATION_KEYS
from imitation.errors import ConfigError
from imitation.evaluation import acting
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import policy as policy_lib
from imitation.training import distributed
from imitation.training import inputs as inputs_lib
from imitation.training import run as run_lib
from imitation.training import sharding
from imitation.training.learner import Learner

ALGORITHM = 'bco'
PROGRESS_FILE = 'bco_progress.json'
INTERACTIONS_DIR = 'interactions'
INVERSE_HISTORY = 2  # the inverse model reads (s, s')


def inverse_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The inverse dynamics model's config: the policy's, with `bco.inverse`'s head, sizes
  and training, reading two observations (s, s') and predicting the one action between."""
  section = config.bco.inverse
  inverse = config.copy_and_resolve_references()
  inverse.network.observation_history = INVERSE_HISTORY
  inverse.network.chunk.update(horizon=1, execute_steps=1, temporal_ensemble=False)
  inverse.network.head = section.head
  inverse.network.hidden_sizes = tuple(section.hidden_sizes)
  inverse.train.update(num_steps=section.num_steps, batch_size=section.batch_size,
                       eval_every=section.num_steps, ema_decay=0.0)
  inverse.eval.deterministic = True
  return inverse


def make_inverse_learner(config: ml_collections.ConfigDict, action_size: int) -> Learner:
  """The inverse dynamics model p(a | s, s') as a learner: BC's, on `inverse_config`."""
  return bc.make_learner(inverse_config(config), action_size)


def inverse_rows(episodes: List[episodes_lib.Episode], action_size: int,
                 aside: Optional[Dict[int, np.ndarray]] = None) -> Dict[str, Any]:
  """Every step of every episode as one row, for the inverse model: its observation,
  the real action that led to it from the step before (`action`: the episode's own, or
  those kept `aside` for it, data/state_only.py; zeros where unknown), `valid` (a step
  with a step before it in its episode), `episode_index`, `task_id`, and `actions_known`
  (whether every episode's actions were). A row's window of two observations
  (data/windows.py) is then exactly (s_t, s_t+1)."""
  lengths = [len(e['steps']['is_last']) for e in episodes]
  total = int(sum(lengths))
  first = episodes[0]['steps']['observation']
  rows = {
      'observation': {k: np.empty((total,) + np.shape(v)[1:], np.asarray(v).dtype)
                      for k, v in first.items()},
      'action': np.zeros((total, action_size), np.float32),
      'valid': np.ones(total, bool),
      'episode_index': np.empty(total, np.int32),
      'task_id': np.empty(total, np.int32),
      'actions_known': True,
  }
  row = 0
  for index, (episode, length) in enumerate(zip(episodes, lengths)):
    steps, end = episode['steps'], row + length
    for k, v in steps['observation'].items():
      rows['observation'][k][row:end] = v
    actions = state_only.true_actions(episode, aside)
    if actions is None:
      rows['actions_known'] = False
    else:  # an Open X episode's last action has no next observation: it leads nowhere
      count = min(len(actions), length - 1)
      rows['action'][row + 1:row + 1 + count] = actions[:count]
    rows['valid'][row] = False
    rows['episode_index'][row:end] = index
    rows['task_id'][row:end] = episode['episode_metadata'].get('task_id', 0)
    row = end
  return rows


def make_labeller(learner: Learner, batch_size: int):
  """`label(policy_params, rows) -> [rows, A]`: the inverse model's action into each row
  (its mode, in environment units), in batches of `batch_size` (one compiled shape)."""
  predict = jax.jit(acting.make_predict_fn(learner.policy, deterministic=True))
  rng = jax.random.PRNGKey(0)  # the mode takes no randomness; the key is only a placeholder

  def label(policy_params, rows: Dict[str, Any]) -> np.ndarray:
    past = windows_lib.window_indices(rows['episode_index'], 1, INVERSE_HISTORY)[
        windows_lib.PAST_INDEX]
    count = len(past)
    labels = np.zeros((count, rows['action'].shape[-1]), np.float32)
    for start in range(0, count, batch_size):
      index = np.minimum(np.arange(start, start + batch_size), count - 1)
      inputs = {k: v[index] if k in STATIC_OBSERVATION_KEYS else v[past[index]]
                for k, v in rows['observation'].items()}
      predicted = np.asarray(predict(policy_params, inputs, rng))
      labels[start:start + batch_size] = predicted[:count - start]
    return labels

  return label


def label_error(labels: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
  """Mean squared error per action dimension over the valid rows (environment units)."""
  return float(np.mean(np.square(labels[valid] - truth[valid])))


def labelled_transitions(rows: Dict[str, Any], labels: np.ndarray) -> Dict[str, Any]:
  """BC's transitions from the demonstrations' rows: each step that has a next one, with
  the inferred action between them (`labels` of the next row) as its action."""
  has_next = np.zeros(len(rows['valid']), bool)
  has_next[:-1] = rows['valid'][1:]
  return {
      'observation': {k: v[has_next] for k, v in rows['observation'].items()},
      'action': labels[1:][has_next[:-1]],
      'task_id': rows['task_id'][has_next],
      'episode_index': rows['episode_index'][has_next],
  }


def make_explorer(actor: rollout_lib.Actor, action_limit: float) -> rollout_lib.Actor:
  """The learner as it interacts: `params` = {'policy': the policy's params, 'random':
  uniform actions in +-action_limit instead (BCO's pre-demonstration phase),
  'noise_std': Gaussian exploration noise on the policy's actions}; clipped to the limit,
  so the recorded action is the executed one."""

  def act(params, observation, state, rng):
    rng_policy, rng_noise, rng_uniform = jax.random.split(rng, 3)
    action, state = actor(params['policy'], observation, state, rng_policy)
    noisy = action + params['noise_std'] * jax.random.normal(rng_noise, action.shape)
    uniform = jax.random.uniform(rng_uniform, action.shape, minval=-action_limit,
                                 maxval=action_limit)
    return jp.clip(jp.where(params['random'], uniform, noisy), -action_limit, action_limit), state

  return rollout_lib.Actor(
      act, lambda params, observation: actor.initial_state(params['policy'], observation))


def round_interactions(config: ml_collections.ConfigDict, round_index: int) -> int:
  """The environment steps round `round_index` asks for: pre_interactions, then alpha x."""
  section = config.bco
  if round_index == 0:
    return int(section.pre_interactions)
  return int(math.ceil(section.alpha * section.pre_interactions))


def round_episodes(config: ml_collections.ConfigDict, round_index: int) -> int:
  return int(math.ceil(round_interactions(config, round_index) / config.env.horizon))


def held_out(config: ml_collections.ConfigDict, round_index: int, count: int) -> np.ndarray:
  """[count] bools: which of round `round_index`'s episodes score the inverse model
  instead of training it (drawn from the run's seed, so a resumed run draws the same)."""
  num_held_out = int(round(config.bco.holdout_fraction * count))
  if config.bco.holdout_fraction > 0:
    num_held_out = min(max(num_held_out, 1), count - 1)
  order = np.asarray(jax.random.permutation(
      streams.key(config.seed, streams.BCO_HOLDOUT, round_index), count))
  mask = np.zeros(count, bool)
  mask[order[:num_held_out]] = True
  return mask


def num_rounds(config: ml_collections.ConfigDict) -> int:
  """Rounds after round 0: `bco.num_rounds` for BCO(alpha), none for BCO(0)."""
  return int(config.bco.num_rounds) if config.bco.alpha > 0 else 0


def check_config(config: ml_collections.ConfigDict) -> None:
  rules.require(config, CONFIG_RULES)
  if not config.env.name:
    raise ConfigError('BCO learns by acting in an environment (env.name); offline data '
                      'without actions cannot be labelled')
  if config.num_seeds > 1 or config.vmap.name:
    raise ConfigError('BCO trains one seed per run; run seeds as separate runs '
                      '(--config.seed=S)')
  if jax.process_count() > 1:
    raise ConfigError('BCO runs in one process (its devices may be many)')
  if inputs_lib.is_streamed(config):
    raise ConfigError('BCO holds its demonstrations and interactions in memory: '
                      'data.pipeline=device')


@dataclasses.dataclass
class _Setup:
  """What every round of a run shares."""

  env: Any
  observation_spec: Dict[str, Any]
  policy: Learner  # BC on the inferred actions
  inverse: Learner  # p(a | s, s')
  inverse_config: ml_collections.ConfigDict  # `inverse_config(config)`
  demos_path: str
  num_demos: int
  # The demonstrations, one row per step (`inverse_rows`), with their real actions where
  # known: only to score the labels.
  demo_rows: Dict[str, Any]
  interactions: List[episodes_lib.Episode]  # every round's so far, in order
  label: Any  # make_labeller's function
  collect: Any  # the compiled exploration rollout
  evaluator: Evaluator
  eval_key: jax.Array


def train(config: ml_collections.ConfigDict, workdir: str, *,
          stop_at_round: Optional[int] = None) -> Dict[str, Any]:
  """Runs (or resumes) BCO as `config` says (configs/bco.py); returns results.json's record.

  Leaves in `workdir`: config.json, demos/ (if it collected them), interactions/ (RLDS, the
  learner's own (s, a, s') of every round), rounds/K/{inverse,policy}/ (each model's
  checkpoints and training curve), bco_progress.json, tensorboard/, metrics.jsonl (per
  round), policy/ and results.json. `stop_at_round` stops after that round (no results).
  """
  check_config(config)
  run = run_lib.Run(config, workdir)
  progress = rounds_lib.read_progress(run.workdir, PROGRESS_FILE, collected_round=-1)
  setup = _set_up(config, run, progress['collected_round'])
  resumed_after_round = progress['completed_round'] if progress['completed_round'] >= 0 else None
  state = evaluation = None
  if resumed_after_round is not None:
    state = run.restore(_fresh_policy_state(run, setup, resumed_after_round),
                        _round_dir(resumed_after_round, 'policy'))
    logging.info('resuming BCO after round %d', resumed_after_round)
  last_round = num_rounds(config)
  bar = progress_lib.bar(total=last_round + 1, initial=progress['completed_round'] + 1,
                         desc='bco rounds', unit='round')
  for round_index in range(progress['completed_round'] + 1, last_round + 1):
    if progress['collected_round'] < round_index:
      progress['pending'] = _collect_round(config, run, setup, round_index, state)
      progress['collected_round'] = round_index
      run.write_json(PROGRESS_FILE, progress)
    inverse_state, diagnostics = _fit_inverse(config, run, setup, round_index)
    labels = setup.label(inverse_state.policy_params, setup.demo_rows)
    if setup.demo_rows['actions_known']:
      diagnostics['demo_label_mse'] = label_error(labels, setup.demo_rows['action'],
                                                  setup.demo_rows['valid'])
    state, num_transitions = _fit_policy(run, setup, round_index, labels)
    evaluation = setup.evaluator(state.policy_params, setup.eval_key)
    record = _account(progress, round_index, num_transitions, diagnostics, evaluation)
    run.write_json(PROGRESS_FILE, progress)
    run.writer().write(round_index, {k: v for k, v in record.items() if k != 'round'},
                       prefix='round/')
    logging.info('BCO round %d: %s', round_index, record)
    bar.update(1)
    if stop_at_round is not None and round_index >= stop_at_round:
      break
  bar.close()
  if progress['completed_round'] < last_round:
    return run.stop()
  if evaluation is None:  # resumed after the last round: its policy is evaluated again
    evaluation = setup.evaluator(state.policy_params, setup.eval_key)
  last = progress['rounds'][-1]
  return run.finish(
      ALGORITHM, learner=setup.policy, state=state, action_size=setup.env.action_size,
      evaluation=setup.evaluator.versus_expert(state.policy_params, setup.eval_key,
                                               learner=evaluation),
      final_step=last_round, num_demos=setup.num_demos,
      num_transitions=last['num_transitions'], dataset=setup.demos_path,
      alpha=float(config.bco.alpha), env_interactions=last['total_env_interactions'],
      inverse_heldout_mse=last.get('inverse_heldout_mse'),
      demo_label_mse=last.get('demo_label_mse'),
      rounds=progress['rounds'], resumed_after_round=resumed_after_round)


def _set_up(config: ml_collections.ConfigDict, run: run_lib.Run,
            collected_round: int) -> _Setup:
  """The environment, both learners, the demonstrations as rows (with their real actions
  where known), the interactions collected so far and the compiled rollouts."""
  env = envs.make_from_config(config.env)
  policy = bc.make_learner(config, env.action_size)
  inverse = make_inverse_learner(config, env.action_size)
  demos_path = inputs_lib.dataset_path(run)
  demos, _, _ = demonstrations.load_episodes(config, demos_path)
  aside = None
  if ',' not in demos_path:
    aside = state_only.load_actions_aside(rlds.resolve_path(demos_path))
  rows = inverse_rows(demos, env.action_size, aside)
  transitions_lib.check_matches_env(rows, envs.observation_spec(env), env.action_size,
                                    source=demos_path)
  if not rows['actions_known']:
    logging.warning('the demonstrations\' real actions are unknown: label errors on them '
                    'are not reported')
  interactions = []
  interactions_path = run.path(INTERACTIONS_DIR)
  if collected_round >= 0 and rlds.dataset_exists(interactions_path):
    episodes, _ = rlds.load_episodes(interactions_path)
    interactions = [e for e in episodes if int(e['episode_metadata']['round']) <= collected_round]
  explorer = make_explorer(policy.act, config.bco.action_limit)
  return _Setup(
      env=env, observation_spec=envs.observation_spec(env), policy=policy, inverse=inverse,
      inverse_config=inverse_config(config), demos_path=demos_path,
      num_demos=len(demos), demo_rows=rows, interactions=interactions,
      label=make_labeller(inverse, config.bco.label_batch_size),
      collect=jax.jit(rollout_lib.make_rollout(env, config.env.horizon, explorer)),
      evaluator=Evaluator(env, policy.act, config.eval.num_episodes, config.env.horizon),
      eval_key=run.key(streams.EVAL))


def _fresh_policy_state(run: run_lib.Run, setup: _Setup, round_index: int,
                        normalization: Optional[normalization_lib.Normalization] = None):
  """A fresh BC train state for round `round_index` (normalised by `normalization`, or by
  the demonstrations' observations alone: a template, or round 0's random explorer)."""
  if normalization is None:
    normalization = inputs_lib.normalization(run.config, {
        'observation': setup.demo_rows['observation'],
        'action': np.zeros((2, setup.env.action_size), np.float32)})
  example = inputs_lib.first_observation(setup.demo_rows['observation'],
                                         policy_lib.windows(run.config.network))
  return run.init_state(setup.policy, run.key(streams.INIT, round_index), example,
                        normalization)


def _collect_round(config, run: run_lib.Run, setup: _Setup, round_index: int,
                   state) -> Dict[str, Any]:
  """The learner's interactions of round `round_index`: random actions in round 0, the
  previous round's policy with exploration noise after; appended to the interactions
  dataset (and to `setup.interactions`). Returns the round's counts."""
  wanted = round_episodes(config, round_index)
  parallel = min(config.bco.num_parallel_envs, wanted)
  if state is None:
    state = _fresh_policy_state(run, setup, round_index)
  params = {'policy': distributed.local_copy(state.policy_params),
            'random': jp.asarray(round_index == 0),
            'noise_std': jp.float32(config.bco.policy_noise)}
  reset_key = run.key(streams.BCO_RESET, round_index)
  first_index = len(setup.interactions)
  collected = []
  for start in range(0, wanted, parallel):
    keys = jax.random.split(jax.random.fold_in(reset_key, start), parallel)
    trajectory = jax.device_get(setup.collect(
        params, keys, run.key(streams.BCO_ROLLOUT, round_index, start), 0.0))
    episodes = episodes_lib.trajectory_to_episodes(
        trajectory, source='learner', seed=config.seed,
        episode_indices=np.arange(first_index + start, first_index + start + parallel),
        round_index=round_index)
    collected += episodes[:wanted - start]
  # What the learner did and saw; the expert's labels of these states are not BCO's to use.
  collected = [{**e, 'steps': {k: v for k, v in e['steps'].items() if k != 'expert_action'}}
               for e in collected]
  interactions_path = run.path(INTERACTIONS_DIR)
  rlds.write_episodes(interactions_path, collected, name=f'{config.env.name}_interactions',
                      observation_spec=setup.observation_spec,
                      action_dim=setup.env.action_size,
                      append=rlds.dataset_exists(interactions_path), expert_labels=False)
  setup.interactions.extend(collected)
  return {'env_interactions': int(sum(int(e['episode_metadata']['length']) for e in collected)),
          'interaction_episodes': len(collected),
          'explorer_success_rate': float(np.mean([bool(e['episode_metadata']['success'])
                                                  for e in collected]))}


def _split_interactions(config, setup: _Setup, round_index: int):
  """(training episodes, held-out episodes) of every round up to `round_index`."""
  train, test = [], []
  for k in range(round_index + 1):
    episodes = [e for e in setup.interactions if int(e['episode_metadata']['round']) == k]
    mask = held_out(config, k, len(episodes))
    train += [e for e, out in zip(episodes, mask) if not out]
    test += [e for e, out in zip(episodes, mask) if out]
  return train, test


def _fit_inverse(config, run: run_lib.Run, setup: _Setup, round_index: int):
  """Trains a fresh inverse model on the interactions so far; returns its state and its
  held-out action error."""
  train_episodes, test_episodes = _split_interactions(config, setup, round_index)
  rows = inverse_rows(train_episodes, setup.env.action_size)
  inverse = setup.inverse_config
  windows = policy_lib.windows(inverse.network)  # (s_t, s_t+1): a history of two
  normalization = inputs_lib.normalization(inverse, {
      'observation': rows['observation'], 'action': rows['action'][rows['valid']]})
  capacity = None
  if num_rounds(config):  # one shape over rounds: the compiled update is reused
    most = sum(round_episodes(config, k) for k in range(num_rounds(config) + 1))
    capacity = max(most * (config.env.horizon + 1), len(rows['valid']))
  dataset = DeviceDataset.from_numpy(
      inputs_lib.training_rows(rows, windows), sharding.replicated(run.mesh),
      row_weights=rows['valid'].astype(np.float64), capacity=capacity)
  example = inputs_lib.first_observation(rows['observation'], windows)
  state = run.init_state(setup.inverse, run.key(streams.BCO_INVERSE, round_index), example,
                         normalization)
  state, _, _ = run.fit(setup.inverse, state, dataset, train=inverse.train,
                        directory=_round_dir(round_index, 'inverse'))
  diagnostics = {'num_interaction_rows': int(rows['valid'].sum())}
  if test_episodes:
    test_rows = inverse_rows(test_episodes, setup.env.action_size)
    labels = setup.label(state.policy_params, test_rows)
    diagnostics['inverse_heldout_mse'] = label_error(labels, test_rows['action'],
                                                     test_rows['valid'])
  return state, diagnostics


def _fit_policy(run: run_lib.Run, setup: _Setup, round_index: int, labels: np.ndarray):
  """Trains a fresh BC policy on the demonstrations with the inferred `labels`."""
  transitions = labelled_transitions(setup.demo_rows, labels)
  normalization = inputs_lib.normalization(run.config, transitions)
  state = _fresh_policy_state(run, setup, round_index, normalization)
  dataset = inputs_lib.device_dataset(run.config, run.mesh, transitions,
                                      policy_lib.windows(run.config.network))
  state, _, _ = run.fit(setup.policy, state, dataset,
                        directory=_round_dir(round_index, 'policy'))
  return state, int(transitions['action'].shape[0])


def _account(progress: Dict[str, Any], round_index: int, num_transitions: int,
             diagnostics: Dict[str, Any], evaluation: Dict[str, Any]) -> Dict[str, Any]:
  """Closes round `round_index` in `progress`: its record, with the running total of
  environment interactions."""
  record = {'round': round_index, **progress['pending'], **diagnostics,
            'num_transitions': num_transitions,
            'success_rate': evaluation['success_rate'],
            'success_rate_stderr': evaluation['success_rate_stderr']}
  return rounds_lib.close_round(progress, round_index, record, ('env_interactions',))


def _round_dir(round_index: int, model: str) -> str:
  """A round's checkpoints and training curve of `model` (inverse or policy)."""
  return os.path.join('rounds', str(round_index), model)


CONFIG_RULES = {
    'bco.pre_interactions': rules.positive_int(),
    'bco.alpha': rules.non_negative_number(),
    'bco.num_rounds': rules.positive_int(),
    'bco.num_parallel_envs': rules.positive_int(),
    'bco.policy_noise': rules.non_negative_number(),
    'bco.action_limit': rules.positive_number(),
    'bco.holdout_fraction': rules.fraction(),
    'bco.label_batch_size': rules.positive_int(),
    'bco.inverse.num_steps': rules.positive_int(),
    'bco.inverse.batch_size': rules.positive_int(),
}
