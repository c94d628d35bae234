"""Observation encoders: they turn an observation dict into one feature vector."""

from typing import Callable, Dict, List, Sequence

import flax.linen as nn
import jax
from jax import numpy as jp

from imitation import config_rules as rules
from imitation.errors import ConfigError

ACTIVATIONS: Dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'gelu': nn.gelu,
    'tanh': nn.tanh,
    'swish': nn.swish,
}


class MLP(nn.Module):
  """Dense layers with an activation after each (including the last)."""

  hidden_sizes: Sequence[int]
  activation: str = 'relu'
  layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for size in self.hidden_sizes:
      x = nn.Dense(size)(x)
      if self.layer_norm:
        x = nn.LayerNorm()(x)
      x = ACTIVATIONS[self.activation](x)
    return x


def state_of(observation: Dict[str, jax.Array]) -> jax.Array:
  """The observation's `state` as float32, or a ConfigError for data without one (a camera
  only): only an image encoder with `network.use_state=False` reads such data."""
  if 'state' not in observation:
    raise ConfigError(f'the policy reads observation "state" but the data has only '
                      f'{sorted(observation)} (an image-only dataset): use '
                      'network.encoder=cnn or vit with network.use_state=False')
  return jp.asarray(observation['state'], jp.float32)


class StateEncoder(nn.Module):
  """Encodes the low-dimensional `state` vector with an MLP."""

  hidden_sizes: Sequence[int]
  activation: str = 'relu'
  layer_norm: bool = False

  @nn.compact
  def __call__(self, observation: Dict[str, jax.Array]) -> jax.Array:
    state = state_of(observation)
    return MLP(self.hidden_sizes, self.activation, self.layer_norm)(state)


def image_to_float(image: jax.Array) -> jax.Array:
  """uint8 [..., H, W, 3] in [0, 255] -> float32 in [-1, 1]; images stay uint8 until here."""
  return jp.asarray(image, jp.float32) / 127.5 - 1.0


def spatial_softmax(features: jax.Array) -> jax.Array:
  """[..., H, W, C] -> [..., 2C]: each channel's expected (x, y) under a softmax over pixels.

  Keypoints in [-1, 1] (Levine et al. 2016; robomimic's default pooling): where things are,
  which global average pooling discards.
  """
  height, width, channels = features.shape[-3:]
  logits = features.reshape(features.shape[:-3] + (height * width, channels))
  attention = jax.nn.softmax(logits, axis=-2)
  ys, xs = jp.meshgrid(jp.linspace(-1.0, 1.0, height), jp.linspace(-1.0, 1.0, width),
                       indexing='ij')
  grid = jp.stack([xs.reshape(-1), ys.reshape(-1)], axis=-1)  # [H * W, 2]
  keypoints = jp.einsum('...pc,pd->...cd', attention, grid)
  return keypoints.reshape(keypoints.shape[:-2] + (2 * channels,))


POOLINGS = ('mean', 'spatial_softmax')


class CNN(nn.Module):
  """A simple CNN: 3x3 conv layers with ReLU, pooling, an MLP.

  `pooling='mean'` is global average pooling; 'spatial_softmax' keeps positions.
  `group_norm` normalises each conv layer per image: on small top-down scenes (a thin arm on
  a flat background) features barely vary across images at initialisation, and without it
  the loss can sit at the action variance for thousands of updates.
  """

  channels: Sequence[int] = (64, 64, 64)
  hidden_sizes: Sequence[int] = (256, 128)
  pooling: str = 'mean'
  group_norm: bool = False
  # Spatial softmax: learn the softmax temperature (Levine et al.; robomimic). After group
  # norm the logits have unit variance, so at a fixed temperature of 1 the softmax is nearly
  # uniform and the keypoints carry little position.
  learn_temperature: bool = False
  strides: Sequence[int] = (1, 2, 2)  # per conv layer; 2 after the first keeps 224x224 cheap

  @nn.compact
  def __call__(self, image: jax.Array) -> jax.Array:
    x = image_to_float(image)
    for i, (channels, stride) in enumerate(zip(self.channels, self.strides, strict=True)):
      conv = nn.Conv(channels, (3, 3), strides=(stride, stride))(x)
      if self.group_norm:
        conv = nn.GroupNorm(num_groups=min(8, channels))(conv)
      # Keypoint logits must not be clipped at zero by a ReLU.
      last = i == len(self.channels) - 1 and self.pooling == 'spatial_softmax'
      x = conv if last else nn.relu(conv)
    if self.pooling == 'mean':
      x = jp.mean(x, axis=(-3, -2))
    elif self.pooling == 'spatial_softmax':
      if self.learn_temperature:
        x = x / jp.exp(self.param('log_temperature', nn.initializers.zeros, ()))
      x = spatial_softmax(x)
    else:
      raise ValueError(f'unknown pooling {self.pooling!r}; available: {", ".join(POOLINGS)}')
    return MLP(self.hidden_sizes)(x)


class ViT(nn.Module):
  """A Vision Transformer: patch embedding, pre-norm blocks, mean-pooled tokens."""

  patch_size: int = 8
  width: int = 128
  depth: int = 4
  num_heads: int = 4
  mlp_ratio: int = 4

  @nn.compact
  def __call__(self, image: jax.Array) -> jax.Array:
    x = image_to_float(image)
    x = nn.Conv(self.width, (self.patch_size,) * 2, strides=(self.patch_size,) * 2)(x)
    x = x.reshape(x.shape[:-3] + (-1, self.width))  # [..., tokens, width]
    position = self.param('position', nn.initializers.normal(0.02), x.shape[-2:])
    x = x + position
    for _ in range(self.depth):
      y = nn.LayerNorm()(x)
      x = x + nn.MultiHeadDotProductAttention(num_heads=self.num_heads)(y, y)
      y = nn.LayerNorm()(x)
      y = nn.Dense(self.width * self.mlp_ratio)(y)
      x = x + nn.Dense(self.width)(nn.gelu(y))
    return nn.LayerNorm()(jp.mean(x, axis=-2))


class ImageStateEncoder(nn.Module):
  """Encodes `image` (CNN or ViT) and, if `use_state`, `state` (MLP), and concatenates."""

  image_encoder: nn.Module
  state_hidden_sizes: Sequence[int] = (256, 256)
  use_state: bool = False

  @nn.compact
  def __call__(self, observation: Dict[str, jax.Array]) -> jax.Array:
    features = [self.image_encoder(observation['image'])]
    if self.use_state:
      features.append(StateEncoder(self.state_hidden_sizes)(observation))
    return jp.concatenate(features, axis=-1)


CONFIG_RULES = {
    'network.activation': rules.one_of(sorted(ACTIVATIONS)),
    'network.cnn.channels': rules.positive_ints(),
    'network.cnn.hidden_sizes': rules.positive_ints(),
    'network.cnn.strides': rules.positive_ints(),
    'network.cnn.pooling': rules.one_of(POOLINGS),
    'network.vit.patch_size': rules.positive_int(),
    'network.vit.width': rules.positive_int(),
    'network.vit.depth': rules.positive_int(),
    'network.vit.num_heads': rules.positive_int(),
}


def config_problems(config) -> List[str]:
  """A stride per CNN layer; a ViT width its heads divide."""
  found = []
  cnn = rules.lookup(config, 'network.cnn')
  if cnn is not rules.MISSING and len(cnn.get('strides', cnn.channels)) != len(cnn.channels):
    found.append(f'network.cnn.strides={rules.show(cnn.strides)}: expected one stride per '
                 f'layer of network.cnn.channels={rules.show(cnn.channels)}')
  vit = rules.lookup(config, 'network.vit')
  if vit is not rules.MISSING and vit.width % vit.num_heads:
    found.append(f'network.vit.width={vit.width}: expected a multiple of '
                 f'network.vit.num_heads={vit.num_heads}')
  return found
