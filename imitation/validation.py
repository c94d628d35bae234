"""The whole config checked before any work: one line naming the key, its value and what is
allowed, instead of a traceback (or a silent NaN) after the demos are collected.

Nothing is decided here: every module that reads config keys declares their rules
(`CONFIG_RULES`, and `config_problems` for rules across keys; see imitation/config_rules.py)
beside the names it allows, and `problems(config)` gathers them all. Entry points call
`validate` first (experiments/common.py). It sits on the top floor because it gathers from
every floor; no library module imports it.
"""

from typing import Dict, List

import ml_collections

from imitation import config_rules
from imitation.agents import bco
from imitation.agents import dagger
from imitation.agents import multitask
from imitation.data import collect
from imitation.data import demonstrations
from imitation.data import formats
from imitation.data import lerobot
from imitation.data import mixtures
from imitation.data import normalization
from imitation.data import quality as data_quality
from imitation.data import streaming
from imitation.envs import registry
from imitation.errors import ConfigError
from imitation.evaluation import evaluate
from imitation.evaluation import quality
from imitation.networks import augmentation
from imitation.networks import conditioning
from imitation.networks import encoders
from imitation.networks import generative
from imitation.networks import policy
from imitation.studies import diagnose
from imitation.studies import sweep
from imitation.training import ema
from imitation.training import inputs
from imitation.training import loop
from imitation.training import members
from imitation.training import optimizers

# Every module that declares config rules, lowest floor first.
DECLARING = (registry, collect, demonstrations, formats, lerobot, mixtures, normalization, data_quality,
             streaming, augmentation, conditioning, encoders, generative, policy, ema, inputs,
             loop, members, optimizers, evaluate, quality, bco, dagger, multitask, diagnose,
             sweep)


def _gather() -> Dict[str, config_rules.Rule]:
  gathered: Dict[str, config_rules.Rule] = {}
  for module in DECLARING:
    twice = set(gathered) & set(module.CONFIG_RULES)
    if twice:
      raise AssertionError(f'{module.__name__} declares {sorted(twice)}, declared already')
    gathered.update(module.CONFIG_RULES)
  return gathered


RULES = _gather()  # key -> rule, from every declaring module


def problems(config: ml_collections.ConfigDict) -> List[str]:
  """Every problem of `config`, one line each ('key=value: expected ...')."""
  found = config_rules.problems(config, RULES)
  if not found:  # the rules across keys assume each value is valid on its own
    for module in DECLARING:
      if hasattr(module, 'config_problems'):
        found += module.config_problems(config)
  return found


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a ConfigError with the first problem of `config` (see `problems`)."""
  found = problems(config)
  if found:
    more = f' (and {len(found) - 1} more problem(s))' if len(found) > 1 else ''
    raise ConfigError(found[0] + more)
