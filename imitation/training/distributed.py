"""Multi-host runs on JAX's own multi-controller runtime: one process per host, one program.

`initialize` joins the processes (from the config's `distributed` section, or the cluster's
environment). After it, `jax.devices()` lists every process's devices, the mesh spans them
all, and the jitted update runs as one program; each process feeds its own devices
(`process_shards`), and the few host-side values every process must agree on (dataset
sizes, normalisation statistics, evaluation episodes) are gathered here.

A single process is the case of one: every helper then returns its input unchanged, so the
same code path runs on a laptop and on a slice.
"""

from typing import Any, List, Sequence

from absl import logging
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from imitation.errors import ConfigError


def initialize(section: ml_collections.ConfigDict) -> None:
  """Joins this process to a multi-process run when the `distributed` section asks.

  * `coordinator_address` set: the explicit form (address `host:port` of process 0,
    `num_processes`, this `process_id`), e.g. for processes started by hand or a script.
  * `auto=True`: JAX detects the cluster (SLURM, Open MPI, Cloud TPU, GKE, ...) from its
    environment, as `jax.distributed.initialize()` does with no arguments.
  * neither: a single-process run; nothing is initialised.

  Must run before anything touches a device.
  """
  if section is None:
    return
  address = section.get('coordinator_address', '')
  if address:
    if section.num_processes < 1 or not 0 <= section.process_id < section.num_processes:
      raise ConfigError(
          'distributed.coordinator_address needs distributed.num_processes >= 1 and '
          f'0 <= distributed.process_id < num_processes (got {section.num_processes}, '
          f'{section.process_id})')
    jax.distributed.initialize(address, section.num_processes, section.process_id,
                               initialization_timeout=section.get('timeout_s', 300))
  elif section.get('auto', False):
    jax.distributed.initialize()
  else:
    return
  logging.info('process %d of %d; %d local of %d devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


def is_writer() -> bool:
  """Process 0 writes the run's files; the others compute alongside it."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier of this name (no-op in one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def process_shards(mesh: jax.sharding.Mesh) -> List[int]:
  """The positions along the mesh of this process's devices: the data shards it feeds."""
  local = {d.id for d in jax.local_devices()}
  return [i for i, d in enumerate(mesh.devices.flat) if d.id in local]


def all_gather(values: np.ndarray) -> np.ndarray:
  """[process_count, ...]: every process's `values` (same shape on each), exactly.

  float64 travels as pairs of uint32 so nothing is rounded to JAX's default float32.
  """
  values = np.asarray(values)
  if jax.process_count() == 1:
    return values[None]
  if values.dtype == np.float64:
    bits = multihost_utils.process_allgather(values.view(np.uint32))
    return np.asarray(bits).view(np.float64)
  return np.asarray(multihost_utils.process_allgather(values))


def gather_rows(values: np.ndarray) -> np.ndarray:
  """Every process's rows (any number each) concatenated in process order."""
  values = np.asarray(values)
  if jax.process_count() == 1:
    return values
  lengths = all_gather(np.asarray(len(values), np.int32))
  padded = np.zeros((int(lengths.max()),) + values.shape[1:], values.dtype)
  padded[:len(values)] = values
  gathered = all_gather(padded)
  return np.concatenate([part[:n] for part, n in zip(gathered, lengths)])


def split_evenly(total: int, what: str) -> slice:
  """This process's contiguous share of `total` items (episodes), equal for every process."""
  count = jax.process_count()
  if total % count:
    raise ConfigError(f'{what}={total} must be divisible by the number of processes {count}')
  share = total // count
  return slice(jax.process_index() * share, (jax.process_index() + 1) * share)


def local_copy(tree: Any) -> Any:
  """Arrays replicated over the mesh (of every process), as arrays on this process's first
  device: what a program that runs on one local device (an evaluation rollout) can take.
  Without a mesh on its inputs such a program is traced as collection traced its rollout,
  so it reuses that trace of the simulator step (JAX keys traces by the inputs' mesh)."""
  def local(x):
    if isinstance(x, jax.Array) and isinstance(x.sharding, jax.sharding.NamedSharding):
      if not x.is_fully_replicated:
        if not x.is_fully_addressable:
          raise ValueError(f'an array sharded over processes ({x.sharding}) has no local copy')
        return x
      return x.addressable_data(0)
    return x
  return jax.tree.map(local, tree)


def sum_over_processes(values: Sequence[float]) -> np.ndarray:
  """Element-wise sum of a few host numbers over processes (float64, exact transfer)."""
  return all_gather(np.asarray(values, np.float64)).sum(0)
