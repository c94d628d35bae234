"""The source's tables, measured on one manipulation family (`pick_place`, novel (colour, pad)
combinations held out): BC single- and multi-task, BC from images, BC + DAgger (classic and
intervention-gated, every round a label budget), a diffusion policy with action chunks and
BCO, each over seeds, all scored by one evaluation protocol (`study.eval`).

  python -m experiments.source_tables --config=configs/source_tables.py --workdir=/tmp/source_tables
  python -m experiments.source_tables --config=configs/source_tables.py:pick_place,debug \
      --workdir=/tmp/source_tables_debug

The config is DAgger's for the task (configs/dagger.py: BC's sections plus `dagger`), with a
task-conditioned network, plus BCO's `bco` section and a `study` section; every run is built
from it, so any `--config.*` override (network, optimizer, train, env) reaches every row.
Args after the colon: a multi-task task, then optional `debug` (one seed, tiny runs).
"""

import ml_collections

from configs import bc
from configs import bco
from configs import common
from configs import dagger

# The image row last: it is the slowest on a CPU, and every other row is done before it.
ROWS = ('single_task', 'bc', 'dagger_classic', 'dagger_intervention', 'diffusion', 'bco',
        'bc_image')


def get_config(arg: str = 'pick_place') -> ml_collections.ConfigDict:
  args = common.parse_arg(arg, task='pick_place', debug=False)
  task_arg = ','.join([args['task']] + (['debug'] if args['debug'] else []))
  config = dagger.get_config(task_arg)
  config.algorithm = 'source_tables'
  # One policy for the family: a learned embedding of each task factor, concatenated.
  config.network.task.update(fusion='concat', factor_sizes=common.task_factors(args['task']))
  config.bco = bco.get_config(task_arg).bco
  if not args['debug']:
    # The multi-task policies' demos (all tasks; single-task policies get a third each):
    # BC's success here is about the source's 40-60% (docs/source_tables.md).
    config.collect.num_episodes = 768
    config.train.update(num_steps=20_000, eval_every=20_000, checkpoint_every=5_000)
    config.dagger.update(num_rounds=6, episodes_per_round=128)  # 6,400 steps per round

  study = config.study = ml_collections.ConfigDict()
  study.seeds = (0, 1, 2)
  study.rows = ROWS  # which approaches run (the table keeps this order)
  # BC from images: BC's CPU image policy (configs/bc.py image_policy: 32x32, 2 frames,
  # keypoint CNN) as (config name, value) overrides of this config, then these updates.
  study.image_overrides = _image_overrides(config)
  study.image_train = dict(num_steps=10_000)
  # The generative policy: its head over chunks of `horizon` actions, `execute_steps`
  # executed before it replans (Diffusion Policy's receding horizon).
  study.generative = dict(head='diffusion', horizon=8, execute_steps=4)
  # The evaluation protocol, the same for every policy of every row, declared before any run:
  # the last policy of each run (each DAgger round's last, for the label-budget table) plays
  # the same `num_episodes` episodes per setting (seen combinations; novel, held-out ones),
  # reset from PRNGKey(episode_seed), under the env's actuator noise. An action is right
  # when every dimension is within `action_tolerance` of the expert's (10% of the [-1, 1]
  # range, the actuator noise's own size); accuracy is scored on the expert's own states
  # (the expert drives the same episodes, the policy is asked at each step). Success rates
  # get a Wilson 95% interval per seed and a t interval over seeds.
  study.eval = dict(episode_seed=20_261_208, num_episodes=256, action_tolerance=0.2,
                    checkpoint='last')
  common.add_study_engine(study)
  if args['debug']:
    study.seeds = (0,)
    study.image_train = dict(num_steps=20)
    study.eval.num_episodes = 16
  return config


def _flat(tree, prefix=''):
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flat(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def _image_overrides(config: ml_collections.ConfigDict) -> tuple:
  """What BC's image preset changes in `config`, as ((config name, value), ...)."""
  image = ml_collections.ConfigDict(config.to_dict())
  bc.image_policy(image)
  before, after = _flat(config.to_dict()), _flat(image.to_dict())
  return tuple((name, value) for name, value in after.items() if before.get(name) != value)
