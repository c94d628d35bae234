"""Optimizers and learning-rate schedules from the `optimizer` config section (optax)."""

from typing import List, Sequence

import ml_collections

from imitation import config_rules as rules
from imitation.errors import ConfigError
from imitation.training import members as members_lib
import optax


def make_schedule(config: ml_collections.ConfigDict, num_steps: int,
                  learning_rate=None) -> optax.Schedule:
  """The config's schedule, peaking at `learning_rate` (default: `config.learning_rate`;
  an array when it is an injected hyperparameter)."""
  rules.require(config, CONFIG_RULES, section='optimizer')  # the section, as declared below
  peak = config.learning_rate if learning_rate is None else learning_rate
  if config.schedule == 'constant':
    return optax.constant_schedule(peak)
  if not config.warmup_steps:  # cosine, the other of SCHEDULES
    return optax.cosine_decay_schedule(
        peak, decay_steps=num_steps, alpha=config.final_lr_fraction
    )
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0,
      peak_value=peak,
      warmup_steps=config.warmup_steps,
      decay_steps=num_steps,
      end_value=peak * config.final_lr_fraction,
  )


def make_optimizer(
    config: ml_collections.ConfigDict, num_steps: int, injected: Sequence[str] = (),
) -> optax.GradientTransformation:
  """Adam/AdamW with an optional global-norm gradient clip.

  `injected` names hyperparameters (`learning_rate`, the schedule's peak; `weight_decay`)
  kept in the optimizer state (`optax.inject_hyperparams`), so runs vmapped over members
  (training/members.py) can each carry their own value into one compiled update.
  """
  def base(learning_rate, weight_decay):
    schedule = make_schedule(config, num_steps, learning_rate)
    return {'adam': lambda: optax.adam(schedule),
            'adamw': lambda: optax.adamw(schedule, weight_decay=weight_decay)}[config.name]()

  hyperparameters = {'learning_rate': config.learning_rate, 'weight_decay': config.weight_decay}
  unknown = set(injected) - set(hyperparameters)
  if unknown:
    raise ConfigError(f'cannot inject {sorted(unknown)}; injectable: {sorted(hyperparameters)}')
  if injected:
    static = [k for k in hyperparameters if k not in injected]
    optimizer = optax.inject_hyperparams(base, static_args=static)(**hyperparameters)
  else:
    optimizer = base(**hyperparameters)
  if config.grad_clip_norm:
    optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), optimizer)
  return optimizer


def make_run_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """A run's optimizer: `config.optimizer` over `config.train.num_steps`, keeping in its
  state the hyperparameters the run's members vary (training/members.py), so a learner
  built on it trains as vmapped members without knowing about them."""
  return make_optimizer(config.optimizer, config.train.num_steps,
                        injected=members_lib.injected_hyperparameters(config))


OPTIMIZERS = ('adam', 'adamw')
SCHEDULES = ('constant', 'cosine')
CONFIG_RULES = {
    'optimizer.name': rules.one_of(OPTIMIZERS),
    'optimizer.learning_rate': rules.positive_number(),
    'optimizer.schedule': rules.one_of(SCHEDULES),
    'optimizer.warmup_steps': rules.non_negative_int(),
    'optimizer.final_lr_fraction': rules.fraction(),
    'optimizer.weight_decay': rules.non_negative_number(),
    'optimizer.grad_clip_norm': rules.non_negative_number(),
}


def config_problems(config) -> List[str]:
  """Warm-up shorter than training; weight decay only where the optimizer applies it."""
  found = []
  warmup, steps = rules.lookup(config, 'optimizer.warmup_steps'), rules.lookup(config, 'train.num_steps')
  if warmup is not rules.MISSING and steps is not rules.MISSING and warmup >= steps:
    found.append(f'optimizer.warmup_steps={warmup}: expected fewer than train.num_steps={steps}')
  decay, name = rules.lookup(config, 'optimizer.weight_decay'), rules.lookup(config, 'optimizer.name')
  if name == 'adam' and rules.is_number(decay) and decay > 0:  # optax.adam has no decay
    found.append(f'optimizer.weight_decay={decay}: has no effect with optimizer.name=\'adam\'; '
                 'expected optimizer.name=adamw')
  return found
