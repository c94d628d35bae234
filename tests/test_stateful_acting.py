"""A policy with a per-episode state runs through evaluation, collection and DAgger as is.

The test policy replays a fixed action sequence: its state is the step it is at, so no
stateless policy could act as it does, and a rollout that dropped, reused or failed to
start the state afresh would play other actions.
"""

import dataclasses
import os

import jax
from jax import numpy as jp
import numpy as np
import pytest

from configs import dagger as dagger_config
from imitation import envs
from imitation.agents import bc
from imitation.agents import dagger
from imitation.data import collect
from imitation.data import rlds
from imitation.envs import rollout as rollout_lib
from imitation.evaluation.evaluator import Evaluator


def replay_actor(sequence: np.ndarray) -> rollout_lib.Actor:
  """Plays sequence[t] at an episode's step t (the last action after the end)."""
  sequence = jp.asarray(sequence, jp.float32)

  def initial_state(policy_params, observation):
    del policy_params
    return jp.zeros((jax.tree.leaves(observation)[0].shape[0],), jp.int32)

  def act(policy_params, observation, step, rng):
    del policy_params, observation, rng
    return sequence[jp.minimum(step, len(sequence) - 1)], step + 1

  return rollout_lib.Actor(act, initial_state)


def _sequence(length: int, action_size: int, seed: int = 0) -> np.ndarray:
  return np.asarray(0.5 * jax.random.uniform(jax.random.PRNGKey(seed), (length, action_size),
                                             minval=-1.0, maxval=1.0))


def _recorded_actions_follow(actions: np.ndarray, sequence: np.ndarray) -> None:
  np.testing.assert_allclose(actions, sequence[:len(actions)], rtol=1e-6)


def test_evaluation_plays_the_sequence_from_each_episode_start(debug_config):
  env = envs.make_from_config(debug_config.env)
  horizon = debug_config.env.horizon
  sequence = _sequence(horizon, env.action_size)
  actor = replay_actor(sequence)
  # The evaluator's figures are those of the sequence replayed on the same episodes
  # (recorded actions, no policy): the actor played it from each episode's start.
  num_episodes, rng = 16, jax.random.PRNGKey(5)
  evaluated = Evaluator(env, actor, num_episodes, horizon)(None, rng)
  reset_keys = jax.random.split(jax.random.split(rng)[0], num_episodes)
  actions = jp.broadcast_to(jp.asarray(sequence)[:, None], (horizon, num_episodes, env.action_size))
  replayed = rollout_lib.episode_statistics(jax.jit(rollout_lib.make_replay(env, horizon))(
      reset_keys, actions, jax.random.PRNGKey(0)))
  assert evaluated['mean_return'] == pytest.approx(float(jp.mean(replayed['return'])), rel=1e-5)
  assert evaluated['success_rate'] == pytest.approx(float(jp.mean(replayed['success'])))


def test_collection_by_a_stateful_previous_policy_records_its_sequence(debug_config, tmp_path):
  config = debug_config.copy_and_resolve_references()
  config.collect.update(num_episodes=4, num_parallel_envs=4, mixture={'policy': 1.0})
  env = envs.make_from_config(config.env)
  sequence = _sequence(config.env.horizon, env.action_size, seed=1)
  summary = collect.collect_demonstrations(config.env, config.collect, str(tmp_path),
                                           policy=(replay_actor(sequence), None))
  episodes, _ = rlds.load_episodes(summary['path'])
  assert len(episodes) == 4
  for episode in episodes:
    assert str(episode['episode_metadata']['source']) == 'policy'
    real = ~np.asarray(episode['steps']['action_is_pad'], bool)
    _recorded_actions_follow(np.asarray(episode['steps']['action'])[real], sequence)


def test_dagger_rolls_out_a_stateful_learner_and_labels_its_states(tmp_path, monkeypatch):
  config = dagger_config.get_config('drive,debug')
  config.dagger.beta.schedule = 'indicator'  # the learner drives every step of rounds >= 1
  env = envs.make_from_config(config.env)
  sequence = _sequence(config.env.horizon, env.action_size, seed=2)

  def make_learner(config, action_size):
    return dataclasses.replace(bc.make_learner(config, action_size), act=replay_actor(sequence))

  monkeypatch.setattr(dagger, 'make_learner', make_learner)
  results = dagger.train(config, str(tmp_path))
  episodes, _ = rlds.load_episodes(os.path.join(str(tmp_path), dagger.DATASET_DIR))
  rounds = [e for e in episodes if int(e['episode_metadata']['round']) > 0]
  assert len(rounds) == config.dagger.num_rounds * config.dagger.episodes_per_round
  for episode in rounds:
    real = ~np.asarray(episode['steps']['action_is_pad'], bool)
    _recorded_actions_follow(np.asarray(episode['steps']['action'])[real], sequence)
  assert results['expert_labels'] == results['env_steps']


def test_a_plain_act_function_is_refused_with_the_fix(debug_config):
  env = envs.make_from_config(debug_config.env)
  with pytest.raises(TypeError, match='rollout.stateless'):
    rollout_lib.make_rollout(env, 5, lambda params, observation, rng: None)
