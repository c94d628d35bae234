"""Image augmentation inside the compiled step."""

import jax
from jax import numpy as jp

from imitation import config_rules as rules


def random_shift(rng: jax.Array, images: jax.Array, pad: int) -> jax.Array:
  """DrQ-style shift: replicate-pad by `pad` pixels, crop back at a random offset per image.

  images: uint8 or float [batch, ..., H, W, C]; returns the same shape and dtype. One offset
  per example: the frames of an observation history ([batch, n, H, W, C]) shift alike.
  """
  if pad <= 0:
    return images
  batch, height, width = images.shape[0], images.shape[-3], images.shape[-2]
  frames = images.ndim - 4  # axes between the batch and the image
  padded = jp.pad(images, ((0, 0),) * (1 + frames) + ((pad, pad), (pad, pad), (0, 0)),
                  mode='edge')
  offsets = jax.random.randint(rng, (batch, 2), 0, 2 * pad + 1)

  def crop(image, offset):
    start = (0,) * frames + (offset[0], offset[1], 0)
    return jax.lax.dynamic_slice(image, start, image.shape[:frames] + (height, width,
                                                                     image.shape[-1]))

  return jax.vmap(crop)(padded, offsets)


CONFIG_RULES = {'augment.random_shift_pad': rules.non_negative_int()}
