"""Device mesh and shardings: the batch is split over a `data` axis, state is replicated.

The same jitted update runs on one device or many; only these shardings change.
"""

from typing import Optional

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from imitation.errors import ConfigError

DATA_AXIS = 'data'


def make_mesh(num_devices: Optional[int] = None) -> Mesh:
  """A 1-D mesh over the first `num_devices` devices (all of them when None or 0)."""
  devices = jax.devices()
  if num_devices and jax.process_count() > 1 and num_devices != len(devices):
    raise ConfigError(f'num_devices={num_devices}: a multi-process run uses all '
                      f'{len(devices)} devices (num_devices=0)')
  if num_devices:
    if num_devices > len(devices):
      raise ConfigError(f'asked for {num_devices} devices, only {len(devices)} available')
    devices = devices[:num_devices]
  return Mesh(devices, (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the data axis."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def steps_batch_sharded(mesh: Mesh) -> NamedSharding:
  """[steps, batch, ...] arrays: the batch (second) axis split over the data axis."""
  return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  if batch_size % mesh.size:
    raise ConfigError(
        f'batch size {batch_size} is not divisible by the number of devices {mesh.size}'
    )
