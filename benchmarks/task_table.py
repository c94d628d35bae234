"""Expert quality and environment throughput for every task, as a markdown table.

  python -m benchmarks.task_table                 # all tasks
  python -m benchmarks.task_table --tasks=reach --num_episodes=256
  python -m benchmarks.task_table --tasks=reach,push --throughput_envs=1024,4096,16384

For each task (settings from configs/common.py): the expert's success rate over
`num_episodes` episodes without and with actuator noise, and environment steps per second
of the compiled expert rollout with `num_envs` parallel environments, with state
observations and with `image_size` images (the difference is the rendering cost).
With `--throughput_envs`, only the steps/s of the expert rollout, with state observations,
at each of those numbers of parallel environments: one JSON line each.
"""

import json

import time

from absl import app
from absl import flags
import jax
import ml_collections

from configs import common
from experiments import common as experiments_common
from imitation import envs
from imitation.envs import rollout as rollout_lib
from imitation.evaluation.evaluator import Evaluator

_TASKS = flags.DEFINE_list('tasks', sorted(common.TASKS), 'Tasks to measure.')
_EPISODES = flags.DEFINE_integer('num_episodes', 1000, 'Episodes for expert success.')
_NUM_ENVS = flags.DEFINE_integer('num_envs', 256, 'Parallel environments for steps/s.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 64, 'Image side for the image-obs timing.')
_RELATIVE = flags.DEFINE_float('relative_noise', 0.1, 'Relative actuator noise std.')
_ABSOLUTE = flags.DEFINE_float('absolute_noise', 0.05, 'Absolute actuator noise std.')
_THROUGHPUT_ENVS = flags.DEFINE_list(
    'throughput_envs', [], 'Only steps/s, at each of these numbers of parallel environments.')


def _env_config(task, image_size=0, relative=0.0, absolute=0.0):
  config = common.env_config(task)
  config.kwargs.image_size = image_size
  config.action_noise = ml_collections.ConfigDict(
      dict(relative_std=relative, absolute_std=absolute))
  return config


def _steps_per_second(config, num_envs):
  env = envs.make_from_config(config)
  rollout = jax.jit(rollout_lib.make_rollout(env, config.horizon))
  keys = jax.random.split(jax.random.PRNGKey(0), num_envs)
  start = time.perf_counter()
  jax.block_until_ready(rollout(None, keys, jax.random.PRNGKey(1)))
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  jax.block_until_ready(rollout(None, keys, jax.random.PRNGKey(2)))
  return num_envs * config.horizon / (time.perf_counter() - start), compile_s


def _expert_success(config):
  env = envs.make_from_config(config)
  metrics = Evaluator(env, None, _EPISODES.value, config.horizon)(None, jax.random.PRNGKey(0))
  return metrics['success_rate'], metrics['success_rate_stderr']


def main(argv):
  del argv
  experiments_common.quiet_third_party_logs()
  if _THROUGHPUT_ENVS.value:
    for task in _TASKS.value:
      for num_envs in map(int, _THROUGHPUT_ENVS.value):
        steps_per_s, compile_s = _steps_per_second(_env_config(task), num_envs)
        print(json.dumps({
            'task': task, 'num_envs': num_envs, 'horizon': common.TASKS[task]['horizon'],
            'env_steps_per_s': round(steps_per_s), 'compile_s': round(compile_s, 1),
            'device': jax.devices()[0].device_kind}), flush=True)
    return
  noise = f'rel {_RELATIVE.value:g}, abs {_ABSOLUTE.value:g}'
  print(f'device: {jax.devices()[0].device_kind} x {jax.device_count()}; '
        f'{_EPISODES.value} episodes; {_NUM_ENVS.value} parallel envs\n')
  print(f'| task | backend | horizon | expert success | expert success, noise ({noise}) '
        f'| steps/s, state | steps/s, {_IMAGE_SIZE.value}x{_IMAGE_SIZE.value} image '
        '| compile s (state) |')
  print('|---|---|---|---|---|---|---|---|')
  for task in _TASKS.value:
    clean, clean_err = _expert_success(_env_config(task))
    noisy, noisy_err = _expert_success(_env_config(task, relative=_RELATIVE.value, absolute=_ABSOLUTE.value))
    state_sps, compile_s = _steps_per_second(_env_config(task), _NUM_ENVS.value)
    image_sps, _ = _steps_per_second(_env_config(task, image_size=_IMAGE_SIZE.value),
                                     _NUM_ENVS.value)
    backend = envs.make(task).backend
    print(f'| {task} | {backend} | {common.TASKS[task]["horizon"]} | {clean:.3f} ± {clean_err:.3f} '
          f'| {noisy:.3f} ± {noisy_err:.3f} | {state_sps:,.0f} | {image_sps:,.0f} | {compile_s:.0f} |',
          flush=True)


if __name__ == '__main__':
  app.run(main)
