"""A dataset held in device memory, sampled inside compiled code (no host round trip).

Two layouts: replicated (every device holds every row: one device, or data small enough to
copy) and sharded (the rows split over the mesh's data axis, each device sampling its own
shard: several devices or processes, each holding only its part).
"""

from typing import Any, Dict, Optional, Sequence

import flax
import jax
from jax import numpy as jp
import numpy as np

from imitation.data import windows as windows_lib
from imitation.envs.base import STATIC_OBSERVATION_KEYS

WINDOWS = 'windows'  # the data key of the rows' window indices (data/windows.py)


def _pad_rows(x: Any, rows: int) -> np.ndarray:
  """`x` with zero rows appended up to `rows` (padding that is never sampled)."""
  x = np.asarray(x)
  return np.concatenate([x, np.zeros((rows - len(x),) + x.shape[1:], x.dtype)])


@flax.struct.dataclass
class DeviceDataset:
  """Arrays sharing a leading axis of `size` examples, resident on the device(s).

  Rows are sampled uniformly, or in proportion to per-row weights (a task mixture, see
  `data.mixtures`) through their cumulative sum `cdf`, computed once.

  Sharded (`counts` set): arrays are [num_shards, rows, ...], split over the mesh's data
  axis; shard s holds `counts[s]` real rows (the rest pad it to a common length), and each
  shard's rows fill its 1/num_shards of every batch. The draw depends only on the key, not
  on which process holds which shard, so 2 processes of 1 device sample exactly what 1
  process of 2 devices does.
  """

  data: Dict[str, Any]
  size: int = flax.struct.field(pytree_node=False)  # real rows in all
  cdf: Optional[jax.Array] = None  # float32 [(shards,) rows] cumulative weights; None: uniform
  counts: Optional[jax.Array] = None  # int32 [num_shards] real rows per shard; None: replicated
  # Stacked (`stack`): every array has a leading axis of one dataset per seed, sampled by a
  # vmapped update (training/members.py); `size` is then the longest one's rows.
  stacked: bool = flax.struct.field(pytree_node=False, default=False)

  @classmethod
  def from_numpy(cls, data: Dict[str, Any], sharding: Optional[jax.sharding.Sharding] = None,
                 row_weights: Optional[np.ndarray] = None, capacity: Optional[int] = None):
    """Moves host arrays to the device once (replicated when given a replicated sharding).

    With `capacity`, the arrays are padded to that many rows, never sampled: a dataset
    that grows (DAgger's aggregate) keeps one shape, so the compiled update is reused.
    """
    sizes = {x.shape[0] for x in jax.tree.leaves(data)}
    if len(sizes) != 1:
      raise ValueError(f'arrays disagree on the number of examples: {sorted(sizes)}')
    size = sizes.pop()
    if capacity is not None:  # weights even when full, so the structure never changes
      if capacity < size:
        raise ValueError(f'{size} rows do not fit a capacity of {capacity}')
      row_weights = np.ones(size) if row_weights is None else row_weights
      row_weights = _pad_rows(np.asarray(row_weights, np.float64), capacity)
      data = jax.tree.map(lambda x: _pad_rows(x, capacity), data)
      size = capacity
    cdf = None
    if row_weights is not None:
      row_weights = np.asarray(row_weights, np.float64)
      if row_weights.shape != (size,) or np.any(row_weights < 0) or row_weights.sum() <= 0:
        raise ValueError(f'row_weights must be {size} non-negative numbers, not all 0')
      cdf = np.cumsum(row_weights / row_weights.sum()).astype(np.float32)
    put = (lambda x: jax.device_put(x, sharding)) if sharding is not None else jax.device_put
    return cls(data=put(data), size=size, cdf=None if cdf is None else put(cdf))

  @classmethod
  def from_shards(cls, shards: Sequence[Dict[str, Any]], sharding: jax.sharding.NamedSharding,
                  *, num_shards: int, rows: int, size: int,
                  row_weights: Optional[Sequence[np.ndarray]] = None):
    """A sharded dataset from this process's shards (in mesh order).

    Args:
      shards: this process's shards, each a dict of arrays with its own number of rows.
      sharding: splits the leading (shard) axis over the mesh's data axis.
      num_shards: shards over all processes (the data axis' size).
      rows: the common padded length (at least every shard's rows, over all processes).
      size: real rows over all shards.
      row_weights: per shard, non-negative per-row sampling weights (a task mixture).
    """
    def global_array(local):
      local = np.stack(local)
      return jax.make_array_from_process_local_data(
          sharding, local, (num_shards,) + local.shape[1:])

    counts = [len(jax.tree.leaves(shard)[0]) for shard in shards]
    if min(counts) < 1 or max(counts) > rows:
      raise ValueError(f'every shard needs 1 to {rows} rows, got {counts}')
    data = jax.tree.map(lambda *parts: global_array([_pad_rows(p, rows) for p in parts]), *shards)
    cdf = None
    if row_weights is not None:
      cdfs = []
      for weights, count in zip(row_weights, counts):
        weights = np.asarray(weights, np.float64)
        if weights.shape != (count,) or np.any(weights < 0) or weights.sum() <= 0:
          raise ValueError(f'row_weights must be {count} non-negative numbers, not all 0')
        cdfs.append(_pad_rows(np.cumsum(weights / weights.sum()), rows).astype(np.float32))
        cdfs[-1][count:] = 1.0
      cdf = global_array(cdfs)
    return cls(data=data, size=size, cdf=cdf,
               counts=global_array([np.asarray(c, np.int32) for c in counts]))

  @classmethod
  def stack(cls, datasets: Sequence[Dict[str, Any]],
            sharding: Optional[jax.sharding.Sharding] = None):
    """One dataset per seed, stacked along a new leading axis and moved to the device once.

    Shorter datasets are padded to the longest, with sampling weight 0 on the padding, so
    each seed samples only its own rows (and uniformly when all have the same size).
    """
    sizes = [len(jax.tree.leaves(d)[0]) for d in datasets]
    rows = max(sizes)

    data = jax.tree.map(lambda *parts: np.stack([_pad_rows(p, rows) for p in parts]), *datasets)
    cdf = None
    if len(set(sizes)) > 1:
      cdf = np.stack([np.minimum(np.arange(1, rows + 1) / n, 1.0) for n in sizes]).astype(np.float32)
    put = (lambda x: jax.device_put(x, sharding)) if sharding is not None else jax.device_put
    return cls(data=put(data), size=rows, cdf=None if cdf is None else put(cdf), stacked=True)

  def sample(self, rng: jax.Array, batch_size: int) -> Dict[str, Any]:
    """A sampled batch (with replacement), for use inside jit.

    With `data['windows']` (row indices of each row's action chunk and observation
    history, data/windows.py) the batch's `action` is [batch, H, A] with its `chunk_mask`,
    and its observations (but the static keys) are [batch, n, ...]: gathered here, so the
    dataset holds each step once."""
    if self.counts is not None:
      return self._sample_shards(rng, batch_size)
    if self.cdf is None:
      indices = jax.random.randint(rng, (batch_size,), 0, self.size)
    else:
      draws = jax.random.uniform(rng, (batch_size,)) * self.cdf[-1]
      indices = jp.minimum(jp.searchsorted(self.cdf, draws, side='right'), self.size - 1)
    return _with_windows(self.data, jax.tree.map(lambda x: jp.take(x, indices, axis=0),
                                                 self.data))

  def _sample_shards(self, rng: jax.Array, batch_size: int) -> Dict[str, Any]:
    """Each shard draws batch_size / num_shards of its own rows; shard-major batch order.
    A shard holds whole episodes, so its rows' windows index its own rows."""
    num_shards = self.counts.shape[0]
    per_shard = batch_size // num_shards
    keys = jax.random.split(rng, num_shards)
    if self.cdf is None:
      indices = jax.vmap(lambda k, n: jax.random.randint(k, (per_shard,), 0, n))(
          keys, self.counts)
    else:
      def weighted(key, cdf, count):
        draws = jax.random.uniform(key, (per_shard,))
        return jp.minimum(jp.searchsorted(cdf, draws, side='right'), count - 1)
      indices = jax.vmap(weighted)(keys, self.cdf, self.counts)
    take = jax.vmap(lambda x, i: jp.take(x, i, axis=0))
    batch = jax.vmap(_with_windows)(self.data, jax.tree.map(lambda x: take(x, indices), self.data))
    return jax.tree.map(lambda x: x.reshape((num_shards * per_shard,) + x.shape[2:]), batch)


def _with_windows(data: Dict[str, Any], batch: Dict[str, Any]) -> Dict[str, Any]:
  """`batch` (rows of `data`) with its rows' windows gathered from `data`: the action
  chunks (with their `chunk_mask`) and observation histories (but the static keys)."""
  batch = dict(batch)
  windows = batch.pop(WINDOWS, None)
  if not windows:
    return batch
  if windows_lib.FUTURE_INDEX in windows:
    batch['action'] = jp.take(data['action'], windows[windows_lib.FUTURE_INDEX], axis=0)
    batch[windows_lib.CHUNK_MASK] = windows[windows_lib.CHUNK_MASK]
  if windows_lib.PAST_INDEX in windows:
    past = windows[windows_lib.PAST_INDEX]
    batch['observation'] = {
        k: v if k in STATIC_OBSERVATION_KEYS else jp.take(data['observation'][k], past, axis=0)
        for k, v in batch['observation'].items()}
  return batch
