"""Members: several independent runs of one config trained as one vmapped program.

A run with `num_seeds=K` (and optionally `vmap.name`/`vmap.values`, a hyperparameter that
changes no shape) has K x len(values) members. Member (value, i) is the run with seed
`seed + i` and that value: its own demonstrations, init, data order and evaluation episodes,
all drawn from its own seed exactly as a separate run of that seed draws them. Their train
states are stacked along a leading member axis and updated by `jax.vmap` of the one update,
so the members share one compile, one collection program and one evaluation rollout.

This module holds what is not agent-specific: which members a config asks for, stacking,
the hyperparameters a member may vary, and the spread of a figure over members.
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import jax
from jax import numpy as jp
import ml_collections
import numpy as np
import optax
import scipy.stats

from imitation import config_rules as rules
from imitation.errors import ConfigError

# Hyperparameters a member may vary: name in the config -> the optax hyperparameter it sets
# (`optimizers.make_run_optimizer` keeps it in the optimizer state, so each
# member's state carries its own value into the shared update).
VMAPPABLE = {
    'optimizer.learning_rate': 'learning_rate',
    'optimizer.weight_decay': 'weight_decay',
}


@dataclasses.dataclass(frozen=True)
class Member:
  """One member: its seed and the hyperparameter value it runs with (if any)."""
  index: int
  seed: int
  overrides: Tuple[Tuple[str, float], ...] = ()  # ((config name, value),)

  @property
  def label(self) -> str:
    """A name for files and logs: `seed_3`, or `learning_rate=0.001,seed_3`."""
    parts = [f'{name.rpartition(".")[2]}={value:g}' for name, value in self.overrides]
    return ','.join(parts + [f'seed_{self.seed}'])

  def config(self, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` as a separate run of this member would have it (one seed, its value)."""
    config = config_at_seed(config, self.seed)
    with config.unlocked():
      config.num_seeds = 1
      config.vmap = dict(config.get('vmap') or {}, name='', values=())
      for name, value in self.overrides:
        section, _, key = name.rpartition('.')
        config[section][key] = value
    return config


def config_at_seed(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  """A copy of `config` for a run at `seed`: every reference resolved, `seed` set, and
  the collection's seed with it (a resolved reference no longer follows `seed`). The one
  place a run, a member, a sweep trial or a study's run gets its seed."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.seed = seed
    if 'collect' in config and config.collect.get('seed') is not None:
      config.collect.seed = seed
  return config


def members_of(config: ml_collections.ConfigDict) -> List[Member]:
  """The members `config.num_seeds` and `config.vmap` ask for (one for a plain run)."""
  num_seeds = int(config.get('num_seeds', 1))
  vmap = config.get('vmap') or {}
  name, values = vmap.get('name', ''), tuple(vmap.get('values', ()))
  if bool(name) != bool(values):
    raise ConfigError(f'vmap.name={name!r} and vmap.values={values!r}: give both or neither')
  if name and name not in VMAPPABLE:
    raise ConfigError(f'vmap.name={name!r} cannot vary inside one program; '
                      f'vmappable: {sorted(VMAPPABLE)} (other settings: experiments.sweep)')
  if name == 'optimizer.weight_decay' and config.optimizer.name != 'adamw':
    raise ConfigError('vmap.name=optimizer.weight_decay needs optimizer.name=adamw')
  settings = [((name, float(v)),) for v in values] if name else [()]
  return [Member(index=i * num_seeds + s, seed=config.seed + s,
                 overrides=overrides)
          for i, overrides in enumerate(settings) for s in range(num_seeds)]


def axes(members: Sequence[Member]) -> Tuple[int, int]:
  """(groups, seeds): how many hyperparameter values and seeds per value the members hold."""
  seeds = len({m.seed for m in members})
  return len(members) // seeds, seeds


def injected_hyperparameters(config: ml_collections.ConfigDict) -> Tuple[str, ...]:
  """The optax hyperparameters the optimizer must keep in its state for `config`'s members."""
  name = (config.get('vmap') or {}).get('name', '')
  return (VMAPPABLE[name],) if name else ()


def set_hyperparameters(state: Any, members: Sequence[Member]) -> Any:
  """The stacked train state with each member's hyperparameter values in its optimizer state
  (see `injected_hyperparameters`); unchanged when members vary only the seed."""
  names = {name for member in members for name, _ in member.overrides}
  for name in names:
    values = jp.asarray([dict(m.overrides)[name] for m in members], jp.float32)
    opt_state = optax.tree_utils.tree_set(state.opt_state, **{VMAPPABLE[name]: values})
    state = state.replace(opt_state=opt_state)
  return state


def stack(trees: Sequence[Any]) -> Any:
  """Trees of the same structure stacked along a new leading (member) axis."""
  return jax.tree.map(lambda *xs: jp.stack(xs), *trees)


def unstack(tree: Any, index: int) -> Any:
  """Member `index`'s slice of a stacked tree."""
  return jax.tree.map(lambda x: x[index], tree)


def spread(values: Sequence[float]) -> Dict[str, float]:
  """Mean, sample std (ddof=1) and the half-width of a 95% t-interval of the mean over
  seeds or members: the one spread statistic every result and study reports."""
  values = np.asarray(values, np.float64)
  n = len(values)
  std = float(values.std(ddof=1)) if n > 1 else 0.0
  half = float(scipy.stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)) if n > 1 else 0.0
  return {'mean': float(values.mean()), 'std': std, 'ci95': half, 'n': n}


def summarize_metrics(metrics: Mapping[str, Any], members: Sequence[Member]) -> Dict[str, Any]:
  """Per-member [K] metrics as the loop logs them: each name's mean over members, and every
  member's own value under `members/<label>/`."""
  summary = {k: float(np.mean(v)) for k, v in metrics.items()}
  summary['members'] = {m.label: {k: float(np.asarray(v)[m.index]) for k, v in metrics.items()}
                        for m in members}
  return summary


def members_at_once(config: ml_collections.ConfigDict, platform: str) -> int:
  """How many members the chunk vmaps at a time on `platform` (jax's 'cpu', 'gpu',
  'tpu'), from `vmap.members_at_once`; 0: all of them (training/chunk.py)."""
  at_once = (config.get('vmap') or {}).get('members_at_once') or {}
  return int(at_once.get(platform, 0))


CONFIG_RULES = {'seed': rules.an_int(), 'num_seeds': rules.positive_int(),
                'vmap.members_at_once.cpu': rules.non_negative_int(),
                'vmap.members_at_once.gpu': rules.non_negative_int(),
                'vmap.members_at_once.tpu': rules.non_negative_int()}
