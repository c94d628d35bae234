"""A dataset held in device memory, sampled inside compiled code (no host round trip)."""

from typing import Any, Dict, Optional

import flax
import jax
from jax import numpy as jp


@flax.struct.dataclass
class DeviceDataset:
  """Arrays sharing a leading axis of `size` examples, resident on the device(s)."""

  data: Dict[str, Any]
  size: int = flax.struct.field(pytree_node=False)

  @classmethod
  def from_numpy(cls, data: Dict[str, Any], sharding: Optional[jax.sharding.Sharding] = None):
    """Moves host arrays to the device once (replicated when given a replicated sharding)."""
    sizes = {x.shape[0] for x in jax.tree.leaves(data)}
    if len(sizes) != 1:
      raise ValueError(f'arrays disagree on the number of examples: {sorted(sizes)}')
    data = jax.device_put(data, sharding) if sharding is not None else jax.device_put(data)
    return cls(data=data, size=sizes.pop())

  def sample(self, rng: jax.Array, batch_size: int) -> Dict[str, Any]:
    """A uniformly sampled batch (with replacement), for use inside jit."""
    indices = jax.random.randint(rng, (batch_size,), 0, self.size)
    return jax.tree.map(lambda x: jp.take(x, indices, axis=0), self.data)
