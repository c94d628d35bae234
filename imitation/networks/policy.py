"""The Policy: observation dict -> action distribution, assembled from config."""

from typing import Any, Dict, Optional, Sequence

import flax.linen as nn
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

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
    if len(strides) != len(config.cnn.channels):
      raise ConfigError('network.cnn.strides needs one stride per layer of network.cnn.channels')
    if config.cnn.pooling not in encoders.POOLINGS:
      raise ConfigError(f'unknown network.cnn.pooling {config.cnn.pooling!r}; available: '
                        f'{", ".join(encoders.POOLINGS)}')
    image = encoders.CNN(tuple(config.cnn.channels), tuple(config.cnn.hidden_sizes),
                         config.cnn.pooling, config.cnn.group_norm,
                         config.cnn.get('learn_temperature', False), strides)
  elif config.encoder == 'vit':
    image = encoders.ViT(
        config.vit.patch_size, config.vit.width, config.vit.depth, config.vit.num_heads
    )
  else:
    raise ConfigError(f'unknown encoder {config.encoder!r}; available: {", ".join(ENCODERS)}')
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
  if config.head == 'categorical':
    return heads.CategoricalHead(action_dim, config.num_bins, config.bin_low, config.bin_high)
  raise ConfigError(f'unknown head {config.head!r}; available: {", ".join(HEADS)}')


def _task_conditioning(config: ml_collections.ConfigDict) -> Dict[str, nn.Module]:
  """The task embedding and trunk of `config.task` (none when fusion is 'none' or absent:
  policies exported before task conditioning existed have no such section)."""
  task = config.get('task')
  if task is None or task.fusion == 'none':
    return {}
  if task.fusion not in TASK_FUSIONS:
    raise ConfigError(f'unknown network.task.fusion {task.fusion!r}; available: '
                      f'{", ".join(TASK_FUSIONS)}')
  if task.combine not in conditioning.COMBINES:
    raise ConfigError(f'unknown network.task.combine {task.combine!r}; available: '
                      f'{", ".join(conditioning.COMBINES)}')
  if not task.factor_sizes or min(task.factor_sizes) < 1:
    raise ConfigError('network.task.factor_sizes must list the number of values of each '
                      f'task factor (e.g. (3,) for 3 tasks), got {tuple(task.factor_sizes)}')
  try:
    factors = conditioning.chosen_factors(task.get('embedding_factors', ()),
                                          len(task.factor_sizes))
  except ValueError as error:
    raise ConfigError(f'network.task.embedding_factors: {error}') from None
  return {
      'task_embedding': conditioning.TaskEmbedding(
          tuple(task.factor_sizes), task.embedding_dim, task.combine, factors),
      'trunk': conditioning.ConditionedTrunk(tuple(task.hidden_sizes), task.fusion),
  }


def make_policy(config: ml_collections.ConfigDict, action_dim: int) -> Policy:
  """Builds the Policy that `config` (the `network` section) describes."""
  conditioning = _task_conditioning(config)
  if conditioning and config.task.get('per_task_heads', False):
    num_ids = int(np.prod(tuple(config.task.factor_sizes)))
    return Policy(encoder=_encoder(config),
                  task_heads=tuple(_head(config, action_dim) for _ in range(num_ids)),
                  **conditioning)
  return Policy(encoder=_encoder(config), head=_head(config, action_dim), **conditioning)
