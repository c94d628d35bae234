"""Name -> environment constructor registry, so configs can name tasks as strings."""

import contextlib
import json
from typing import Any, Callable, Dict, List, Mapping, Optional

from brax.envs.base import Env
import jax
import ml_collections
from mujoco import mjx

from imitation import config_rules as rules
from imitation.envs import wrappers

_REGISTRY: Dict[str, Callable[..., Env]] = {}
_INSTANCES: Dict[Any, Env] = {}  # (name, kwargs as JSON) -> the env made from them


def register(name: str, constructor: Callable[..., Env]) -> None:
  """Registers a task constructor under `name` (overwrites are an error)."""
  if name in _REGISTRY:
    raise ValueError(f'task {name!r} is already registered')
  _REGISTRY[name] = constructor


def make(name: str, **kwargs: Any) -> Env:
  """Returns the unbatched Brax environment registered as `name`.

  Envs are immutable, so one object serves every caller with the same name and kwargs (a
  run's collection, training and evaluation): it is built once, and the rollouts built on
  it share one trace of its step (see `rollout.make_rollout`).
  """
  if name not in _REGISTRY:
    raise ValueError(
        f'unknown task {name!r}; registered tasks: {", ".join(sorted(_REGISTRY))}'
    )
  key = (name, json.dumps(kwargs, sort_keys=True, default=str))
  if key not in _INSTANCES:
    if jax.process_count() == 1:
      _INSTANCES[key] = _REGISTRY[name](**kwargs)
    else:
      with _mjx_models_on_local_device():
        _INSTANCES[key] = _REGISTRY[name](**kwargs)
  return _INSTANCES[key]


@contextlib.contextmanager
def _mjx_models_on_local_device():
  """MJX puts a model on `jax.devices()[0]` unless told otherwise, and in a multi-process run
  that device is process 0's: the other processes could not run the env (nor copy the
  model over). Brax's loader names no device, so this names this process's own."""
  put_model = mjx.put_model

  def put_model_locally(model, device=None, **kwargs):
    return put_model(model, device=device or jax.local_devices()[0], **kwargs)

  mjx.put_model = put_model_locally
  try:
    yield
  finally:
    mjx.put_model = put_model


def registered_tasks() -> List[str]:
  return sorted(_REGISTRY)


def make_from_config(config: Mapping[str, Any]) -> Env:
  """The env an experiment's `env` config section describes: name, kwargs, action noise.

  Args:
    config: a mapping (e.g. a ConfigDict) with `name`, `kwargs` and optionally
      `action_noise` = {relative_std, absolute_std}; zero noise adds no wrapper;
      and optionally `frame_stack` (images of the last N steps, stacked; 1 adds none).
  """
  kwargs = config['kwargs']
  env = make(config['name'], **(kwargs.to_dict() if hasattr(kwargs, 'to_dict') else kwargs))
  noise = config.get('action_noise') or {}
  if noise.get('relative_std', 0.0) or noise.get('absolute_std', 0.0):
    env = wrappers.ActionNoise(env, noise.get('relative_std', 0.0), noise.get('absolute_std', 0.0))
  frame_stack = config.get('frame_stack', 1)
  if frame_stack > 1:
    env = wrappers.FrameStack(env, frame_stack)
  return env


def make_held_out_from_config(config: ml_collections.ConfigDict) -> Optional[Env]:
  """The env of the task combinations held out of training (`config`, the `env` section,
  with its kwargs updated by `held_out_kwargs`), or None for an env without any."""
  held_out_kwargs = config.get('held_out_kwargs') or {}
  if not held_out_kwargs:
    return None
  held_out = config.copy_and_resolve_references()
  with held_out.unlocked():
    held_out.kwargs.update(held_out_kwargs)
  return make_from_config(held_out)


CONFIG_RULES = {
    'env.horizon': rules.non_negative_int(),
    'env.frame_stack': rules.positive_int(),
    'env.kwargs.image_size': rules.non_negative_int(),
    'env.action_noise.relative_std': rules.non_negative_number(),
    'env.action_noise.absolute_std': rules.non_negative_number(),
}


def config_problems(config) -> List[str]:
  """`env.name` names a registered task (or is empty: a run on data alone)."""
  name = rules.lookup(config, 'env.name')
  if name is rules.MISSING or not name or name in registered_tasks():
    return []
  return [f'env.name={name!r}: expected one of {", ".join(registered_tasks())} '
          '(or "" for a run on data alone)']
