"""Checkpoints (orbax behind a small API of ours) and policy export.

* `Checkpointer`: full train state for resuming, one directory per step under
  `workdir/checkpoints`, the newest few kept.
* `export_policy` / `load_policy`: what it takes to run a trained policy elsewhere:
  parameters, normalisation statistics and the network config, in one directory.
"""

import json
import os
import shutil
from typing import Any, Dict, Optional, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from imitation import atomic
from imitation.data import normalization as normalization_lib
from imitation.errors import CheckpointError
from imitation.networks import policy as policy_lib
from imitation.training import distributed


UNREADABLE_DIR = 'unreadable'  # under checkpoints/: checkpoints that could not be restored


def _abstract(tree: Any) -> Any:
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def _key_name(key: Any) -> str:
  for attribute in ('key', 'name', 'idx'):
    if hasattr(key, attribute):
      return str(getattr(key, attribute))
  return str(key)


def _shapes_by_name(tree: Any) -> Dict[str, Tuple[int, ...]]:
  """'params/Dense_0/kernel' -> shape, for every array of a train state or its metadata."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {'/'.join(_key_name(k) for k in path): tuple(getattr(leaf, 'shape', np.shape(leaf)))
          for path, leaf in leaves if leaf is not None}


def _one_line(error: Exception) -> str:
  lines = str(error).strip().splitlines()
  return f'{type(error).__name__}: {lines[-1] if lines else ""}'[:300]


class Checkpointer:
  """Saves and restores the train state under `directory`."""

  def __init__(self, directory: str, max_to_keep: int = 2):
    self._directory = os.path.abspath(directory)
    # Two named items: the train state and, for streamed input, the pipeline's position.
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'data': ocp.JsonCheckpointHandler()},
    )

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, data_state: Optional[Dict[str, Any]] = None) -> None:
    """Saves `state`, and the input pipeline's position `data_state` (JSON) if given."""
    items = {'state': ocp.args.StandardSave(state)}
    if data_state is not None:
      items['data'] = ocp.args.JsonSave(data_state)
    self._manager.save(step, args=ocp.args.Composite(**items))

  def _step(self, step: Optional[int]) -> int:
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError('no checkpoint to restore')
    return step

  def restore(self, template: Any, step: Optional[int] = None) -> Any:
    """Restores `step` (default: the latest) into the structure of `template`."""
    return self._manager.restore(
        self._step(step), args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(template))))['state']

  def restore_data_state(self, step: Optional[int] = None) -> Optional[Dict[str, Any]]:
    """The input pipeline's position saved with `step`, or None if it has none."""
    step = self._step(step)
    if 'data' not in self._manager.item_metadata(step):
      return None
    return self._manager.restore(step, args=ocp.args.Composite(data=ocp.args.JsonRestore()))[
        'data']

  def restore_latest_good(self, template: Any) -> Tuple[Optional[int], Any, Optional[Dict[str, Any]]]:
    """(step, state, input position) of the newest checkpoint that can be read, or
    (None, template, None) when there is none.

    A checkpoint that cannot be read (truncated or corrupt files) is moved aside to
    `checkpoints/unreadable/STEP` with a warning naming it and the reason, and the one
    before it is tried. Raises a CheckpointError when checkpoints exist but none can be read,
    or when one was written for other shapes (the config changed the network).
    """
    failures = []
    for step in sorted(self._manager.all_steps(), reverse=True):
      mismatch = self._shape_mismatch(step, template)
      if mismatch:
        raise CheckpointError(
            f'the checkpoint at step {step} in {self._directory} was written by a different '
            f'config ({mismatch}): resume with the config it was written with (config.json '
            'beside it) or pass another --workdir')
      try:
        return step, self.restore(template, step), self.restore_data_state(step)
      except Exception as e:  # pylint: disable=broad-except
        reason = _one_line(e)
        failures.append(f'step {step}: {reason}')
        aside = os.path.join(self._directory, UNREADABLE_DIR, str(step))
        logging.warning('cannot read the checkpoint at step %d in %s (%s): moved it to %s '
                        'and trying the one before', step, self._directory, reason, aside)
        if distributed.is_writer():
          os.makedirs(os.path.dirname(aside), exist_ok=True)
          shutil.rmtree(aside, ignore_errors=True)
          os.rename(os.path.join(self._directory, str(step)), aside)
        distributed.barrier(f'checkpoint_unreadable_{step}')
        self._manager.reload()
    if failures:
      raise CheckpointError(
          f'no checkpoint in {self._directory} can be read ({"; ".join(failures)}); they are '
          f'in {os.path.join(self._directory, UNREADABLE_DIR)}: remove it to start over')
    return None, template, None

  def _shape_mismatch(self, step: int, template: Any) -> Optional[str]:
    """'name: saved S, this config T' for the first array of the train state whose shape
    (or presence) differs from `template`'s, or None (also when the metadata is unreadable:
    that checkpoint is then reported as unreadable)."""
    try:
      saved = _shapes_by_name(self._manager.item_metadata(step)['state'])
    except Exception:  # pylint: disable=broad-except
      return None
    wanted = _shapes_by_name(template)
    # Parameters first: their shapes say what changed (the optimizer's state follows them).
    for name in sorted(set(saved) | set(wanted), key=lambda n: (not n.startswith('params'), n)):
      if saved.get(name) != wanted.get(name):
        describe = lambda s: 'absent' if s is None else str(s)
        return f'{name}: saved {describe(saved.get(name))}, this config {describe(wanted.get(name))}'
    return None

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


POLICY_CONFIG = 'policy_config.json'


def export_policy(
    directory: str,
    params: Any,
    normalization: normalization_lib.Normalization,
    *,
    network_config: ml_collections.ConfigDict,
    action_dim: int,
    extra: Optional[Dict[str, Any]] = None,
    write_config: bool = True,
) -> None:
  """Writes parameters (orbax) and network config + normalisation (JSON) to `directory`,
  replacing what was there whole: it is built under DIRECTORY.incomplete and renamed into
  place once complete (`imitation.atomic`), so a kill never leaves half a policy.

  In a multi-process run every process calls this (orbax saves together); only the one
  with `write_config` writes the JSON and renames the directory."""
  directory = os.path.abspath(directory)
  building = directory + atomic.INCOMPLETE
  if write_config:
    building = atomic.begin(directory)
  distributed.barrier('export_policy_begin')
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(building, 'params'), params, force=True)
  distributed.barrier('export_policy_saved')
  if not write_config:
    return
  atomic.write_json(os.path.join(building, POLICY_CONFIG), {
      'network': network_config.to_dict(),
      'action_dim': int(action_dim),
      'normalization': normalization_lib.to_json(normalization),
      **(extra or {}),
  })
  atomic.commit(building, directory)


def load_policy(
    directory: str,
) -> Tuple[policy_lib.Policy, Tuple[Any, normalization_lib.Normalization], Dict[str, Any]]:
  """Returns (policy module, (params, normalization), policy config) from `export_policy`."""
  directory = os.path.abspath(directory)
  with open(os.path.join(directory, POLICY_CONFIG)) as f:
    config = json.load(f)
  policy = policy_lib.make_policy(
      ml_collections.ConfigDict(config['network']), config['action_dim']
  )
  with ocp.StandardCheckpointer() as checkpointer:
    params = checkpointer.restore(os.path.join(directory, 'params'))
  normalization = normalization_lib.from_json(config['normalization'])
  return policy, (params, normalization), config
