"""Optimizers and learning-rate schedules from the `optimizer` config section (optax)."""

import ml_collections

from imitation.errors import ConfigError
import optax


def make_schedule(config: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  if config.schedule == 'constant':
    return optax.constant_schedule(config.learning_rate)
  if config.schedule == 'cosine' and not config.warmup_steps:
    return optax.cosine_decay_schedule(
        config.learning_rate, decay_steps=num_steps, alpha=config.final_lr_fraction
    )
  if config.schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=config.warmup_steps,
        decay_steps=num_steps,
        end_value=config.learning_rate * config.final_lr_fraction,
    )
  raise ConfigError(f'unknown schedule {config.schedule!r}; available: constant, cosine')


def make_optimizer(
    config: ml_collections.ConfigDict, num_steps: int
) -> optax.GradientTransformation:
  """Adam/AdamW with an optional global-norm gradient clip."""
  schedule = make_schedule(config, num_steps)
  if config.name == 'adam':
    optimizer = optax.adam(schedule)
  elif config.name == 'adamw':
    optimizer = optax.adamw(schedule, weight_decay=config.weight_decay)
  else:
    raise ConfigError(f'unknown optimizer {config.name!r}; available: adam, adamw')
  if config.grad_clip_norm:
    optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), optimizer)
  return optimizer
