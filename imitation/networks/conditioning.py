"""Task conditioning: a task embedding built from per-factor parts, and how it enters the policy.

A multi-task environment gives `obs['task_id']`, the flat index of a combination of task
factors (e.g. task x object x goal region, `np.ravel_multi_index` order). The embedding sums
(or concatenates) one learned vector per factor value, so a combination never seen in
training still gets an embedding from parts that were trained. It enters the policy after the
shared observation encoder, either concatenated with the features (the reference design:
features + 8-D embedding -> 128 -> 64 -> head) or through FiLM on each trunk layer,
zero-initialised so that the conditioned trunk starts as the unconditioned one.
"""

import functools
from typing import List, Sequence, Tuple

import flax.linen as nn
import jax
from jax import numpy as jp

from imitation import config_rules as rules
from imitation.networks import encoders

FUSIONS = ('concat', 'film')
COMBINES = ('sum', 'concat', 'product')


def task_factors(task_id: jax.Array, factor_sizes: Sequence[int]) -> jax.Array:
  """[...] flat task ids -> [..., num_factors] factor values (row-major, as ravel_multi_index)."""
  task_id = jp.asarray(task_id, jp.int32)
  factors = []
  for size in reversed(tuple(factor_sizes)):
    factors.append(task_id % size)
    task_id = task_id // size
  return jp.stack(factors[::-1], axis=-1)


def chosen_factors(factors: Sequence[int], num_factors: int) -> Tuple[int, ...]:
  """`factors` as a tuple of factor indices, all of them when empty; a ValueError unless
  they are distinct and within range."""
  chosen = tuple(factors) or tuple(range(num_factors))
  if (not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < num_factors
              for i in chosen)
      or len(set(chosen)) < len(chosen)):
    raise ValueError(f'embedding factors {chosen} must be distinct indices into the '
                     f'{num_factors} task factors')
  return chosen


class TaskEmbedding(nn.Module):
  """`task_id` -> an `embedding_dim` vector from one learned embedding per factor value.

  `factors` picks the factors it is built from (indices into `factor_sizes`; empty: all). With
  factor attention (`FactorAttention`) the others still select what the encoder reads; on
  tabletop, leaving them out of the embedding generalised worse to held-out combinations
  (docs/multitask.md).
  """

  factor_sizes: Sequence[int]
  embedding_dim: int = 8
  # sum of the factors' vectors, their concatenation, or their elementwise product (a
  # rank-`embedding_dim` factorisation of the task table: multiplicative interactions)
  combine: str = 'sum'
  factors: Sequence[int] = ()

  @nn.compact
  def __call__(self, task_id: jax.Array) -> jax.Array:
    values = task_factors(task_id, self.factor_sizes)
    chosen = chosen_factors(self.factors, len(self.factor_sizes))
    if self.combine in ('sum', 'product'):
      dims = [self.embedding_dim] * len(chosen)
    elif self.combine == 'concat':  # split the dimensions over the factors
      base, extra = divmod(self.embedding_dim, len(chosen))
      dims = [base + (i < extra) for i in range(len(chosen))]
    else:
      raise ValueError(f'unknown combine {self.combine!r}; available: {", ".join(COMBINES)}')
    parts = [
        nn.Embed(self.factor_sizes[i], dim, name=f'factor_{i}')(values[..., i])
        for i, dim in zip(chosen, dims)
    ]
    if self.combine == 'concat':
      return jp.concatenate(parts, axis=-1)
    return sum(parts) if self.combine == 'sum' else functools.reduce(jp.multiply, parts)


class FiLM(nn.Module):
  """`(1 + gamma) * x + beta` with gamma and beta from the conditioning vector, both
  zero-initialised: the layer starts as the identity and learns how the task modulates it."""

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array) -> jax.Array:
    gamma_beta = nn.Dense(2 * x.shape[-1], kernel_init=nn.initializers.zeros,
                          bias_init=nn.initializers.zeros)(condition)
    gamma, beta = jp.split(gamma_beta, 2, axis=-1)
    return (1.0 + gamma) * x + beta


class ConditionedTrunk(nn.Module):
  """Dense + ReLU layers on the encoder's features, conditioned on the task embedding.

  `fusion='concat'` concatenates the embedding to the features before the first layer;
  `fusion='film'` modulates every layer's pre-activation with FiLM.
  """

  hidden_sizes: Sequence[int] = (128, 64)
  fusion: str = 'concat'

  @nn.compact
  def __call__(self, features: jax.Array, embedding: jax.Array) -> jax.Array:
    if self.fusion not in FUSIONS:
      raise ValueError(f'unknown fusion {self.fusion!r}; available: {", ".join(FUSIONS)}')
    x = features
    if self.fusion == 'concat':
      x = jp.concatenate([x, embedding], axis=-1)
    for size in self.hidden_sizes:
      x = nn.Dense(size)(x)
      if self.fusion == 'film':
        x = FiLM()(x, embedding)
      x = nn.relu(x)
    return x


class FactorAttention(nn.Module):
  """An encoder that reads the state as entities, one attention query per task factor.

  `observation['state']` [..., N * entity_size] is split into N entities (tabletop: the three
  bars, then the three pads, 4 numbers each), each tagged with a learned slot embedding. Each
  factor value owns a learned query; factor i's query attends over the entities and returns
  their attended value, and the features are these values side by side. A combination never
  trained on still has each factor select its entity as in the combinations it was trained
  in (the colour's query finds that bar, the pad's query that pad), so what follows sees
  familiar inputs composed anew.

  `slot_values=False` keeps the slot embedding out of the values (keys still carry it, so the
  queries still find their entity): what a factor returns is then the entity's content alone
  (its pose), not which entity it is, and the factor's identity reaches the trunk only through
  the task embedding.
  """

  factor_sizes: Sequence[int]
  entity_size: int
  width: int = 64
  slot_values: bool = True

  @nn.compact
  def __call__(self, observation) -> jax.Array:
    state = encoders.state_of(observation)
    if state.shape[-1] % self.entity_size:
      raise ValueError(f'a state of {state.shape[-1]} numbers does not split into entities '
                       f'of {self.entity_size} (network.entities.entity_size)')
    entities = state.reshape(state.shape[:-1] + (-1, self.entity_size))
    slots = self.param('slot_embedding', nn.initializers.normal(1.0),
                       (entities.shape[-2], self.width))
    content = nn.Dense(self.width)(entities)
    hidden = nn.relu(content + slots)
    keys = nn.Dense(self.width, name='keys')(hidden)
    values = nn.Dense(self.width, name='values')(hidden if self.slot_values else nn.relu(content))
    factors = task_factors(observation['task_id'], self.factor_sizes)
    outputs = []
    for i, size in enumerate(self.factor_sizes):
      query = nn.Embed(size, self.width, name=f'query_{i}')(factors[..., i])
      logits = jp.einsum('...d,...nd->...n', query, keys) / jp.sqrt(self.width)
      outputs.append(jp.einsum('...n,...nd->...d', jax.nn.softmax(logits), values))
    return jp.concatenate(outputs, axis=-1)


CONFIG_RULES = {
    'network.task.combine': rules.one_of(COMBINES),
    'network.task.embedding_dim': rules.positive_int(),
}


def config_problems(config) -> List[str]:
  """The embedding's factors are distinct indices into the task factors."""
  task = rules.lookup(config, 'network.task')
  if task is rules.MISSING or not task.get('embedding_factors'):
    return []
  chosen, count = tuple(task.embedding_factors), len(task.get('factor_sizes', ()))
  try:
    chosen_factors(chosen, count)
  except ValueError:
    return [f'network.task.embedding_factors={rules.show(chosen)}: expected distinct indices '
            f'into the {count} task factors of network.task.factor_sizes']
  return []
