"""Evaluating an exported policy beside the expert: metrics, rollout videos, learning curve."""

import json
import os
from typing import Any, Dict

import jax
import ml_collections

from imitation import envs
from imitation.agents import acting
from imitation.errors import ConfigError
from imitation.evaluation import video
from imitation.evaluation.evaluator import Evaluator
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import metric_writer
from imitation.training import workdir as workdir_lib

EVAL_STREAM = 7  # key stream for evaluation episodes, distinct from training's


def learning_curve(workdir: str, path: str) -> bool:
  """Plots eval success rate against training step from metrics.jsonl; False if none."""
  metrics_path = os.path.join(workdir, metric_writer.METRICS_FILE)
  if not os.path.exists(metrics_path):
    return False
  steps, success = [], []
  with open(metrics_path) as f:
    for line in f:
      record = json.loads(line)
      if 'eval/success_rate' in record:
        steps.append(record['step'])
        success.append(record['eval/success_rate'])
  if not steps:
    return False
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.plot(steps, success, marker='o')
  ax.set_xlabel('training step')
  ax.set_ylabel('success rate')
  ax.set_ylim(-0.02, 1.02)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return True


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Evaluates `config.eval.policy_dir` (default WORKDIR/policy) and the expert.

  Writes evaluation.json, policy.gif, expert.gif and learning_curve.png (when the workdir
  holds training metrics) into `workdir`. With `policy_dir='expert'` only the expert is
  evaluated and filmed, which needs no trained policy.
  """
  workdir = workdir_lib.prepare(workdir)
  env = envs.make_from_config(config.env)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), EVAL_STREAM)
  results = {'task': config.env.name, 'seed': config.seed}
  if config.eval.policy_dir == 'expert':
    act, policy_params, films = None, None, (('expert', 1.0),)
    evaluator = Evaluator(env, None, config.eval.num_episodes, config.env.horizon)
    expert = evaluator(None, key)
    results.update(policy_dir='expert', expert_success_rate=expert['success_rate'],
                   expert_mean_return=expert['mean_return'],
                   num_eval_episodes=expert['num_episodes'])
  else:
    policy_dir = config.eval.policy_dir or os.path.join(workdir, 'policy')
    if not os.path.exists(os.path.join(policy_dir, checkpoint_lib.POLICY_CONFIG)):
      raise ConfigError(
          f'no exported policy in {policy_dir}; train one first, set '
          '--config.eval.policy_dir, or film the expert with --config.eval.policy_dir=expert'
      )
    policy, policy_params, _ = checkpoint_lib.load_policy(policy_dir)
    act = acting.make_act_fn(policy, deterministic=config.eval.deterministic)
    evaluator = Evaluator(env, act, config.eval.num_episodes, config.env.horizon)
    results.update(policy_dir=policy_dir, **evaluator.versus_expert(policy_params, key))
    films = (('policy', 0.0), ('expert', 1.0))
  results['files'] = []
  if config.eval.video_episodes:
    video_key = jax.random.fold_in(key, 1)
    # One compiled rollout films both the policy and the expert (`beta` picks who acts).
    recorder = video.make_recorder(config.env, act, size=config.eval.video_size)
    for name, beta in films:
      frames = recorder(policy_params, video_key, config.eval.video_episodes, beta)
      path = os.path.join(workdir, f'{name}.gif')
      video.save_gif(path, video.tile(frames), env.dt)
      results['files'].append(path)
  curve = os.path.join(workdir, 'learning_curve.png')
  if learning_curve(workdir, curve):
    results['files'].append(curve)
  results['config'] = config.to_dict()
  workdir_lib.write_json(workdir, 'evaluation.json', results)
  return results
