"""Multi-task BC: one task-conditioned policy, its loss weighted per task.

  python -m experiments.train --config=configs/multitask.py --workdir=/tmp/mt
  python -m experiments.train --config=configs/multitask.py:tabletop_reference --workdir=/tmp/mt_ref
  python -m experiments.train --config=configs/multitask.py:tabletop_film --workdir=/tmp/mt_film \
      --config.multitask.loss_weights=success_rate

Args after the colon: a multi-task environment (`tabletop`, `suite`, `reach_multi`) or a preset
(`PRESETS`), then optional `debug`; no arg is `tabletop_entities`, the design that measures
best on tabletop (factor attention, docs/multitask.md). The config is BC's (configs/bc.py)
with task conditioning on (`network.task`) and a `multitask` section: the loss-weight rule
and its knobs (imitation/agents/multitask.py). An environment named alone gets the
reference network (`tabletop` and `tabletop_reference` alike): a shared encoder to 256-D
features, an 8-D task embedding summed from per-factor parts, fused by concatenation into
256+8 -> 128 -> 64 -> the action head.
"""

import ml_collections

from configs import bc
from configs import common

DEFAULT = 'tabletop_entities'  # the preset `--config=configs/multitask.py` runs


def _film_from_the_first_layer(config: ml_collections.ConfigDict) -> None:
  """FiLM on every layer, with no unconditioned encoder before them: the state goes straight
  into a conditioned 256 -> 256 -> 128 trunk, so the task enters at the first layer
  (docs/multitask.md)."""
  config.network.hidden_sizes = ()
  config.network.task.update(fusion='film', hidden_sizes=(256, 256, 128))


def _factor_attention(config: ml_collections.ConfigDict) -> None:
  """The state read as entities (tabletop: 3 bars, 3 pads, 4 numbers each), one attention
  query per task factor, then the FiLM trunk of `tabletop_film` (docs/multitask.md).

  The attended values hold an entity's content, not its slot, and AdamW decays the weights:
  together they took held-out tabletop combinations from 0.705 to 0.994 success (seeds 0-2);
  weight decay alone did not (0.733), nor content values alone on seed 0.
  """
  config.network.encoder = 'entities'
  config.network.entities.update(entity_size=4, width=64, slot_values=False)
  config.network.task.update(fusion='film', hidden_sizes=(256, 256, 128))
  config.optimizer.update(name='adamw', weight_decay=0.1)


def _per_task_heads(config: ml_collections.ConfigDict) -> None:
  """One action head per task: reach's 2-D joint torques, push's 2-D force, drive's steering
  and grasp's 4-D pose need not share one output layer."""
  config.network.task.per_task_heads = True


def _reference_from_images(config: ml_collections.ConfigDict) -> None:
  """The reference design from pixels: a 32x32 top-down image (no state) through the small
  CNN of the BC image presets to 256-D features, the 8-D task embedding concatenated, then
  128 -> 64 -> the action."""
  bc.image_policy(config)
  config.env.frame_stack = 1  # one-step tasks: nothing moves
  config.network.cnn.hidden_sizes = (256,)
  config.network.hidden_sizes = ()


# name -> (environment, what the preset changes in its default config).
PRESETS = {
    'tabletop_film': ('tabletop', _film_from_the_first_layer),
    'suite_heads': ('suite', _per_task_heads),
    'tabletop_image': ('tabletop', _reference_from_images),
    'tabletop_entities': ('tabletop', _factor_attention),
    'tabletop_reference': ('tabletop', None),  # the reference concat design, by name
}


def get_config(arg: str = DEFAULT) -> ml_collections.ConfigDict:
  name, _, rest = (arg or DEFAULT).partition(',')
  task, preset = PRESETS.get(name, (name, None))
  config = bc.get_config(','.join(filter(None, [task, rest])), more_presets=PRESETS)
  config.algorithm = 'multitask_bc'
  config.network.task.update(fusion='concat', factor_sizes=common.task_factors(config.env.name))
  config.multitask = ml_collections.ConfigDict()
  # uniform | fixed | inverse_frequency | success_rate | uncertainty (Kendall et al.)
  config.multitask.loss_weights = 'uniform'
  config.multitask.fixed_weights = ()  # `fixed`: one weight per task (or per task id)
  # `success_rate`: w ~ -(1 - s)^gamma log(s), s smoothed and clipped, mixed with uniform.
  config.multitask.gamma = 2.0
  config.multitask.eps = 0.05
  config.multitask.uniform_mix = 0.5
  config.multitask.smoothing = 0.5
  # `uncertainty`: the learned log-variances are clipped to this range.
  config.multitask.log_variance_range = (-4.0, 4.0)
  if config.env.name == 'tabletop' and 'debug' not in rest.split(','):
    # One-step episodes make evaluation cheap: evaluate (and move success-rate weights)
    # often, on enough episodes per task.
    config.train.eval_every = 2_000
    config.eval.num_episodes = 768
  if config.env.name == 'suite':
    # Members differ in episode length (grasp 1 step, drive 300): sample every task alike.
    config.data.task_mixture = 'uniform'
    # Every member steps in every suite step: evaluate once, at the end, on this CPU.
    config.train.eval_every = config.train.get_ref('num_steps')
  if preset is not None:
    preset(config)
  return config
