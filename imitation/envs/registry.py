"""Name -> environment constructor registry, so configs can name tasks as strings."""

from typing import Any, Callable, Dict, List

from brax.envs.base import Env

_REGISTRY: Dict[str, Callable[..., Env]] = {}


def register(name: str, constructor: Callable[..., Env]) -> None:
  """Registers a task constructor under `name` (overwrites are an error)."""
  if name in _REGISTRY:
    raise ValueError(f'task {name!r} is already registered')
  _REGISTRY[name] = constructor


def make(name: str, **kwargs: Any) -> Env:
  """Returns the unbatched Brax environment registered as `name`."""
  if name not in _REGISTRY:
    raise ValueError(
        f'unknown task {name!r}; registered tasks: {", ".join(sorted(_REGISTRY))}'
    )
  return _REGISTRY[name](**kwargs)


def registered_tasks() -> List[str]:
  return sorted(_REGISTRY)
