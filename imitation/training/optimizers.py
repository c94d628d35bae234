"""Optimizers and learning-rate schedules from the `optimizer` config section (optax)."""

from typing import Sequence

import ml_collections

from imitation.errors import ConfigError
import optax


def make_schedule(config: ml_collections.ConfigDict, num_steps: int,
                  learning_rate=None) -> optax.Schedule:
  """The config's schedule, peaking at `learning_rate` (default: `config.learning_rate`;
  an array when it is an injected hyperparameter)."""
  peak = config.learning_rate if learning_rate is None else learning_rate
  if config.schedule == 'constant':
    return optax.constant_schedule(peak)
  if config.schedule == 'cosine' and not config.warmup_steps:
    return optax.cosine_decay_schedule(
        peak, decay_steps=num_steps, alpha=config.final_lr_fraction
    )
  if config.schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak,
        warmup_steps=config.warmup_steps,
        decay_steps=num_steps,
        end_value=peak * config.final_lr_fraction,
    )
  raise ConfigError(f'unknown schedule {config.schedule!r}; available: constant, cosine')


def make_optimizer(
    config: ml_collections.ConfigDict, num_steps: int, injected: Sequence[str] = (),
) -> optax.GradientTransformation:
  """Adam/AdamW with an optional global-norm gradient clip.

  `injected` names hyperparameters (`learning_rate`, the schedule's peak; `weight_decay`)
  kept in the optimizer state (`optax.inject_hyperparams`), so runs vmapped over members
  (training/members.py) can each carry their own value into one compiled update.
  """
  if config.name not in ('adam', 'adamw'):
    raise ConfigError(f'unknown optimizer {config.name!r}; available: adam, adamw')

  def base(learning_rate, weight_decay):
    schedule = make_schedule(config, num_steps, learning_rate)
    if config.name == 'adam':
      return optax.adam(schedule)
    return optax.adamw(schedule, weight_decay=weight_decay)

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
