"""DAgger (Ross et al. 2011) and its gated variants, on tasks whose expert labels any state.

Round 0 is BC on the expert demonstrations. Each later round rolls out the current policy
in parallel environments (one compiled, vectorized rollout), the expert labels states it
visits, the labelled episodes are APPENDED to the run's RLDS dataset (source='dagger',
round=k) and the policy is retrained on everything collected so far. Variants:

* `classic`: the beta-mixture policy acts (expert with probability beta_k per step) and the
  expert labels every visited state.
* `intervention` (HG-DAgger style, the seed's "action looks bad"): the learner drives; the
  expert takes over where the learner's action is further than `action_threshold` from its
  own and hands back once it is within `return_fraction` of that; only the states the
  expert controlled are labelled.
* `ensemble` (EnsembleDAgger style): an ensemble trained in one program; the expert takes
  over where the members disagree by more than `uncertainty_threshold` (and, if finite,
  where the action gate fires); only those states are labelled.

Every round counts expert labels, interventions (takeovers) and environment steps.
Progress (round, counters, the dataset's rounds) is saved after each step of a round, so a
stopped run resumes in the round it was in without collecting a round twice.
"""

import functools
import json
import os
import time
from typing import Any, Dict, List, Optional

from absl import logging
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import envs
from imitation.agents import acting
from imitation.agents import bc
from imitation.agents import ensemble
from imitation.data import demonstrations
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import rlds
from imitation.data import transitions as transitions_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.errors import ConfigError
from imitation.evaluation import rollout as rollout_lib
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import policy as policy_lib
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import loop
from imitation.training import metric_writer
from imitation.training import optimizers
from imitation.training import sharding
from imitation.training import workdir as workdir_lib

ALGORITHM = 'dagger'
VARIANTS = ('classic', 'intervention', 'ensemble')
BETA_SCHEDULES = ('constant', 'linear', 'exponential', 'indicator')
DATASET_DIR = 'dataset'
PROGRESS_FILE = 'dagger_progress.json'
# Independent key streams derived from the run's seed.
INIT_STREAM, EVAL_STREAM, ROLLOUT_STREAM = 0, 1, 2


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
  uncertainty_threshold = gate.uncertainty_threshold if config.variant == 'ensemble' else np.inf
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
  if config.dagger.variant not in VARIANTS:
    raise ConfigError(
        f'unknown dagger.variant {config.dagger.variant!r}; available: {", ".join(VARIANTS)}')
  if config.dagger.num_rounds < 0 or config.dagger.episodes_per_round <= 0:
    raise ConfigError('dagger.num_rounds must be >= 0 and dagger.episodes_per_round > 0')
  beta(config.dagger.beta, 1)  # validates the schedule's name
  make_gate(config.dagger)


def _read_progress(workdir: str) -> Dict[str, Any]:
  path = os.path.join(workdir, PROGRESS_FILE)
  if not os.path.exists(path):
    return {'completed_round': -1, 'collected_round': 0, 'rounds': [], 'pending': None}
  with open(path) as f:
    return json.load(f)


def _episodes_up_to(path: str, round_index: int) -> List[episodes_lib.Episode]:
  episodes, _ = rlds.load_episodes(path)
  return [e for e in episodes if int(e['episode_metadata']['round']) <= round_index]


class _Learner:
  """Policy, optimizer and the compiled pieces shared by every round of a run."""

  def __init__(self, config: ml_collections.ConfigDict, env, mesh):
    self.is_ensemble = config.dagger.variant == 'ensemble'
    self.policy = policy_lib.make_policy(config.network, env.action_size)
    self.optimizer = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
    if self.is_ensemble:
      members = config.dagger.ensemble.num_members
      self.init = functools.partial(ensemble.init, num_members=members)
      self.update = ensemble.make_update(self.policy, self.optimizer,
                                         config.augment.random_shift_pad)
      self.act_fn = ensemble.make_act_fn(self.policy)
      self.uncertainty_fn = ensemble.make_uncertainty_fn(self.policy)
    else:
      self.init = bc.init
      self.update = bc.make_update(self.policy, self.optimizer, config.augment.random_shift_pad)
      self.act_fn = acting.make_act_fn(self.policy, deterministic=config.eval.deterministic)
      self.uncertainty_fn = None

    # Compiled once, used for every round's fresh state.
    self._init = jax.jit(
        functools.partial(self.init, policy=self.policy, optimizer=self.optimizer),
        out_shardings=sharding.replicated(mesh),
    )

  def fresh_state(self, rng, example_observation, normalization):
    return self._init(rng, example_observation=example_observation, normalization=normalization)


def train(
    config: ml_collections.ConfigDict, workdir: str, *, stop_at_round: Optional[int] = None
) -> Dict[str, Any]:
  """Runs (or resumes) DAgger as `config` says; returns what it writes to results.json.

  Leaves in `workdir`: config.json, demos/ (if it collected them), dataset/ (the
  aggregated RLDS dataset), rounds/K/checkpoints, dagger_progress.json, tensorboard/,
  metrics.jsonl (per round; each round's training curve in rounds/K/), policy/ (not for
  ensembles) and results.json.

  Args:
    config: the full experiment config (see configs/dagger.py).
    workdir: the run's directory.
    stop_at_round: stop after completing this round, as a preempted job would (no results).
  """
  start_time = time.time()
  check_config(config)
  workdir = workdir_lib.prepare(workdir)
  workdir_lib.save_config(workdir, config)
  seed_key = jax.random.PRNGKey(config.seed)
  dagger_config = config.dagger
  variant = dagger_config.variant

  env = envs.make_from_config(config.env)
  spec = envs.observation_spec(env)
  demos_path = demonstrations.resolve_dataset(config, workdir)
  dataset_path = os.path.join(workdir, DATASET_DIR)
  if not rlds.dataset_exists(dataset_path):
    demos, metadata, _ = demonstrations.load_episodes(config, demos_path)
    for episode in demos:
      episode['episode_metadata']['round'] = np.int32(0)
    rlds.write_episodes(dataset_path, demos, observation_spec=spec,
                        action_dim=env.action_size, metadata=metadata)

  mesh = sharding.make_mesh(config.num_devices)
  replicated = sharding.replicated(mesh)
  learner = _Learner(config, env, mesh)
  # Normalisation comes from the demonstrations and stays fixed over rounds, so a
  # warm-started policy sees its inputs on the same scale in every round.
  demo_episodes = _episodes_up_to(dataset_path, 0)
  num_demos = len(demo_episodes)
  demo_transitions = transitions_lib.episodes_to_transitions(
      demo_episodes, config.data.action_key)
  normalization = normalization_lib.compute(
      demo_transitions,
      min_std=config.normalization.min_std,
      normalize_observations=config.normalization.observations,
      normalize_actions=config.normalization.actions,
  )
  example_observation = jax.tree.map(lambda x: x[:1], demo_transitions['observation'])

  collect = jax.jit(rollout_lib.make_rollout(
      env, config.env.horizon, learner.act_fn,
      uncertainty_fn=learner.uncertainty_fn, gate=make_gate(dagger_config)))
  evaluator = Evaluator(env, learner.act_fn, config.eval.num_episodes, config.env.horizon)
  eval_key = jax.random.fold_in(seed_key, EVAL_STREAM)
  writer = metric_writer.MetricWriter(workdir)

  progress = _read_progress(workdir)
  resumed_after_round = progress['completed_round'] if progress['completed_round'] >= 0 else None
  params = None
  if resumed_after_round is not None:
    template = learner.fresh_state(seed_key, example_observation, normalization)
    params = _round_checkpointer(workdir, resumed_after_round).restore(template).params
    logging.info('resuming DAgger after round %d', resumed_after_round)

  state, evaluation = None, None
  for round_index in range(progress['completed_round'] + 1, dagger_config.num_rounds + 1):
    # 1. Collect and label (skipped if this round's data was already written).
    if round_index == 0:
      num_demo_steps = int(demo_transitions['action'].shape[0])
      progress['pending'] = {'beta': 1.0, 'expert_labels': num_demo_steps, 'interventions': 0,
                             'env_steps': num_demo_steps}
    elif progress['collected_round'] < round_index:
      # Gated variants let the learner drive; only the gate hands control to the expert.
      round_beta = beta(dagger_config.beta, round_index) if variant == 'classic' else 0.0
      reset_keys = _round_reset_keys(config.seed, round_index, dagger_config.episodes_per_round)
      trajectory = jax.device_get(collect(
          (params, normalization), reset_keys,
          jax.random.fold_in(jax.random.fold_in(seed_key, ROLLOUT_STREAM), round_index),
          round_beta,
      ))
      first = round_index * dagger_config.episodes_per_round
      new_episodes = episodes_lib.trajectory_to_episodes(
          trajectory, source='dagger', seed=config.seed,
          episode_indices=np.arange(first, first + dagger_config.episodes_per_round),
          task_id=config.env.task_id, round_index=round_index,
          labelled=np.asarray(labelled_mask(trajectory, variant)),
      )
      if new_episodes:
        rlds.write_episodes(dataset_path, new_episodes, observation_spec=spec,
                            action_dim=env.action_size, append=True)
      rollout_success = rollout_lib.episode_statistics(trajectory)['success']
      progress['collected_round'] = round_index
      progress['pending'] = {'beta': round_beta, **round_budget(trajectory, variant),
                             'rollout_success_rate': float(np.mean(rollout_success))}
      workdir_lib.write_json(workdir, PROGRESS_FILE, progress)

    # 2. Retrain on the aggregate D_0 U ... U D_k.
    data = transitions_lib.episodes_to_transitions(
        _episodes_up_to(dataset_path, round_index), config.data.action_key)
    dataset = DeviceDataset.from_numpy(
        {'observation': data['observation'], 'action': data['action']}, replicated)
    state = learner.fresh_state(
        jax.random.fold_in(jax.random.fold_in(seed_key, INIT_STREAM), round_index),
        example_observation, normalization)
    if dagger_config.warm_start and params is not None:
      state = state.replace(params=jax.device_put(params, replicated))
    checkpointer = _round_checkpointer(workdir, round_index, config.train.keep_checkpoints)
    resumed_from_step = checkpointer.latest_step()
    if resumed_from_step is not None:
      state = jax.device_put(checkpointer.restore(state), replicated)
    round_writer = metric_writer.MetricWriter(
        _round_dir(workdir, round_index), resume_step=resumed_from_step)
    state, _ = loop.fit(
        state, dataset, learner.update, config=config.train, mesh=mesh,
        checkpointer=checkpointer, writer=round_writer, progress_bar=config.progress_bar,
    )
    round_writer.close()
    checkpointer.close()
    params = state.params

    # 3. Evaluate the learner alone and account for the round.
    evaluation = evaluator(state.policy_params, eval_key)
    record = {'round': round_index, **progress['pending'],
              'num_transitions': int(data['action'].shape[0]),
              'success_rate': evaluation['success_rate'],
              'success_rate_stderr': evaluation['success_rate_stderr'],
              'closed_loop_action_mse': evaluation['action_mse']}
    previous = progress['rounds'][-1] if progress['rounds'] else {}
    for key in ('expert_labels', 'interventions', 'env_steps'):
      record[f'total_{key}'] = previous.get(f'total_{key}', 0) + record[key]
    progress['rounds'].append(record)
    progress['completed_round'] = round_index
    progress['pending'] = None
    workdir_lib.write_json(workdir, PROGRESS_FILE, progress)
    writer.write(round_index, {k: v for k, v in record.items() if k != 'round'},
                 prefix='round/')
    logging.info('DAgger round %d: %s', round_index, record)
    if stop_at_round is not None and round_index >= stop_at_round:
      break

  if progress['completed_round'] < dagger_config.num_rounds:
    writer.close()
    return {}
  if state is None:  # everything was already done: rebuild the final policy
    state = learner.fresh_state(seed_key, example_observation, normalization)
    state = state.replace(params=params)
  # The last round's evaluation is the learner's half of the final comparison.
  final = evaluator.versus_expert(state.policy_params, eval_key, learner=evaluation)
  if not learner.is_ensemble:
    checkpoint_lib.export_policy(
        os.path.join(workdir, 'policy'), state.params, state.normalization,
        network_config=config.network, action_dim=env.action_size,
        extra={'env': config.env.to_dict(), 'algorithm': ALGORITHM},
    )
  last = progress['rounds'][-1]
  results = {
      'task': config.env.name,
      'algorithm': ALGORITHM,
      'variant': variant,
      'seed': config.seed,
      'steps': int(jax.device_get(state.step)),  # of the final round's training
      **final,
      'num_demos': num_demos,
      'num_transitions': last['num_transitions'],
      'expert_labels': last['total_expert_labels'],
      'interventions': last['total_interventions'],
      'env_steps': last['total_env_steps'],
      'rounds': progress['rounds'],
      'dataset': dataset_path,
      'wall_time_s': time.time() - start_time,  # of this process only
      'resumed_after_round': resumed_after_round,
      'config': config.to_dict(),
  }
  workdir_lib.write_json(workdir, 'results.json', results)
  writer.close()
  return results


def _round_dir(workdir: str, round_index: int) -> str:
  return os.path.join(workdir, 'rounds', str(round_index))


def _round_checkpointer(workdir: str, round_index: int, keep: int = 1):
  return checkpoint_lib.Checkpointer(
      os.path.join(_round_dir(workdir, round_index), 'checkpoints'), max_to_keep=keep)


def _round_reset_keys(seed: int, round_index: int, num_episodes: int) -> jax.Array:
  """Episode keys of a round, disjoint from the demos' and the evaluation's."""
  base = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), ROLLOUT_STREAM + 100),
                            round_index)
  return jax.random.split(base, num_episodes)
