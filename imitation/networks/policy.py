"""The Policy: observation dict -> action distribution, assembled from config."""

from typing import Any, Dict

import flax.linen as nn
import jax
import ml_collections

from imitation.errors import ConfigError

from imitation.networks import encoders
from imitation.networks import heads


class Policy(nn.Module):
  """An encoder followed by a head; knows nothing about data or normalisation."""

  encoder: nn.Module
  head: nn.Module

  def __call__(self, observation: Dict[str, jax.Array]) -> Any:
    return self.head(self.encoder(observation))


def make_policy(config: ml_collections.ConfigDict, action_dim: int) -> Policy:
  """Builds the Policy that `config` (the `network` section) describes."""
  if config.encoder != 'mlp':
    raise ConfigError(f'unknown encoder {config.encoder!r}; available: mlp')
  encoder = encoders.StateEncoder(
      hidden_sizes=tuple(config.hidden_sizes),
      activation=config.activation,
      layer_norm=config.layer_norm,
  )
  if config.head != 'deterministic':
    raise ConfigError(f'unknown head {config.head!r}; available: deterministic')
  head = heads.DeterministicHead(action_dim=action_dim, squash=config.squash)
  return Policy(encoder=encoder, head=head)
