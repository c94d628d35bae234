"""Multi-task BC: one task-conditioned policy, its loss weighted per task.

  python -m experiments.train --config=configs/multitask.py:reach_multi --workdir=/tmp/mt
  python -m experiments.train --config=configs/multitask.py:reach_multi --workdir=/tmp/mt_sr \
      --config.multitask.loss_weights=success_rate

Args after the colon: a multi-task environment (today `reach_multi`), then optional `debug`.
The config is BC's (configs/bc.py) with task conditioning on (`network.task`) and a
`multitask` section: the loss-weight rule and its knobs (imitation/agents/multitask.py).
"""

import ml_collections

from configs import bc


def get_config(arg: str = 'reach_multi') -> ml_collections.ConfigDict:
  config = bc.get_config(arg or 'reach_multi')
  config.algorithm = 'multitask_bc'
  config.network.task.update(fusion='concat', factor_sizes=(config.env.kwargs.num_targets,))
  config.multitask = ml_collections.ConfigDict()
  config.multitask.loss_weights = 'uniform'  # uniform | fixed | success_rate
  config.multitask.fixed_weights = ()  # `fixed`: one weight per task id
  # `success_rate`: w ~ -(1 - s)^gamma log(s), s smoothed and clipped, mixed with uniform.
  config.multitask.gamma = 2.0
  config.multitask.eps = 0.05
  config.multitask.uniform_mix = 0.5
  config.multitask.smoothing = 0.5
  return config
