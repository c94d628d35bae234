"""The compiled update chunk: many agent updates fused into one call (`lax.scan`), with the
batch sharded over devices, vmapped over members; the host loop (training/loop.py) runs it."""

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
from jax import numpy as jp
from jax.sharding import Mesh

from imitation.data.device_dataset import DeviceDataset
from imitation.training import members as members_lib
from imitation.training import sharding

# update(train_state, batch, rng) -> (train_state, metrics)
UpdateFn = Callable[[Any, Dict[str, Any], jax.Array], Tuple[Any, Dict[str, jax.Array]]]

# The chunk's metrics hold, under this name, each metric's first non-finite step in the
# chunk (-1: it stayed finite): the loop's NaN guard (training/loop.py) reads it.
FIRST_NONFINITE = 'first_nonfinite_step'


def summarize_steps(metrics: Dict[str, jax.Array]) -> Dict[str, Any]:
  """Per-step metrics [steps, ...] -> their means over the chunk, and FIRST_NONFINITE: per
  metric, the index of the first step where it (any of its entries) was nan or inf, or -1.
  Every update reports its loss and gradient norm (`learner.gradient_step`), so a chunk
  that diverged says where."""
  def first_nonfinite(x):
    finite = jp.isfinite(x).reshape(x.shape[0], -1).all(axis=1)
    return jp.where(finite.all(), -1, jp.argmin(finite)).astype(jp.int32)

  return {**jax.tree.map(jp.mean, metrics),
          FIRST_NONFINITE: {k: first_nonfinite(v) for k, v in metrics.items()}}


def make_train_chunk(
    update: UpdateFn, *, batch_size: int, steps_per_call: int, mesh: Mesh, unroll: int = 1,
    members: Tuple[int, int] = (), members_at_once: int = 0,
) -> Callable[[Any, DeviceDataset], Tuple[Any, Dict[str, jax.Array]]]:
  """Returns jitted `chunk(state, dataset) -> (state, mean metrics)` running `steps_per_call`
  updates in a `lax.scan`, each on a batch sampled on device from `dataset`; the metrics
  also say where any went non-finite (`summarize_steps`).

  State is replicated over the mesh, the dataset replicated or sharded (it keeps the
  sharding it was put with, see `DeviceDataset`); each sampled batch is constrained to be
  split over the data axis, so XLA partitions the update's batch computation across
  devices (and all-reduces the gradients) without the update knowing.

  `unroll` updates are unrolled per loop iteration. XLA:CPU runs convolutions inside a loop
  body about 20x slower than outside one (jax-ml/jax#12868; measured on the image presets),
  so image policies on CPU unroll the whole chunk; it costs compile time only.

  With `members=(groups, seeds)` the state is stacked along a leading axis of
  groups * seeds members (group-major: a hyperparameter value per group, see
  training/members.py) and the chunk is vmapped over it: one compiled program trains every
  member with its own keys. A stacked dataset (`DeviceDataset.stack`, one per seed) is
  shared by the groups; an unstacked one by every member. Metrics are per-member means.
  With `members_at_once` = b > 0, b members are vmapped at a time and the program runs the
  groups of b in turn (`lax.map`): on a CPU, all members' params, optimizer state and
  activations at once outgrow the caches and run slower per member than b do
  (docs/scale.md); 0 vmaps all of them (GPU, TPU). Each group of b then reads its own
  slice of a stacked dataset, which the program copies once per call.
  """
  sharding.check_batch_size(batch_size, mesh)
  batch_sharding = sharding.batch_sharded(mesh)
  replicated = sharding.replicated(mesh)

  def one_chunk(state, dataset: DeviceDataset):
    def body(state, _):
      rng, rng_sample, rng_update = jax.random.split(state.rng, 3)
      batch = dataset.sample(rng_sample, batch_size)
      batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
      return update(state.replace(rng=rng), batch, rng_update)

    state, metrics = jax.lax.scan(body, state, None, length=steps_per_call, unroll=unroll)
    return state, summarize_steps(metrics)

  def chunk(state, dataset: DeviceDataset):
    if not members:
      return one_chunk(state, dataset)
    return _members_chunk(one_chunk, state, dataset, members, members_at_once)

  return jax.jit(
      chunk,
      in_shardings=(replicated, None),  # None: the dataset's own sharding
      out_shardings=(replicated, replicated),
      donate_argnums=0,
  )


def _members_chunk(one_chunk: Callable[..., Any], state: Any, dataset: DeviceDataset,
                   members: Tuple[int, int], at_once: int) -> Tuple[Any, Dict[str, jax.Array]]:
  """`one_chunk` of every member of the stacked `state`, `at_once` members vmapped at a time
  (0: all). Members are group-major (groups of seeds); the one member axis is mapped over
  directly where it lines up with the dataset's (unstacked, or one group): nesting a
  vmap over groups of a vmap over seeds makes XLA transpose every weight gradient. A
  stacked dataset with several groups still nests, every member at once."""
  groups, seeds = members
  if dataset.stacked and groups > 1:  # seed s's data serves member s of every group
    data_axes = jax.tree.map(lambda _: 0, dataset)
    per_group = jax.vmap(one_chunk, in_axes=(0, data_axes))
    split = jax.tree.map(lambda x: x.reshape((groups, seeds) + x.shape[1:]), state)
    state, metrics = jax.vmap(per_group, in_axes=(0, None))(split, dataset)
    return jax.tree.map(lambda x: x.reshape((groups * seeds,) + x.shape[2:]), (state, metrics))
  if dataset.stacked:
    run, xs = (lambda x: one_chunk(*x)), (state, dataset)
  else:
    run, xs = (lambda x: one_chunk(x, dataset)), state
  if at_once <= 0 or at_once >= groups * seeds:
    return jax.vmap(run)(xs)
  return jax.lax.map(run, xs, batch_size=at_once)


def make_stream_chunk(
    update: UpdateFn, *, batch_size: int, mesh: Mesh, unroll: int = 1
) -> Callable[[Any, Dict[str, jax.Array]], Tuple[Any, Dict[str, jax.Array]]]:
  """Returns jitted `chunk(state, batches) -> (state, mean metrics)`: one update per leading
  index of `batches` ([steps, batch_size, ...], batch split over the data axis), as
  `make_train_chunk` does with batches read from disk (`data.streaming`) instead of
  sampled on device."""
  sharding.check_batch_size(batch_size, mesh)
  replicated = sharding.replicated(mesh)

  def chunk(state, batches):
    def body(state, batch):
      rng, rng_update = jax.random.split(state.rng)
      return update(state.replace(rng=rng), batch, rng_update)

    state, metrics = jax.lax.scan(body, state, batches, unroll=unroll)
    return state, summarize_steps(metrics)

  return jax.jit(chunk, in_shardings=(replicated, sharding.steps_batch_sharded(mesh)),
                 out_shardings=(replicated, replicated), donate_argnums=0)


def make_chunk(update: UpdateFn, mesh: Mesh, *, batch_size: int, steps_per_call: int,
               unroll: int = 1, streaming: bool = False,
               members: Optional[Sequence[members_lib.Member]] = None,
               members_at_once: int = 0) -> Callable[..., Any]:
  """The chunk the host loop runs: `steps_per_call` updates on batches sampled on device,
  or on a chunk of batches read from disk (`streaming`); vmapped over `members`,
  `members_at_once` at a time (0: all)."""
  if streaming:
    return make_stream_chunk(update, batch_size=batch_size, mesh=mesh, unroll=unroll)
  return make_train_chunk(
      update, batch_size=batch_size, steps_per_call=steps_per_call, mesh=mesh,
      unroll=unroll, members=members_lib.axes(members) if members else (),
      members_at_once=members_at_once)
