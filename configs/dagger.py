"""DAgger and its gated variants: BC's config plus a `dagger` section.

  python -m experiments.dagger --config=configs/dagger.py:drive --workdir=/tmp/dagger_drive
  python -m experiments.dagger --config=configs/dagger.py:drive --workdir=W \
      --config.dagger.variant=intervention

Args after the colon: the task, then optional `debug`. `train.num_steps` is per round.
"""

import ml_collections

from configs import bc
from configs import common


def get_config(arg: str = 'drive') -> ml_collections.ConfigDict:
  args = common.parse_arg(arg, task='drive', debug=False)
  config = bc.get_config(','.join([args['task']] + (['debug'] if args['debug'] else [])))
  config.algorithm = 'dagger'
  # Train on the expert's label in every state (for demos it is the executed action).
  config.data.action_key = 'expert_action'
  config.train.num_steps = 10_000  # per round
  config.train.eval_every = 10_000  # rounds are evaluated by DAgger itself
  config.train.checkpoint_every = 10_000

  config.dagger = ml_collections.ConfigDict()
  config.dagger.variant = 'classic'  # classic | intervention | ensemble | sampled
  config.dagger.num_rounds = 4  # DAgger rounds after round 0 (BC on the demos)
  config.dagger.episodes_per_round = 4  # learner rollouts per round
  config.dagger.warm_start = False  # retrain from scratch each round (Ross et al.)
  config.dagger.beta = dict(
      schedule='exponential',  # constant | linear | exponential | indicator
      beta0=0.5,  # constant and linear
      p=0.5,  # exponential: beta_k = p ** k
      num_rounds=config.dagger.get_ref('num_rounds'),  # linear reaches 0 at the last round
  )
  # Gated variants: the expert takes over above a threshold and hands back below
  # return_fraction x threshold. Actions are in environment units ([-1, 1] per dimension);
  # uncertainty is the ensemble's std (or, for `sampled`, the std of num_samples actions
  # sampled from the learner's head) in normalised action units.
  config.dagger.gate = dict(
      action_threshold=0.2,
      uncertainty_threshold=0.1,
      return_fraction=0.5,
      num_samples=16,
  )
  config.dagger.ensemble = dict(num_members=5)

  if args['debug']:
    config.dagger.num_rounds = 2
    config.dagger.episodes_per_round = 4
    config.train.num_steps = 20
    config.train.eval_every = 20
    config.train.checkpoint_every = 20
  return config
