"""Imitation-learning algorithms, each a module of pure functions plus `train`."""

from typing import Any, Callable, Dict

from imitation.agents import bc
from imitation.agents import bco
from imitation.agents import dagger
from imitation.agents import multitask
from imitation.errors import ConfigError

TRAINERS: Dict[str, Callable[..., Dict[str, Any]]] = {
    bc.ALGORITHM: bc.train,
    bco.ALGORITHM: bco.train,
    dagger.ALGORITHM: dagger.train,
    multitask.ALGORITHM: multitask.train,
}


def get_trainer(algorithm: str) -> Callable[..., Dict[str, Any]]:
  if algorithm not in TRAINERS:
    raise ConfigError(f'unknown algorithm {algorithm!r}; available: {", ".join(TRAINERS)}')
  return TRAINERS[algorithm]


def train(config, workdir: str) -> Dict[str, Any]:
  """Runs `config.algorithm`'s trainer on `config` in `workdir` (a sweep's or study's job)."""
  return get_trainer(config.algorithm)(config, workdir)
