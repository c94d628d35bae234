"""DAgger (Ross et al. 2011) and its gated variants, on tasks whose expert labels any state.

Round 0 is BC on the expert demonstrations. Each later round rolls out the current policy
in parallel environments (one compiled, vectorized rollout), the expert labels states it
visits, the labelled episodes are APPENDED to the run's RLDS dataset (source='dagger',
round=k) and the policy is retrained on everything collected so far. Variants:

* `classic`: the beta-mixture policy acts (expert with probability beta_k per step) and the
  expert labels every visited state.
* `intervention` (HG-DAgger style: the expert steps in when an action looks bad): the
  learner drives; the expert takes over where the learner's action is further than
  `action_threshold` from its own and hands back once it is within `return_fraction` of
  that; only the states the expert controlled are labelled.
* `ensemble` (EnsembleDAgger style): an ensemble trained in one program; the expert takes
  over where the members disagree by more than `uncertainty_threshold` (and, if finite,
  where the action gate fires); only those states are labelled.
* `sampled`: one policy with a stochastic head (diffusion, flow, mixture, Gaussian,
  categorical); its uncertainty is the spread of `gate.num_samples` actions (or chunks)
  sampled from it, gated as the ensemble's disagreement is.

Every round counts expert labels, interventions (takeovers) and environment steps.
Progress (round, counters, the dataset's rounds) is saved after each step of a round, so a
stopped run resumes in the round it was in without collecting a round twice.

The aggregate that training reads stays in memory; each round's episodes are appended to the
RLDS dataset by a background thread while the learner retrains, and the round counts as
collected (in the progress file) only once they are on disk.
"""

from concurrent import futures
import copy
import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

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
from imitation.agents import ensemble
from imitation.agents import rounds as rounds_lib
from imitation.data import demonstrations
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import rlds
from imitation.data import state_only
from imitation.data import transitions as transitions_lib
from imitation.envs import rollout as rollout_lib
from imitation.errors import ConfigError, DatasetError
from imitation.evaluation import acting
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import policy as policy_lib
from imitation.training import distributed
from imitation.training import inputs as inputs_lib
from imitation.training import run as run_lib
from imitation.training.learner import Learner, example_observation

ALGORITHM = 'dagger'
VARIANTS = ('classic', 'intervention', 'ensemble', 'sampled')
UNCERTAINTY_VARIANTS = ('ensemble', 'sampled')  # gate on the learner's uncertainty too
BETA_SCHEDULES = ('constant', 'linear', 'exponential', 'indicator')
DATASET_DIR = 'dataset'
PROGRESS_FILE = 'dagger_progress.json'
BUDGET_KEYS = ('expert_labels', 'interventions', 'env_steps')


def dataset_name(config: ml_collections.ConfigDict) -> str:
  """The TFDS name of the aggregate (WORKDIR/dataset/NAME/1.0.0): `<task>_dagger`."""
  return f'{config.env.name}_dagger'


def beta(config: ml_collections.ConfigDict, round_index: int) -> float:
  """The probability that the expert acts in DAgger round `round_index` >= 1.

  Round 0 is the expert's own demonstrations (beta = 1). `config` is `dagger.beta`:
  constant: beta0. linear: beta0 at round 1 falling to 0 at round `num_rounds`.
  exponential: p ** round_index (Ross et al.'s beta_i = p^(i-1), counting demos as i=1).
  indicator: 0 (the expert only demonstrates: pure DAgger).
  """
  if round_index <= 0:
    return 1.0
  if config.schedule == 'constant':
    return float(config.beta0)
  if config.schedule == 'linear':
    span = max(config.num_rounds - 1, 1)
    return float(max(0.0, config.beta0 * (1.0 - (round_index - 1) / span)))
  if config.schedule == 'exponential':
    return float(config.p ** round_index)
  if config.schedule == 'indicator':
    return 0.0
  raise ConfigError(
      f'unknown dagger.beta.schedule {config.schedule!r}; available: {", ".join(BETA_SCHEDULES)}')


def make_gate(config: ml_collections.ConfigDict) -> Optional[rollout_lib.GateFn]:
  """The expert's takeover rule for the gated variants (None for classic).

  It takes control where a criterion exceeds its threshold and keeps it until every
  criterion is below `return_fraction` of its threshold (hysteresis, so control does not
  flicker). The action criterion is the L2 distance between learner and expert actions.
  """
  if config.variant == 'classic':
    return None
  gate = config.gate
  action_threshold = gate.action_threshold
  uncertainty_threshold = (gate.uncertainty_threshold if config.variant in UNCERTAINTY_VARIANTS
                           else np.inf)
  if not (np.isfinite(action_threshold) or np.isfinite(uncertainty_threshold)):
    raise ConfigError(f'dagger variant {config.variant!r} needs a finite gate threshold')

  def takes_control(was_in_control, learner_action, expert_action, uncertainty):
    distance = jp.linalg.norm(learner_action - expert_action, axis=-1)
    scale = jp.where(was_in_control, gate.return_fraction, 1.0)
    return (distance > scale * action_threshold) | (uncertainty > scale * uncertainty_threshold)

  return takes_control


def labelled_mask(trajectory: rollout_lib.Trajectory, variant: str) -> jax.Array:
  """[T, num_envs]: the states the expert labels, within each episode."""
  mask = rollout_lib.episode_mask(trajectory.done)
  if variant == 'classic':
    return mask
  return mask * trajectory.expert_in_control


def round_budget(trajectory: rollout_lib.Trajectory, variant: str) -> Dict[str, int]:
  """Expert labels, interventions (takeovers of control) and environment steps of a round."""
  mask = rollout_lib.episode_mask(trajectory.done)
  interventions = 0
  if variant != 'classic':
    interventions = int(jp.sum(rollout_lib.takeovers(trajectory.expert_in_control) * mask))
  return {
      'expert_labels': int(jp.sum(labelled_mask(trajectory, variant))),
      'interventions': interventions,
      'env_steps': int(jp.sum(mask)),
  }


def check_config(config: ml_collections.ConfigDict) -> None:
  rules.require(config, CONFIG_RULES)
  make_gate(config.dagger)  # a gated variant needs a finite threshold
  if config.dagger.variant == 'sampled' and config.network.head == 'deterministic':
    raise ConfigError("dagger.variant='sampled' gates on the spread of the head's samples; "
                      "the deterministic head has none: use network.head=diffusion, flow, "
                      "mixture, gaussian or categorical (or variant='ensemble')")
  if jax.process_count() > 1:  # each round's rollouts would be written by every process
    raise ConfigError('DAgger runs in one process (its devices may be many); '
                      'multi-process runs are for bc and multitask')
  if not config.env.name or config.data.get('format', 'imitation') != 'imitation':
    raise ConfigError('DAgger needs an environment with an expert and starts from this '
                      "project's own demonstrations (data.format=imitation); train BC on "
                      'foreign data instead')


def make_learner(config: ml_collections.ConfigDict, action_size: int) -> Learner:
  """The learner DAgger retrains each round: an ensemble for the `ensemble` variant, else BC
  (reporting the spread of its samples as its uncertainty for the `sampled` variant)."""
  if config.dagger.variant == 'ensemble':
    return ensemble.make_learner(config, action_size, config.dagger.ensemble.num_members)
  learner = bc.make_learner(config, action_size)
  if config.dagger.variant == 'sampled':
    learner = dataclasses.replace(learner, uncertainty=acting.make_spread_fn(
        learner.policy, config.dagger.gate.num_samples))
  return learner


@dataclasses.dataclass
class _Setup:
  """What every round of a run shares."""

  env: Any
  observation_spec: Dict[str, Any]  # of one observation, as the dataset stores it
  learner: Learner
  dataset_path: str  # the aggregated RLDS dataset: demos (round 0), then each round's labels
  num_demos: int
  num_demo_steps: int
  example_observations: Dict[str, Any]
  normalization: normalization_lib.Normalization  # from the demos, fixed over rounds
  collect: Callable[..., rollout_lib.Trajectory]  # the compiled learner rollout
  evaluator: Evaluator
  eval_key: jax.Array
  episodes: List[episodes_lib.Episode]  # the aggregate D_0 U ... U D_k, as training reads it
  writer: futures.ThreadPoolExecutor  # appends each round to the dataset, off the main thread

  def fresh_state(self, run: run_lib.Run, rng: jax.Array):
    return run.init_state(self.learner, rng, self.example_observations, self.normalization)


def train(
    config: ml_collections.ConfigDict, workdir: str, *, stop_at_round: Optional[int] = None
) -> Dict[str, Any]:
  """Runs (or resumes) DAgger as `config` says; returns what it writes to results.json.

  Leaves in `workdir`: config.json, demos/ (if it collected them), dataset/ (the
  aggregated RLDS dataset), rounds/K/checkpoints, rounds/K/policy (each round's policy, not
  for ensembles), dagger_progress.json, tensorboard/,
  metrics.jsonl (per round; each round's training curve in rounds/K/), policy/ (not for
  ensembles) and results.json.

  Args:
    config: the full experiment config (see configs/dagger.py).
    workdir: the run's directory.
    stop_at_round: stop after completing this round, as a preempted job would (no results).
  """
  check_config(config)
  run = run_lib.Run(config, workdir)
  progress = rounds_lib.read_progress(run.workdir, PROGRESS_FILE, collected_round=0)
  setup = _set_up(config, run, progress['collected_round'])
  try:
    return _train_rounds(config, run, setup, progress, stop_at_round)
  finally:
    setup.writer.shutdown(wait=True)  # a round's episodes reach the disk even on an error


def _train_rounds(config, run, setup: _Setup, progress: Dict[str, Any],
                  stop_at_round: Optional[int]) -> Dict[str, Any]:
  """The rounds still to do, then the results (see `train`)."""
  resumed_after_round = progress['completed_round'] if progress['completed_round'] >= 0 else None
  state = evaluation = None
  if resumed_after_round is not None:  # the last completed round's final train state
    template = setup.fresh_state(run, run.key(streams.INIT, resumed_after_round))
    state = run.restore(template, _round_dir(resumed_after_round))
    logging.info('resuming DAgger after round %d', resumed_after_round)

  rounds = progress_lib.bar(total=config.dagger.num_rounds + 1,
                            initial=progress['completed_round'] + 1, desc='dagger rounds',
                            unit='round')
  for round_index in range(progress['completed_round'] + 1, config.dagger.num_rounds + 1):
    params = None if state is None else state.params  # the previous round's policy
    written = None
    if round_index == 0:
      progress['pending'] = {'beta': 1.0, 'expert_labels': setup.num_demo_steps,
                             'interventions': 0, 'env_steps': setup.num_demo_steps}
    elif progress['collected_round'] < round_index:  # not yet collected before a stop
      progress['pending'], written = _collect_round(
          config, run, setup, round_index, params, progress)
      progress['collected_round'] = round_index
    state, num_transitions = _retrain(config, run, setup, round_index, params)
    if written is not None:
      written.result()  # the round is on disk (and recorded) before the round closes
    evaluation = setup.evaluator(state.policy_params, setup.eval_key)
    if setup.learner.exportable:  # each round's policy, for studies of success vs labels
      run.export_policy(setup.learner, state, setup.env.action_size, ALGORITHM,
                        directory=os.path.join(_round_dir(round_index), run_lib.POLICY_DIR))
    record = _account(progress, round_index, num_transitions, evaluation,
                      elapsed_s=time.time() - run.start_time)
    run.write_json(PROGRESS_FILE, progress)
    run.writer().write(round_index, {k: v for k, v in record.items() if k != 'round'},
                       prefix='round/')
    logging.info('DAgger round %d: %s', round_index, record)
    rounds.update(1)
    if stop_at_round is not None and round_index >= stop_at_round:
      break
  rounds.close()

  if progress['completed_round'] < config.dagger.num_rounds:
    return run.stop()
  last = progress['rounds'][-1]
  return run.finish(
      ALGORITHM, learner=setup.learner, state=state, action_size=setup.env.action_size,
      final_step=config.dagger.num_rounds,
      # The last round's evaluation is the learner's half of the final comparison.
      evaluation=setup.evaluator.versus_expert(state.policy_params, setup.eval_key,
                                               learner=evaluation),
      num_demos=setup.num_demos, num_transitions=last['num_transitions'],
      dataset=setup.dataset_path, variant=config.dagger.variant,
      **{key: last[f'total_{key}'] for key in BUDGET_KEYS},
      rounds=progress['rounds'], resumed_after_round=resumed_after_round)


def _set_up(config: ml_collections.ConfigDict, run: run_lib.Run, collected_round: int) -> _Setup:
  """The environment, learner, aggregated dataset (started with the demos; read back up to
  `collected_round` when resuming), normalisation and the compiled rollout and evaluator,
  as every round uses them."""
  env = envs.make_from_config(config.env)
  observation_spec = envs.observation_spec(env)
  learner = make_learner(config, env.action_size)
  dataset_path = run.path(DATASET_DIR)
  if not rlds.dataset_exists(dataset_path):
    demos_path = demonstrations.resolve_dataset(config, run.workdir)
    demos, metadata, _ = demonstrations.load_episodes(config, demos_path)
    if not state_only.has_actions(demos[0]):
      raise DatasetError(state_only.REFUSAL)
    for episode in demos:
      episode['episode_metadata']['round'] = np.int32(0)
    rlds.write_episodes(dataset_path, demos, observation_spec=observation_spec,
                        action_dim=env.action_size, metadata=metadata,
                        name=dataset_name(config))
  # Normalisation comes from the demonstrations and stays fixed over rounds, so a
  # warm-started policy sees its inputs on the same scale in every round.
  episodes = _episodes_up_to(dataset_path, collected_round)
  demo_episodes = [e for e in episodes if int(e['episode_metadata']['round']) == 0]
  demos = transitions_lib.episodes_to_transitions(demo_episodes, config.data.action_key)
  collect = jax.jit(rollout_lib.make_rollout(
      env, config.env.horizon, learner.act, uncertainty_fn=learner.uncertainty,
      gate=make_gate(config.dagger)))
  return _Setup(
      env=env, observation_spec=observation_spec, learner=learner, dataset_path=dataset_path,
      num_demos=len(demo_episodes),
      num_demo_steps=int(demos['action'].shape[0]),
      example_observations=policy_lib.history_of_first(
          example_observation(demos['observation']), policy_lib.windows(config.network).history),
      normalization=inputs_lib.normalization(config, demos),
      collect=collect,
      evaluator=Evaluator(env, learner.act, config.eval.num_episodes, config.env.horizon),
      eval_key=run.key(streams.EVAL), episodes=episodes,
      writer=futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix='dagger_writer'))


def _collect_round(config, run, setup: _Setup, round_index: int, params,
                   progress: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[futures.Future]]:
  """Rolls out the learner of round `round_index - 1` and adds the labelled episodes to the
  in-memory aggregate; returns the round's beta, budget and rollout success, and the
  background write that appends them to the dataset and then records the round as
  collected in the progress file (None when there was nothing to write)."""
  variant = config.dagger.variant
  num_episodes = config.dagger.episodes_per_round
  # Gated variants let the learner drive; only the gate hands control to the expert.
  round_beta = beta(config.dagger.beta, round_index) if variant == 'classic' else 0.0
  reset_keys = jax.random.split(run.key(streams.DAGGER_RESET, round_index), num_episodes)
  with progress_lib.task(f'round {round_index}: rolling out the learner', num_episodes,
                         'episode', leave=False):
    trajectory = jax.device_get(setup.collect(
        distributed.local_copy((params, setup.normalization)), reset_keys,
        run.key(streams.DAGGER_ROLLOUT, round_index), round_beta))
  first = round_index * num_episodes
  new_episodes = episodes_lib.trajectory_to_episodes(
      trajectory, source='dagger', seed=config.seed,
      episode_indices=np.arange(first, first + num_episodes), round_index=round_index,
      labelled=np.asarray(labelled_mask(trajectory, variant)),
  )
  rollout_success = rollout_lib.episode_statistics(trajectory)['success']
  pending = {'beta': round_beta, **round_budget(trajectory, variant),
             'rollout_success_rate': float(np.mean(rollout_success))}
  setup.episodes.extend(new_episodes)
  collected = copy.deepcopy({**progress, 'pending': pending, 'collected_round': round_index})

  def write():
    if new_episodes:
      rlds.write_episodes(setup.dataset_path, new_episodes, name=dataset_name(config),
                          observation_spec=setup.observation_spec,
                          action_dim=setup.env.action_size, append=True)
    run.write_json(PROGRESS_FILE, collected)

  return pending, setup.writer.submit(write)


def _retrain(config, run, setup: _Setup, round_index: int, params):
  """Trains a fresh (or warm-started) learner on the aggregate D_0 U ... U D_k."""
  episodes = [e for e in setup.episodes if int(e['episode_metadata']['round']) <= round_index]
  data = transitions_lib.episodes_to_transitions(episodes, config.data.action_key)
  state = setup.fresh_state(run, run.key(streams.INIT, round_index))
  if config.dagger.warm_start and params is not None:
    state = state.replace(params=jax.device_put(params, run.replicated))
  # Padded to the last round's size: every round trains with the same compiled chunk.
  capacity = setup.num_demo_steps + (config.dagger.num_rounds * config.dagger.episodes_per_round
                                     * config.env.horizon)
  capacity = max(capacity, int(data['action'].shape[0]))
  dataset = inputs_lib.device_dataset(config, run.mesh, data, policy_lib.windows(config.network),
                                      capacity=capacity)
  state, _, _ = run.fit(setup.learner, state, dataset, directory=_round_dir(round_index))
  return state, int(data['action'].shape[0])


def _account(progress: Dict[str, Any], round_index: int, num_transitions: int,
             evaluation: Dict[str, float], elapsed_s: float) -> Dict[str, Any]:
  """Closes round `round_index` in `progress`: its record, with running budget totals and
  the seconds since this process started the run (a resumed run counts its own)."""
  record = {'round': round_index, **progress['pending'],
            'num_transitions': num_transitions, 'elapsed_s': elapsed_s,
            'success_rate': evaluation['success_rate'],
            'success_rate_stderr': evaluation['success_rate_stderr'],
            'closed_loop_action_mse': evaluation['action_mse']}
  return rounds_lib.close_round(progress, round_index, record, BUDGET_KEYS)


def _episodes_up_to(path: str, round_index: int) -> List[episodes_lib.Episode]:
  episodes, _ = rlds.load_episodes(path)
  return [e for e in episodes if int(e['episode_metadata']['round']) <= round_index]


def _round_dir(round_index: int) -> str:
  """A round's checkpoints and training curve, relative to the workdir."""
  return os.path.join('rounds', str(round_index))


CONFIG_RULES = {
    'dagger.variant': rules.one_of(VARIANTS),
    'dagger.num_rounds': rules.positive_int(),
    'dagger.episodes_per_round': rules.positive_int(),
    'dagger.beta.schedule': rules.one_of(BETA_SCHEDULES),
    'dagger.beta.beta0': rules.fraction(),
    'dagger.beta.p': rules.fraction(),  # the exponential schedule's p, beta_i = p^i
    'dagger.ensemble.num_members': rules.int_at_least(2),
    'dagger.gate.num_samples': rules.int_at_least(2),
    # A threshold of inf turns its criterion off; one of them must stay finite (make_gate).
    'dagger.gate.action_threshold': rules.positive_or_off(),
    'dagger.gate.uncertainty_threshold': rules.positive_or_off(),
    'dagger.gate.return_fraction': rules.fraction(low_open=True),
    'dagger.warm_start': rules.boolean(),
}
