"""The Policy: observation dict -> action distribution, assembled from config."""

from typing import Any, Dict

import flax.linen as nn
import jax
import ml_collections

from imitation.errors import ConfigError
from imitation.networks import encoders
from imitation.networks import heads

ENCODERS = ('mlp', 'cnn', 'vit')
HEADS = ('deterministic', 'gaussian', 'mixture', 'categorical')


class Policy(nn.Module):
  """An encoder followed by a head; knows nothing about data or normalisation."""

  encoder: nn.Module
  head: nn.Module

  def __call__(self, observation: Dict[str, jax.Array]) -> Any:
    return self.head(self.encoder(observation))


def _encoder(config: ml_collections.ConfigDict) -> nn.Module:
  if config.encoder == 'mlp':
    return encoders.StateEncoder(
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        layer_norm=config.layer_norm,
    )
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


def make_policy(config: ml_collections.ConfigDict, action_dim: int) -> Policy:
  """Builds the Policy that `config` (the `network` section) describes."""
  return Policy(encoder=_encoder(config), head=_head(config, action_dim))
