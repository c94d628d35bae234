"""The Policy: observation dict -> action distribution, assembled from config."""

from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import flax.linen as nn
import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation.envs import base
from imitation.errors import ConfigError
from imitation.networks import conditioning
from imitation.networks import encoders
from imitation.networks import generative
from imitation.networks import heads

ENCODERS = ('mlp', 'cnn', 'vit', 'entities')
HEADS = ('deterministic', 'gaussian', 'mixture', 'categorical', 'diffusion', 'flow')
GENERATIVE_HEADS = ('diffusion', 'flow')
TASK_FUSIONS = ('none',) + conditioning.FUSIONS


class Policy(nn.Module):
  """An encoder followed by a head; knows nothing about data or normalisation.

  A task-conditioned policy also has a task embedding (of `observation['task_id']`) and a
  trunk that fuses it with the encoder's features before the head; without them the
  parameters are exactly an unconditioned policy's. With `task_heads` (one head per task id,
  for tasks whose actions mean different things) each example's distribution is its task's.

  Sequences: with `action_horizon` H > 1 the head's distribution is over the next H actions,
  flattened to [batch, H * action_dim] (`chunk_actions` unflattens); with
  `observation_history` n > 1 every observation key but the static ones (task id, action
  mask: `envs.base.STATIC_OBSERVATION_KEYS`) carries a time axis
  ([batch, n, ...], oldest first), folded into the features (`merge_history`) before the
  encoder, so every encoder reads a history as it reads one observation.
  """

  encoder: nn.Module
  head: Optional[nn.Module] = None
  task_embedding: Optional[nn.Module] = None
  trunk: Optional[nn.Module] = None
  task_heads: Optional[Sequence[nn.Module]] = None
  action_horizon: int = 1
  observation_history: int = 1
  # How a chunked policy acts (evaluation/acting.py; not read by __call__): execute this
  # many actions of a chunk before the next, or, with temporal_ensemble, average every
  # chunk's prediction for the step, chunk j-th oldest weighted exp(-ensemble_decay * j).
  action_dim: int = 0  # of one action (the acting state's plan holds H of them)
  execute_steps: int = 1
  temporal_ensemble: bool = False
  ensemble_decay: float = 0.01

  def __call__(self, observation: Dict[str, jax.Array]) -> Any:
    if self.observation_history > 1:
      observation = merge_history(observation, self.observation_history)
    features = self.encoder(observation)
    if self.task_embedding is not None:
      if 'task_id' not in observation:
        raise ValueError(
            f'a task-conditioned policy needs observation["task_id"]; got {sorted(observation)}')
      features = self.trunk(features, self.task_embedding(observation['task_id']))
    if self.task_heads is None:
      return self.head(features)
    return _select_per_task([head(features) for head in self.task_heads], observation['task_id'])


def merge_history(observation: Dict[str, jax.Array], history: int) -> Dict[str, jax.Array]:
  """Folds the time axis of each stacked key into its last axis: state [B, n, D] ->
  [B, n * D], images [B, n, H, W, C] -> [B, H, W, n * C] (as a frame stack)."""
  merged = {}
  for key, value in observation.items():
    if key in base.STATIC_OBSERVATION_KEYS:
      merged[key] = value
      continue
    if value.ndim < 3 or value.shape[1] != history:
      raise ValueError(f'observation[{key!r}] has shape {value.shape}: a policy with '
                       f'observation_history={history} expects [batch, {history}, ...]')
    if value.ndim == 5:  # images: time next to the channels
      value = jp.moveaxis(value, 1, -2)
    merged[key] = value.reshape(value.shape[:1] + value.shape[2:-1] + (-1,))
  return merged


def history_of_first(observation: Dict[str, Any], history: int) -> Dict[str, Any]:
  """`observation` ([batch, ...]) as the history an episode starts with: [batch, n, ...],
  the observation repeated (the static keys unchanged); itself when n is 1."""
  if history == 1:
    return observation
  return {k: v if k in base.STATIC_OBSERVATION_KEYS else jp.repeat(v[:, None], history, axis=1)
          for k, v in observation.items()}


def chunk_actions(flat: jax.Array, action_horizon: int) -> jax.Array:
  """[..., H * A] -> [..., H, A]: a chunked head's output as H actions."""
  return flat.reshape(flat.shape[:-1] + (action_horizon, flat.shape[-1] // action_horizon))


def _select_per_task(distributions, task_id: jax.Array):
  """The distribution whose parameters are, for each example, those of its task's head."""
  task_id = jp.asarray(task_id, jp.int32)
  axis = task_id.ndim

  def select(*leaves):
    stacked = jp.stack(leaves, axis=axis)  # [..., heads, rest]
    index = task_id.reshape(task_id.shape + (1,) * (stacked.ndim - axis))
    return jp.take_along_axis(stacked, index, axis=axis).squeeze(axis)

  return jax.tree.map(select, *distributions)


def _encoder(config: ml_collections.ConfigDict) -> nn.Module:
  if config.encoder == 'mlp':
    return encoders.StateEncoder(
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        layer_norm=config.layer_norm,
    )
  if config.encoder == 'entities':
    task = config.get('task')
    if task is None or not task.factor_sizes:
      raise ConfigError('network.encoder=entities needs task factors (network.task.factor_sizes)')
    return conditioning.FactorAttention(tuple(task.factor_sizes), config.entities.entity_size,
                                        config.entities.width,
                                        config.entities.get('slot_values', True))
  if config.encoder == 'cnn':
    # Policies exported before these options existed have neither: the old behaviour.
    strides = tuple(config.cnn.get('strides', (1, 2, 2)))
    image = encoders.CNN(tuple(config.cnn.channels), tuple(config.cnn.hidden_sizes),
                         config.cnn.pooling, config.cnn.group_norm,
                         config.cnn.get('learn_temperature', False), strides)
  else:  # vit (check_network allows only ENCODERS)
    image = encoders.ViT(
        config.vit.patch_size, config.vit.width, config.vit.depth, config.vit.num_heads
    )
  return encoders.ImageStateEncoder(image, tuple(config.hidden_sizes), config.use_state)


def _head(config: ml_collections.ConfigDict, action_dim: int) -> nn.Module:
  if config.head == 'deterministic':
    return heads.DeterministicHead(action_dim=action_dim, squash=config.squash)
  if config.head == 'gaussian':
    return heads.GaussianHead(action_dim, config.min_scale, config.max_scale, config.bound,
                              config.bound_limit)
  if config.head == 'mixture':
    return heads.MixtureHead(action_dim, config.num_components, config.min_scale,
                             config.max_scale, config.bound, config.bound_limit)
  if config.head == 'diffusion':
    d = config.diffusion
    return generative.DiffusionHead(action_dim, d.width, d.depth, d.train_steps,
                                    d.inference_steps, d.schedule, d.sampler, d.clip_sample)
  if config.head == 'flow':
    f = config.flow
    return generative.FlowHead(action_dim, f.width, f.depth, f.inference_steps)
  # categorical (check_network allows only HEADS)
  return heads.CategoricalHead(action_dim, config.num_bins, config.bin_low, config.bin_high)


def _task_conditioning(config: ml_collections.ConfigDict) -> Dict[str, nn.Module]:
  """The task embedding and trunk of `config.task` (none when fusion is 'none' or absent:
  policies exported before task conditioning existed have no such section)."""
  task = config.get('task')
  if task is None or task.fusion == 'none':
    return {}
  if not task.factor_sizes or min(task.factor_sizes) < 1:
    raise ConfigError('network.task.factor_sizes must list the number of values of each '
                      f'task factor (e.g. (3,) for 3 tasks), got {tuple(task.factor_sizes)}')
  factors = conditioning.chosen_factors(task.get('embedding_factors', ()),
                                        len(task.factor_sizes))
  return {
      'task_embedding': conditioning.TaskEmbedding(
          tuple(task.factor_sizes), task.embedding_dim, task.combine, factors),
      'trunk': conditioning.ConditionedTrunk(tuple(task.hidden_sizes), task.fusion),
  }


def check_network(config: ml_collections.ConfigDict) -> None:
  """The `network` section against the rules this module, the encoders and the task
  conditioning declare (make_policy may be called without the whole-config check)."""
  whole = {'network': config}
  found = (rules.problems(whole, {**CONFIG_RULES, **encoders.CONFIG_RULES,
                                  **conditioning.CONFIG_RULES, **generative.CONFIG_RULES})
           or (encoders.config_problems(whole) + conditioning.config_problems(whole)
               + generative.config_problems(whole) + sequence_problems(whole)))
  if found:
    raise ConfigError(found[0])


def make_policy(config: ml_collections.ConfigDict, action_dim: int) -> Policy:
  """Builds the Policy that `config` (the `network` section) describes."""
  check_network(config)
  conditioning = _task_conditioning(config)
  horizon, history = action_horizon(config), observation_history(config)
  chunk = config.get('chunk', {})
  sequence = dict(action_horizon=horizon, observation_history=history, action_dim=action_dim,
                  execute_steps=int(chunk.get('execute_steps', 1)),
                  temporal_ensemble=bool(chunk.get('temporal_ensemble', False)),
                  ensemble_decay=float(chunk.get('ensemble_decay', 0.01)))
  chunk_dim = horizon * action_dim
  if conditioning and config.task.get('per_task_heads', False):
    num_ids = int(np.prod(tuple(config.task.factor_sizes)))
    return Policy(encoder=_encoder(config),
                  task_heads=tuple(_head(config, chunk_dim) for _ in range(num_ids)),
                  **conditioning, **sequence)
  return Policy(encoder=_encoder(config), head=_head(config, chunk_dim), **conditioning,
                **sequence)


def with_inference_steps(policy: Policy, steps: int) -> Policy:
  """`policy` with its generative head sampling in `steps` denoising / Euler steps (the
  parameters do not change: trade speed for accuracy after training)."""
  if not isinstance(policy.head, (generative.DiffusionHead, generative.FlowHead)):
    raise ConfigError(f'{type(policy.head).__name__} has no denoising steps: only the '
                      'diffusion and flow heads take eval.inference_steps')
  return policy.clone(head=policy.head.clone(inference_steps=steps))


def action_horizon(config: ml_collections.ConfigDict) -> int:
  """H, the actions one policy output holds (1 without chunking; exported policies from
  before chunking have no `chunk` section)."""
  return int(config.get('chunk', {}).get('horizon', 1))


def observation_history(config: ml_collections.ConfigDict) -> int:
  """n, the observations (this one and n - 1 before it) the policy reads."""
  return int(config.get('observation_history', 1))


class Windows(NamedTuple):
  """The steps one training example spans, as the policy reads and predicts them: the
  last `history` observations and the next `horizon` actions. The data pipeline
  (training/inputs.py) builds its rows from these values, not from the network config."""
  history: int = 1
  horizon: int = 1


def windows(config: ml_collections.ConfigDict) -> Windows:
  """The windows the policy that `config` (the `network` section) describes trains on."""
  return Windows(history=observation_history(config), horizon=action_horizon(config))


def sequence_problems(config) -> List[str]:
  """A chunk executes at most its horizon; temporal ensembling replans every step; the
  generative heads have one head (no per-task heads)."""
  found = []
  chunk = rules.lookup(config, 'network.chunk')
  if chunk is not rules.MISSING:
    if chunk.execute_steps > chunk.horizon:
      found.append(f'network.chunk.execute_steps={chunk.execute_steps}: expected at most '
                   f'network.chunk.horizon={chunk.horizon}')
    if chunk.temporal_ensemble and chunk.execute_steps != 1:
      found.append('network.chunk.temporal_ensemble=True averages a new chunk every step: '
                   f'set network.chunk.execute_steps=1 (got {chunk.execute_steps})')
  head = rules.lookup(config, 'network.head')
  if (head in GENERATIVE_HEADS
      and rules.lookup(config, 'network.task.per_task_heads') is True):
    found.append(f'network.head={head!r} has no per-task heads: set '
                 'network.task.per_task_heads=False (the task embedding conditions it)')
  return found


CONFIG_RULES = {
    'network.encoder': rules.one_of(ENCODERS),
    'network.head': rules.one_of(HEADS),
    'network.hidden_sizes': rules.positive_ints(),
    'network.min_scale': rules.positive_number(),
    'network.max_scale': rules.positive_number(),
    'network.bound': rules.one_of(('none', 'tanh', 'clip')),
    'network.bound_limit': rules.positive_number(),
    'network.num_components': rules.positive_int(),
    'network.num_bins': rules.int_at_least(2),
    'network.task.fusion': rules.one_of(TASK_FUSIONS),
    'network.chunk.horizon': rules.positive_int(),
    'network.chunk.execute_steps': rules.positive_int(),
    'network.chunk.ensemble_decay': rules.non_negative_number(),
    'network.observation_history': rules.positive_int(),
}


def config_problems(config) -> List[str]:
  """Scales in order; an image encoder needs the env to render images, of a size its
  layers fit."""
  found = []
  low, high = rules.lookup(config, 'network.min_scale'), rules.lookup(config, 'network.max_scale')
  if low is not rules.MISSING and high is not rules.MISSING and low >= high:
    found.append(f'network.max_scale={high}: expected more than network.min_scale={low}')
  found += sequence_problems(config)
  encoder = rules.lookup(config, 'network.encoder')
  size, name = rules.lookup(config, 'env.kwargs.image_size'), rules.lookup(config, 'env.name')
  if encoder not in ('cnn', 'vit') or size is rules.MISSING or not name or name is rules.MISSING:
    return found
  if size == 0:
    found.append(f'network.encoder={encoder!r} reads images but env.kwargs.image_size=0 gives '
                 f'{name!r} state observations only: set env.kwargs.image_size (e.g. 32) or use '
                 'network.encoder=mlp')
  elif encoder == 'vit' and size % config.network.vit.patch_size:
    found.append(f'env.kwargs.image_size={size}: expected a multiple of '
                 f'network.vit.patch_size={config.network.vit.patch_size} (the ViT tiles the '
                 'image into patches)')
  return found
