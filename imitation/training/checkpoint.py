"""Checkpoints (orbax behind a small API of ours) and policy export.

* `Checkpointer`: full train state for resuming, one directory per step under
  `workdir/checkpoints`, the newest few kept.
* `export_policy` / `load_policy`: what it takes to run a trained policy elsewhere:
  parameters, normalisation statistics and the network config, in one directory.
"""

import json
import os
from typing import Any, Dict, Optional, Tuple

import jax
import ml_collections
import orbax.checkpoint as ocp

from imitation.data import normalization as normalization_lib
from imitation.networks import policy as policy_lib


def _abstract(tree: Any) -> Any:
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
  """Saves and restores the train state under `directory`."""

  def __init__(self, directory: str, max_to_keep: int = 2):
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
  """Writes parameters (orbax) and network config + normalisation (JSON) to `directory`.

  In a multi-process run every process calls this (orbax saves together); only the one
  with `write_config` writes the JSON."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(directory, 'params'), params, force=True)
  if not write_config:
    return
  with open(os.path.join(directory, POLICY_CONFIG), 'w') as f:
    json.dump(
        {
            'network': network_config.to_dict(),
            'action_dim': int(action_dim),
            'normalization': normalization_lib.to_json(normalization),
            **(extra or {}),
        },
        f,
        indent=2,
    )


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
