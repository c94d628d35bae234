"""The whole config checked before any work: one line naming the key, its value and what is
allowed, instead of a traceback (or a silent NaN) after the demos are collected.

`validate(config)` checks every section the config has (train, optimizer, network, env,
collect, data, eval, dagger, multitask, quality, study, diagnose) by the `RULES` table and a
few checks across keys (an image encoder needs image observations; a ViT's patch must
tile the image; the train steps must be whole chunks). Entry points call it first
(experiments/common.py); the names allowed come from the modules that use them.
"""

import math
from typing import Any, Callable, List, Sequence, Tuple

import ml_collections

from imitation import envs
from imitation.agents import dagger
from imitation.agents import multitask
from imitation.data import formats
from imitation.data import mixtures
from imitation.data import quality as data_quality
from imitation.errors import ConfigError
from imitation.networks import conditioning
from imitation.networks import encoders
from imitation.networks import policy
from imitation.studies import diagnose

_MISSING = object()

# A rule: what is allowed (said in the error), and whether a value is.
Rule = Tuple[str, Callable[[Any], bool]]


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int() -> Rule:
  return 'a positive integer', lambda v: _is_int(v) and v > 0


def non_negative_int() -> Rule:
  return 'an integer >= 0', lambda v: _is_int(v) and v >= 0


def positive_number() -> Rule:
  return 'a finite number > 0', lambda v: _is_number(v) and math.isfinite(v) and v > 0


def non_negative_number() -> Rule:
  return 'a finite number >= 0', lambda v: _is_number(v) and math.isfinite(v) and v >= 0


def fraction(low_open: bool = False, high_open: bool = False) -> Rule:
  low, high = '(' if low_open else '[', ')' if high_open else ']'

  def ok(v):
    return (_is_number(v) and math.isfinite(v) and (v > 0 if low_open else v >= 0)
            and (v < 1 if high_open else v <= 1))

  return f'a number in {low}0, 1{high}', ok


def one_of(names: Sequence[str]) -> Rule:
  return f'one of {", ".join(names)}', lambda v: v in tuple(names)


def positive_ints() -> Rule:
  return 'a list of positive integers', lambda v: (
      isinstance(v, (tuple, list)) and all(_is_int(x) and x > 0 for x in v))


def subset_of(names: Sequence[str]) -> Rule:
  return f'a list drawn from {", ".join(names)}', lambda v: (
      isinstance(v, (tuple, list)) and all(x in tuple(names) for x in v))


RULES = {
    'seed': ('an integer', _is_int),
    'num_seeds': positive_int(),
    'env.horizon': non_negative_int(),
    'env.frame_stack': positive_int(),
    'env.kwargs.image_size': non_negative_int(),
    'env.action_noise.relative_std': non_negative_number(),
    'env.action_noise.absolute_std': non_negative_number(),
    'collect.num_episodes': positive_int(),
    'collect.num_parallel_envs': positive_int(),
    'collect.noisy_std': non_negative_number(),
    'collect.bias': non_negative_number(),
    'collect.action_noise.relative_std': non_negative_number(),
    'collect.action_noise.absolute_std': non_negative_number(),
    'data.format': one_of(sorted(formats.FORMATS)),
    'data.action_key': one_of(('action', 'expert_action')),
    'data.max_episodes': non_negative_int(),
    'data.task_mixture': one_of(mixtures.MIXTURES),
    'data.layout': one_of(('auto', 'sharded', 'replicated')),
    'data.pipeline': one_of(('device', 'stream')),
    'data.holdout_fraction': fraction(low_open=True, high_open=True),
    'data.filter.rule': one_of(data_quality.RULES),
    'data.filter.quantile': fraction(high_open=True),
    'data.streaming.num_threads': positive_int(),
    'data.streaming.prefetch': positive_int(),
    'data.streaming.device_prefetch': positive_int(),
    'normalization.min_std': positive_number(),
    'network.encoder': one_of(policy.ENCODERS),
    'network.head': one_of(policy.HEADS),
    'network.activation': one_of(sorted(encoders.ACTIVATIONS)),
    'network.hidden_sizes': positive_ints(),
    'network.min_scale': positive_number(),
    'network.max_scale': positive_number(),
    'network.bound': one_of(('none', 'tanh', 'clip')),
    'network.bound_limit': positive_number(),
    'network.num_components': positive_int(),
    'network.num_bins': ('an integer >= 2', lambda v: _is_int(v) and v >= 2),
    'network.cnn.channels': positive_ints(),
    'network.cnn.hidden_sizes': positive_ints(),
    'network.cnn.strides': positive_ints(),
    'network.cnn.pooling': one_of(encoders.POOLINGS),
    'network.vit.patch_size': positive_int(),
    'network.vit.width': positive_int(),
    'network.vit.depth': positive_int(),
    'network.vit.num_heads': positive_int(),
    'network.task.fusion': one_of(policy.TASK_FUSIONS),
    'network.task.combine': one_of(conditioning.COMBINES),
    'network.task.embedding_dim': positive_int(),
    'augment.random_shift_pad': non_negative_int(),
    'optimizer.name': one_of(('adam', 'adamw')),
    'optimizer.learning_rate': positive_number(),
    'optimizer.schedule': one_of(('constant', 'cosine')),
    'optimizer.warmup_steps': non_negative_int(),
    'optimizer.final_lr_fraction': fraction(),
    'optimizer.weight_decay': non_negative_number(),
    'optimizer.grad_clip_norm': non_negative_number(),
    'train.num_steps': positive_int(),
    'train.batch_size': positive_int(),
    'train.steps_per_call': positive_int(),
    'train.scan_unroll': positive_int(),
    'train.eval_every': positive_int(),
    'train.checkpoint_every': positive_int(),
    'train.keep_checkpoints': positive_int(),
    'eval.num_episodes': positive_int(),
    'eval.video_episodes': non_negative_int(),
    'eval.video_size': positive_int(),
    'dagger.variant': one_of(dagger.VARIANTS),
    'dagger.num_rounds': positive_int(),
    'dagger.episodes_per_round': positive_int(),
    'dagger.beta.schedule': one_of(dagger.BETA_SCHEDULES),
    'dagger.beta.beta0': fraction(),
    'dagger.ensemble.num_members': ('an integer >= 2', lambda v: _is_int(v) and v >= 2),
    'multitask.loss_weights': one_of(multitask.LOSS_WEIGHTS),
    'quality.num_folds': ('an integer >= 2', lambda v: _is_int(v) and v >= 2),
    'quality.num_steps': positive_int(),
    'quality.batch_size': positive_int(),
    'quality.hidden_sizes': positive_ints(),
    'study.engine': one_of(('local', 'ray')),
    'diagnose.checks': subset_of(diagnose.CHECKS),
    'diagnose.num_episodes': positive_int(),
    'diagnose.num_steps': positive_int(),
}


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  value = config
  for part in key.split('.'):
    if not isinstance(value, (ml_collections.ConfigDict, dict)) or part not in value:
      return _MISSING
    value = value[part]
  return value


def _show(value: Any) -> str:
  return repr(tuple(value) if isinstance(value, list) else value)


def problems(config: ml_collections.ConfigDict) -> List[str]:
  """Every problem of `config`, one line each ('key=value: expected ...')."""
  found = []
  for key, (allowed, ok) in RULES.items():
    value = _get(config, key)
    if value is not _MISSING and not ok(value):
      found.append(f'{key}={_show(value)}: expected {allowed}')
  if not found:  # the checks across keys assume each value is valid on its own
    found += _across_keys(config)
  return found


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a ConfigError with the first problem of `config` (see `problems`)."""
  found = problems(config)
  if found:
    more = f' (and {len(found) - 1} more problem(s))' if len(found) > 1 else ''
    raise ConfigError(found[0] + more)


def _across_keys(config: ml_collections.ConfigDict) -> List[str]:
  found = []
  name = _get(config, 'env.name')
  if name is not _MISSING and name and name not in envs.registered_tasks():
    found.append(f'env.name={name!r}: expected one of {", ".join(envs.registered_tasks())} '
                 '(or "" for a run on data alone)')
  found += _image_problems(config, name)
  train = _get(config, 'train')
  if train is not _MISSING and 'steps_per_call' in train:
    for key in ('num_steps', 'eval_every', 'checkpoint_every'):
      if key in train and train[key] % train.steps_per_call:
        found.append(f'train.{key}={train[key]}: expected a multiple of '
                     f'train.steps_per_call={train.steps_per_call}')
    warmup = _get(config, 'optimizer.warmup_steps')
    if warmup is not _MISSING and warmup >= train.get('num_steps', math.inf):
      found.append(f'optimizer.warmup_steps={warmup}: expected fewer than '
                   f'train.num_steps={train.num_steps}')
  decay, optimizer = _get(config, 'optimizer.weight_decay'), _get(config, 'optimizer.name')
  if optimizer == 'adam' and _is_number(decay) and decay > 0:  # optax.adam has no decay
    found.append(f'optimizer.weight_decay={decay}: has no effect with optimizer.name=\'adam\'; '
                 'expected optimizer.name=adamw')
  low, high = _get(config, 'network.min_scale'), _get(config, 'network.max_scale')
  if low is not _MISSING and high is not _MISSING and low >= high:
    found.append(f'network.max_scale={high}: expected more than network.min_scale={low}')
  cnn = _get(config, 'network.cnn')
  if cnn is not _MISSING and len(cnn.strides) != len(cnn.channels):
    found.append(f'network.cnn.strides={_show(cnn.strides)}: expected one stride per layer of '
                 f'network.cnn.channels={_show(cnn.channels)}')
  vit = _get(config, 'network.vit')
  if vit is not _MISSING and vit.width % vit.num_heads:
    found.append(f'network.vit.width={vit.width}: expected a multiple of '
                 f'network.vit.num_heads={vit.num_heads}')
  task = _get(config, 'network.task')
  if task is not _MISSING and task.get('embedding_factors'):
    chosen, count = tuple(task.embedding_factors), len(task.get('factor_sizes', ()))
    try:
      conditioning.chosen_factors(chosen, count)
    except ValueError:
      found.append(f'network.task.embedding_factors={_show(chosen)}: expected distinct indices '
                   f'into the {count} task factors of network.task.factor_sizes')
  return found


def _image_problems(config: ml_collections.ConfigDict, name: Any) -> List[str]:
  """An image encoder needs the env to render images, of a size its layers fit."""
  encoder = _get(config, 'network.encoder')
  size = _get(config, 'env.kwargs.image_size')
  if encoder not in ('cnn', 'vit') or size is _MISSING or not name:
    return []
  if size == 0:
    return [f'network.encoder={encoder!r} reads images but env.kwargs.image_size=0 gives '
            f'{name!r} state observations only: set env.kwargs.image_size (e.g. 32) or use '
            'network.encoder=mlp']
  if encoder == 'vit':
    patch = config.network.vit.patch_size
    if size % patch:
      return [f'env.kwargs.image_size={size}: expected a multiple of '
              f'network.vit.patch_size={patch} (the ViT tiles the image into patches)']
  return []

