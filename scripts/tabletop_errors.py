r"""Where a trained tabletop policy misses, per (task, colour, pad) combination.

  python scripts/tabletop_errors.py --workdir=/tmp/mt_entities/multi_uniform_seed0

Reads the run's policy (WORKDIR/policy) and its env config (WORKDIR/config.json), plays
`--episodes` fresh one-step episodes on the seen combinations and as many on the held-out
ones, and prints per combination the success rate and the action's errors against the
expert's: position (cm; median, 90th percentile and the mean signed offset, which shows a
bias), angle (rad) and width (action units). docs/multitask.md uses it to show why a
held-out combination fails.
"""

import json
import os

from absl import app
from absl import flags

_WORKDIR = flags.DEFINE_string('workdir', None, 'a finished tabletop run', required=True)
_EPISODES = flags.DEFINE_integer('episodes', 2048, 'episodes per mode (seen, held-out)')
_SEED = flags.DEFINE_integer('seed', 7, 'draws the episodes')


def _report(env, act, params, seed, episodes, half_size):
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from imitation.envs import tabletop  # pylint: disable=g-import-not-at-top

  states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(seed), episodes))
  expert = jax.vmap(env.expert_action, in_axes=(0, None))(states, jax.random.PRNGKey(0))
  action = np.clip(np.asarray(act(params, states.obs, jax.random.PRNGKey(1))), -1.0, 1.0)
  success = np.asarray(jax.jit(jax.vmap(env.step))(states, action).metrics['success'])
  error = action - np.asarray(expert)
  offset = 100.0 * half_size * error[:, :2]  # cm on the table
  distance = np.linalg.norm(offset, axis=-1)
  angle = np.abs(error[:, 2]) * np.pi / 2
  combos = np.stack(np.unravel_index(np.asarray(states.obs['task_id']),
                                     tabletop.FACTOR_SIZES), -1)
  for combo in sorted(set(map(tuple, combos.tolist()))):
    m = (combos == combo).all(-1)
    name = f'{tabletop.TASKS[combo[0]]}, {tabletop.COLORS[combo[1]]}, pad {combo[2]}'
    print(f'  {name:22s} {m.sum():5d} {success[m].mean():8.3f} '
          f'{np.median(distance[m]):7.2f} {np.quantile(distance[m], 0.9):6.2f} '
          f'{offset[m, 0].mean():+6.2f} {offset[m, 1].mean():+6.2f} '
          f'{np.median(angle[m]):9.3f} {np.median(np.abs(error[m, 3])):9.3f}')


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  from imitation.envs import tabletop  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import acting  # pylint: disable=g-import-not-at-top
  from imitation.training import checkpoint  # pylint: disable=g-import-not-at-top

  with open(os.path.join(_WORKDIR.value, 'config.json')) as f:
    env_config = json.load(f)['env']
  if env_config['name'] != 'tabletop':
    raise app.UsageError(f'{_WORKDIR.value} is a {env_config["name"]!r} run, not tabletop')
  policy, params, _ = checkpoint.load_policy(os.path.join(_WORKDIR.value, 'policy'))
  act = jax.jit(acting.make_act_fn(policy).first_action)
  # As the run evaluated: its env kwargs, then those updated with `held_out_kwargs` (a run
  # whose tasks hold nothing out has none, and gets no held-out section).
  kwargs = env_config['kwargs']
  held_out = env_config.get('held_out_kwargs') or {}
  modes = [('seen', kwargs)]
  if held_out:
    modes.append(('held-out', {**kwargs, **held_out}))
  for title, env_kwargs in modes:
    env = tabletop.Tabletop(**env_kwargs)
    print(f'{title} combinations:\n'
          f'  {"task, colour, pad":22s} {"n":>5s} {"success":>8s} {"xy cm":>7s} {"p90":>6s} '
          f'{"dx cm":>6s} {"dy cm":>6s} {"angle rad":>9s} {"width":>9s}')
    _report(env, act, params, _SEED.value, _EPISODES.value, env.table_half_size)


if __name__ == '__main__':
  app.run(main)
