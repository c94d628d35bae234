"""Behavioral cloning from observation (BCO): BC's config plus a `bco` section.

  python -m experiments.bco --config=configs/bco.py:reach --workdir=/tmp/bco_reach
  python -m experiments.bco --config=configs/bco.py:reach --workdir=W --config.bco.alpha=0

Args after the colon: what configs/bc.py takes (a task or a BC preset, then optional
`image` and `debug`), e.g. `configs/bco.py:obstacle_flow,image`. The collected demonstrations are
state-only (`collect.drop_actions`; their actions kept aside only to score the inferred
labels); `--config.data.path` trains on any dataset, its actions (if any) unused.
`train.*` trains the policy, `bco.inverse.*` the inverse dynamics model, every round.
"""

import ml_collections

from configs import bc


def get_config(arg: str = 'reach') -> ml_collections.ConfigDict:
  config = bc.get_config(arg or 'reach')
  debug = 'debug' in (arg or '').split(',')
  config.algorithm = 'bco'
  config.collect.drop_actions = True
  config.train.eval_every = config.train.num_steps  # rounds are evaluated by BCO itself

  config.bco = ml_collections.ConfigDict()
  # Environment steps of random actions (uniform in +-action_limit) before any demo is
  # used: the inverse model's first data (BCO's pre-demonstration phase).
  config.bco.pre_interactions = 25_600
  # BCO(alpha): each of num_rounds rounds, the policy collects alpha x pre_interactions
  # more steps (its actions plus Gaussian policy_noise); alpha=0 is BCO(0), round 0 only.
  config.bco.alpha = 0.25
  config.bco.num_rounds = 4
  config.bco.policy_noise = 0.1
  config.bco.action_limit = 1.0  # the environments' action bound (actions are clipped there)
  config.bco.num_parallel_envs = 128  # interaction episodes rolled out at once
  # The share of each round's interaction episodes that scores the inverse model.
  config.bco.holdout_fraction = 0.1
  config.bco.label_batch_size = 1024  # transitions labelled per compiled call
  # The inverse dynamics model p(a | s, s'): the policy's encoder over (s, s') with this
  # head (deterministic | gaussian | mixture | ...), state MLP and training.
  config.bco.inverse = dict(head='deterministic', hidden_sizes=(256, 256), num_steps=5_000,
                            batch_size=256)

  if debug:
    config.bco.pre_interactions = 4 * config.env.horizon  # 4 episodes: 1 held out
    config.bco.alpha = 0.5
    config.bco.num_rounds = 2
    config.bco.num_parallel_envs = 4
    config.bco.inverse.num_steps = 20
    config.bco.inverse.batch_size = 32
  return config
