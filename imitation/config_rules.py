"""What a config key may hold: each module declares the rules of the keys it reads.

A rule is (what is allowed, said in the error; whether a value is). A module that reads
config keys declares them in `CONFIG_RULES` (key -> rule) beside the names it allows, and
the rules that tie keys together in `config_problems(config) -> [lines]`; the whole-config
check (imitation/validation.py) gathers every declaration and runs it before any work, so
each rule is written once, where its names live.
"""

import math
from typing import Any, Callable, List, Mapping, Sequence, Tuple

import ml_collections

from imitation.errors import ConfigError

MISSING = object()  # a key the config does not have

# A rule: what is allowed (said in the error), and whether a value is.
Rule = Tuple[str, Callable[[Any], bool]]


def is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def an_int() -> Rule:
  return 'an integer', is_int


def int_at_least(low: int) -> Rule:
  return f'an integer >= {low}', lambda v: is_int(v) and v >= low


def positive_int() -> Rule:
  return 'a positive integer', lambda v: is_int(v) and v > 0


def non_negative_int() -> Rule:
  return 'an integer >= 0', lambda v: is_int(v) and v >= 0


def positive_number() -> Rule:
  return 'a finite number > 0', lambda v: is_number(v) and math.isfinite(v) and v > 0


def non_negative_number() -> Rule:
  return 'a finite number >= 0', lambda v: is_number(v) and math.isfinite(v) and v >= 0


def positive_or_off() -> Rule:
  """A threshold that inf turns off."""
  return 'a number > 0 (inf: off)', lambda v: is_number(v) and v > 0


def boolean() -> Rule:
  return 'true or false', lambda v: isinstance(v, bool)


def fraction(low_open: bool = False, high_open: bool = False) -> Rule:
  low, high = '(' if low_open else '[', ')' if high_open else ']'

  def ok(v):
    return (is_number(v) and math.isfinite(v) and (v > 0 if low_open else v >= 0)
            and (v < 1 if high_open else v <= 1))

  return f'a number in {low}0, 1{high}', ok


def one_of(names: Sequence[str]) -> Rule:
  return f'one of {", ".join(names)}', lambda v: v in tuple(names)


def positive_ints() -> Rule:
  return 'a list of positive integers', lambda v: (
      isinstance(v, (tuple, list)) and all(is_int(x) and x > 0 for x in v))


def subset_of(names: Sequence[str]) -> Rule:
  return f'a list drawn from {", ".join(names)}', lambda v: (
      isinstance(v, (tuple, list)) and all(x in tuple(names) for x in v))


def lookup(config: ml_collections.ConfigDict, key: str) -> Any:
  value = config
  for part in key.split('.'):
    if not isinstance(value, (ml_collections.ConfigDict, dict)) or part not in value:
      return MISSING
    value = value[part]
  return value


def show(value: Any) -> str:
  return repr(tuple(value) if isinstance(value, list) else value)




def problems(config: ml_collections.ConfigDict, rules: Mapping[str, Rule]) -> List[str]:
  """One line ('key=value: expected ...') for each key of `config` that breaks its rule."""
  found = []
  for key, (allowed, ok) in rules.items():
    value = lookup(config, key)
    if value is not MISSING and not ok(value):
      found.append(f'{key}={show(value)}: expected {allowed}')
  return found


def require(config: ml_collections.ConfigDict, rules: Mapping[str, Rule],
            section: str = '') -> None:
  """Raises a ConfigError for the first key of `config` that breaks its rule: a module
  holding a caller to its own declaration where it may be called without the whole-config
  check (a script of one's own). With `section`, `config` is that section of a whole
  config and only the rules under it apply."""
  prefix = f'{section}.' if section else ''
  scoped = {key[len(prefix):]: rule for key, rule in rules.items() if key.startswith(prefix)}
  found = problems(config, scoped)
  if found:
    raise ConfigError(prefix + found[0])
