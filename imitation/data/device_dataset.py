"""A dataset held in device memory, sampled inside compiled code (no host round trip)."""

from typing import Any, Dict, Optional

import flax
import jax
from jax import numpy as jp
import numpy as np


@flax.struct.dataclass
class DeviceDataset:
  """Arrays sharing a leading axis of `size` examples, resident on the device(s).

  Rows are sampled uniformly, or in proportion to per-row weights (a task mixture, see
  `data.mixtures`) through their cumulative sum `cdf`, computed once.
  """

  data: Dict[str, Any]
  size: int = flax.struct.field(pytree_node=False)
  cdf: Optional[jax.Array] = None  # float32 [size] cumulative row weights; None: uniform

  @classmethod
  def from_numpy(cls, data: Dict[str, Any], sharding: Optional[jax.sharding.Sharding] = None,
                 row_weights: Optional[np.ndarray] = None):
    """Moves host arrays to the device once (replicated when given a replicated sharding)."""
    sizes = {x.shape[0] for x in jax.tree.leaves(data)}
    if len(sizes) != 1:
      raise ValueError(f'arrays disagree on the number of examples: {sorted(sizes)}')
    size = sizes.pop()
    cdf = None
    if row_weights is not None:
      row_weights = np.asarray(row_weights, np.float64)
      if row_weights.shape != (size,) or np.any(row_weights < 0) or row_weights.sum() <= 0:
        raise ValueError(f'row_weights must be {size} non-negative numbers, not all 0')
      cdf = np.cumsum(row_weights / row_weights.sum()).astype(np.float32)
    put = (lambda x: jax.device_put(x, sharding)) if sharding is not None else jax.device_put
    return cls(data=put(data), size=size, cdf=None if cdf is None else put(cdf))

  def sample(self, rng: jax.Array, batch_size: int) -> Dict[str, Any]:
    """A sampled batch (with replacement), for use inside jit."""
    if self.cdf is None:
      indices = jax.random.randint(rng, (batch_size,), 0, self.size)
    else:
      draws = jax.random.uniform(rng, (batch_size,)) * self.cdf[-1]
      indices = jp.minimum(jp.searchsorted(self.cdf, draws, side='right'), self.size - 1)
    return jax.tree.map(lambda x: jp.take(x, indices, axis=0), self.data)
