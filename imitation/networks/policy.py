"""The Policy: observation dict -> action distribution, assembled from config."""

from typing import Any, Dict, List, Optional, Sequence

import flax.linen as nn
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation.errors import ConfigError
from imitation.networks import conditioning
from imitation.networks import encoders
from imitation.networks import heads

ENCODERS = ('mlp', 'cnn', 'vit', 'entities')
HEADS = ('deterministic', 'gaussian', 'mixture', 'categorical')
TASK_FUSIONS = ('none',) + conditioning.FUSIONS


class Policy(nn.Module):
  """An encoder followed by a head; knows nothing about data or normalisation.

  A task-conditioned policy also has a task embedding (of `observation['task_id']`) and a
  trunk that fuses it with the encoder's features before the head; without them the
  parameters are exactly an unconditioned policy's. With `task_heads` (one head per task id,
  for tasks whose actions mean different things) each example's distribution is its task's.
  """

  encoder: nn.Module
  head: Optional[nn.Module] = None
  task_embedding: Optional[nn.Module] = None
  trunk: Optional[nn.Module] = None
  task_heads: Optional[Sequence[nn.Module]] = None

  def __call__(self, observation: Dict[str, jax.Array]) -> Any:
    features = self.encoder(observation)
    if self.task_embedding is not None:
      if 'task_id' not in observation:
        raise ValueError(
            f'a task-conditioned policy needs observation["task_id"]; got {sorted(observation)}')
      features = self.trunk(features, self.task_embedding(observation['task_id']))
    if self.task_heads is None:
      return self.head(features)
    return _select_per_task([head(features) for head in self.task_heads], observation['task_id'])


def _select_per_task(distributions, task_id: jax.Array):
  """The distribution whose parameters are, for each example, those of its task's head."""
  task_id = jp.asarray(task_id, jp.int32)
  axis = task_id.ndim

  def select(*leaves):
    stacked = jp.stack(leaves, axis=axis)  # [..., heads, rest]
    index = task_id.reshape(task_id.shape + (1,) * (stacked.ndim - axis))
    return jp.take_along_axis(stacked, index, axis=axis).squeeze(axis)

  return jax.tree.map(select, *distributions)


def _encoder(config: ml_collections.ConfigDict) -> nn.Module:
  if config.encoder == 'mlp':
    return encoders.StateEncoder(
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        layer_norm=config.layer_norm,
    )
  if config.encoder == 'entities':
    task = config.get('task')
    if task is None or not task.factor_sizes:
      raise ConfigError('network.encoder=entities needs task factors (network.task.factor_sizes)')
    return conditioning.FactorAttention(tuple(task.factor_sizes), config.entities.entity_size,
                                        config.entities.width,
                                        config.entities.get('slot_values', True))
  if config.encoder == 'cnn':
    # Policies exported before these options existed have neither: the old behaviour.
    strides = tuple(config.cnn.get('strides', (1, 2, 2)))
    image = encoders.CNN(tuple(config.cnn.channels), tuple(config.cnn.hidden_sizes),
                         config.cnn.pooling, config.cnn.group_norm,
                         config.cnn.get('learn_temperature', False), strides)
  else:  # vit (check_network allows only ENCODERS)
    image = encoders.ViT(
        config.vit.patch_size, config.vit.width, config.vit.depth, config.vit.num_heads
    )
  return encoders.ImageStateEncoder(image, tuple(config.hidden_sizes), config.use_state)


def _head(config: ml_collections.ConfigDict, action_dim: int) -> nn.Module:
  if config.head == 'deterministic':
    return heads.DeterministicHead(action_dim=action_dim, squash=config.squash)
  if config.head == 'gaussian':
    return heads.GaussianHead(action_dim, config.min_scale, config.max_scale, config.bound,
                              config.bound_limit)
  if config.head == 'mixture':
    return heads.MixtureHead(action_dim, config.num_components, config.min_scale,
                             config.max_scale, config.bound, config.bound_limit)
  # categorical (check_network allows only HEADS)
  return heads.CategoricalHead(action_dim, config.num_bins, config.bin_low, config.bin_high)


def _task_conditioning(config: ml_collections.ConfigDict) -> Dict[str, nn.Module]:
  """The task embedding and trunk of `config.task` (none when fusion is 'none' or absent:
  policies exported before task conditioning existed have no such section)."""
  task = config.get('task')
  if task is None or task.fusion == 'none':
    return {}
  if not task.factor_sizes or min(task.factor_sizes) < 1:
    raise ConfigError('network.task.factor_sizes must list the number of values of each '
                      f'task factor (e.g. (3,) for 3 tasks), got {tuple(task.factor_sizes)}')
  factors = conditioning.chosen_factors(task.get('embedding_factors', ()),
                                        len(task.factor_sizes))
  return {
      'task_embedding': conditioning.TaskEmbedding(
          tuple(task.factor_sizes), task.embedding_dim, task.combine, factors),
      'trunk': conditioning.ConditionedTrunk(tuple(task.hidden_sizes), task.fusion),
  }


def check_network(config: ml_collections.ConfigDict) -> None:
  """The `network` section against the rules this module, the encoders and the task
  conditioning declare (make_policy may be called without the whole-config check)."""
  whole = {'network': config}
  found = (rules.problems(whole, {**CONFIG_RULES, **encoders.CONFIG_RULES,
                                  **conditioning.CONFIG_RULES})
           or encoders.config_problems(whole) + conditioning.config_problems(whole))
  if found:
    raise ConfigError(found[0])


def make_policy(config: ml_collections.ConfigDict, action_dim: int) -> Policy:
  """Builds the Policy that `config` (the `network` section) describes."""
  check_network(config)
  conditioning = _task_conditioning(config)
  if conditioning and config.task.get('per_task_heads', False):
    num_ids = int(np.prod(tuple(config.task.factor_sizes)))
    return Policy(encoder=_encoder(config),
                  task_heads=tuple(_head(config, action_dim) for _ in range(num_ids)),
                  **conditioning)
  return Policy(encoder=_encoder(config), head=_head(config, action_dim), **conditioning)


CONFIG_RULES = {
    'network.encoder': rules.one_of(ENCODERS),
    'network.head': rules.one_of(HEADS),
    'network.hidden_sizes': rules.positive_ints(),
    'network.min_scale': rules.positive_number(),
    'network.max_scale': rules.positive_number(),
    'network.bound': rules.one_of(('none', 'tanh', 'clip')),
    'network.bound_limit': rules.positive_number(),
    'network.num_components': rules.positive_int(),
    'network.num_bins': rules.int_at_least(2),
    'network.task.fusion': rules.one_of(TASK_FUSIONS),
}


def config_problems(config) -> List[str]:
  """Scales in order; an image encoder needs the env to render images, of a size its
  layers fit."""
  found = []
  low, high = rules.lookup(config, 'network.min_scale'), rules.lookup(config, 'network.max_scale')
  if low is not rules.MISSING and high is not rules.MISSING and low >= high:
    found.append(f'network.max_scale={high}: expected more than network.min_scale={low}')
  encoder = rules.lookup(config, 'network.encoder')
  size, name = rules.lookup(config, 'env.kwargs.image_size'), rules.lookup(config, 'env.name')
  if encoder not in ('cnn', 'vit') or size is rules.MISSING or not name or name is rules.MISSING:
    return found
  if size == 0:
    found.append(f'network.encoder={encoder!r} reads images but env.kwargs.image_size=0 gives '
                 f'{name!r} state observations only: set env.kwargs.image_size (e.g. 32) or use '
                 'network.encoder=mlp')
  elif encoder == 'vit' and size % config.network.vit.patch_size:
    found.append(f'env.kwargs.image_size={size}: expected a multiple of '
                 f'network.vit.patch_size={config.network.vit.patch_size} (the ViT tiles the '
                 'image into patches)')
  return found
