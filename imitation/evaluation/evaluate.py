"""Evaluating an exported policy beside the expert: metrics, rollout videos, learning curve."""

import json
import os
from typing import Any, Dict

import jax
import ml_collections

from imitation import config_rules as rules
from imitation import atomic
from imitation import envs
from imitation import streams
from imitation.errors import ConfigError
from imitation.evaluation import acting
from imitation.evaluation import video
from imitation.evaluation.evaluator import Evaluator
from imitation.networks import policy as policy_lib
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import metric_writer
from imitation.training import run as run_lib

EVALUATION_DIR = 'evaluation'  # under the workdir: this run's own workdir
EXPERT = 'expert'  # eval.policy_dir value that evaluates and films the expert alone


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
  atomic.save_figure(fig, path)
  plt.close(fig)
  return True


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Evaluates `config.eval.policy_dir` (default WORKDIR/policy) beside the expert.

  Writes into WORKDIR/evaluation (so a training run's own files stay as they were):
  config.json, results.json (the shared schema, plus `policy_dir` and `files`), policy.gif,
  expert.gif and learning_curve.png (when WORKDIR holds training metrics). With
  `policy_dir='expert'` only the expert is evaluated and filmed, which needs no trained policy.
  Episodes come from the EVALUATE key stream, so they differ from training's final
  evaluation (same policy, other episodes).
  """
  if not config.env.name:
    raise ConfigError('env.name is empty: there is no environment to evaluate in; an '
                      "offline run's results.json holds its held-out action error and R^2")
  run = run_lib.Run(config, os.path.join(workdir, EVALUATION_DIR))
  env = envs.make_from_config(config.env)
  key = run.key(streams.EVALUATE)
  if config.eval.policy_dir == EXPERT:
    algorithm, act, policy_params, films = EXPERT, None, None, (('expert', 1.0),)
    evaluator = Evaluator(env, None, config.eval.num_episodes, config.env.horizon)
    expert = evaluator(None, key)
    fields = dict(policy_dir=EXPERT, expert_success_rate=expert['success_rate'],
                  expert_mean_return=expert['mean_return'],
                  num_eval_episodes=expert['num_episodes'])
  else:
    policy_dir = config.eval.policy_dir or os.path.join(workdir, run_lib.POLICY_DIR)
    if not os.path.exists(os.path.join(policy_dir, checkpoint_lib.POLICY_CONFIG)):
      raise ConfigError(
          f'no exported policy in {policy_dir}; train one first, set '
          '--config.eval.policy_dir, or film the expert with --config.eval.policy_dir=expert'
      )
    policy, policy_params, policy_config = checkpoint_lib.load_policy(policy_dir)
    algorithm = policy_config.get('algorithm', 'policy')
    if config.eval.get('inference_steps', 0):
      policy = policy_lib.with_inference_steps(policy, config.eval.inference_steps)
    act = acting.make_act_fn(policy, deterministic=config.eval.deterministic)
    evaluator = Evaluator(env, act, config.eval.num_episodes, config.env.horizon)
    fields = dict(policy_dir=policy_dir, **evaluator.versus_expert(policy_params, key))
    films = (('policy', 0.0), ('expert', 1.0))
  files = []
  if config.eval.video_episodes:
    video_key = jax.random.fold_in(key, streams.VIDEO)
    # One compiled rollout films both the policy and the expert (`beta` picks who acts).
    recorder = video.make_recorder(config.env, act, size=config.eval.video_size)
    for name, beta in films:
      frames = recorder(policy_params, video_key, config.eval.video_episodes, beta)
      files.append(video.save_gif(run.path(f'{name}.gif'), video.tile(frames), env.dt))
  curve = run.path('learning_curve.png')
  if learning_curve(workdir, curve):
    files.append(curve)
  results = run.write_results(algorithm, **fields, files=files)
  run.close()
  return results


CONFIG_RULES = {
    'eval.num_episodes': rules.positive_int(),
    'eval.video_episodes': rules.non_negative_int(),
    'eval.video_size': rules.positive_int(),
    'eval.inference_steps': rules.non_negative_int(),
}
