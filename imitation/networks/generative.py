"""Generative action heads: a denoising diffusion (DDPM/DDIM) and a flow-matching head.

Both learn to turn Gaussian noise into an action (or a flattened action chunk) given the
encoder's features, so they represent any number of action modes without choosing a
number of components. They have no tractable likelihood: each returns a distribution
whose `training_loss(target, rng, mask)` is the head's own objective (noise prediction for
diffusion, the velocity target for flow matching), and whose `mode()` and `sample(rng)`
run the sampler:

* `mode()` is deterministic: DDIM with no noise (diffusion) or the Euler integration
  (flow), started from one fixed noise draw (`MODE_NOISE_SEED`), so evaluation with
  `eval.deterministic=True` is reproducible and commits to the same mode in the same state;
* `sample(rng)` draws the starting noise (and, for DDPM, the per-step noise) from `rng`.

The denoiser's parameters live under the head like any other layer's; the distribution
carries them so that sampling is a plain `lax.fori_loop` of `denoiser.apply` calls (no Flax
transform inside the loop).
"""

import math
from typing import Any, List, Optional

import flax
import flax.linen as nn
import jax
from jax import numpy as jp

from imitation import config_rules as rules

SCHEDULES = ('cosine', 'linear')
SAMPLERS = ('ddpm', 'ddim')
MODE_NOISE_SEED = 0  # the starting noise `mode()` integrates from


def timestep_embedding(time: jax.Array, dim: int) -> jax.Array:
  """Sinusoidal features of `time` ([batch], any scale) as [batch, dim]."""
  half = dim // 2
  frequencies = jp.exp(-math.log(10_000.0) * jp.arange(half) / max(half - 1, 1))
  angles = time[..., None] * frequencies
  return jp.concatenate([jp.sin(angles), jp.cos(angles)], axis=-1)


class Denoiser(nn.Module):
  """An MLP over the noisy action with FiLM from (features, time): residual blocks of
  LayerNorm -> FiLM -> activation -> Dense, as Diffusion Policy's conditional blocks."""

  output_size: int
  width: int = 256
  depth: int = 3
  time_dim: int = 32
  time_scale: float = 1.0  # time is multiplied by this before the embedding

  @nn.compact
  def __call__(self, noisy: jax.Array, time: jax.Array, features: jax.Array) -> jax.Array:
    embedding = timestep_embedding(time * self.time_scale, self.time_dim)
    embedding = nn.Dense(self.time_dim)(nn.gelu(nn.Dense(self.time_dim * 2)(embedding)))
    condition = jp.concatenate([features, embedding], axis=-1)
    x = nn.Dense(self.width)(noisy)
    for _ in range(self.depth):
      scale, shift = jp.split(nn.Dense(2 * self.width)(condition), 2, axis=-1)
      h = nn.LayerNorm()(x) * (1.0 + scale) + shift
      x = x + nn.Dense(self.width)(nn.gelu(h))
    return nn.Dense(self.output_size)(nn.gelu(nn.LayerNorm()(x)))


def alphas_cumprod(schedule: str, num_steps: int) -> jax.Array:
  """[num_steps] cumulative signal fractions: 'cosine' (Nichol & Dhariwal, capped betas,
  as Diffusion Policy's squaredcos_cap_v2) or 'linear' betas 1e-4 .. 0.02 (DDPM)."""
  if schedule == 'cosine':
    steps = jp.arange(num_steps + 1) / num_steps
    f = jp.cos((steps + 0.008) / 1.008 * jp.pi / 2) ** 2
    betas = jp.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
  else:
    betas = jp.linspace(1e-4, 0.02, num_steps)
  return jp.cumprod(1.0 - betas)


def _masked_mean(error: jax.Array, mask: Optional[jax.Array]) -> jax.Array:
  """[batch] mean of the squared `error` over the dimensions `mask` keeps (all: None)."""
  if mask is None:
    return jp.mean(jp.square(error), axis=-1)
  mask = mask.astype(error.dtype)
  return jp.sum(mask * jp.square(error), axis=-1) / jp.maximum(jp.sum(mask, axis=-1), 1.0)


@flax.struct.dataclass
class Diffusion:
  """p(action | features) as a DDPM (Ho et al.) with an epsilon-predicting denoiser."""

  features: jax.Array  # [batch, F]
  variables: Any  # the denoiser's
  denoiser: Denoiser = flax.struct.field(pytree_node=False)
  train_steps: int = flax.struct.field(pytree_node=False, default=100)
  inference_steps: int = flax.struct.field(pytree_node=False, default=10)
  schedule: str = flax.struct.field(pytree_node=False, default='cosine')
  sampler: str = flax.struct.field(pytree_node=False, default='ddim')
  clip_sample: float = flax.struct.field(pytree_node=False, default=0.0)

  def _shape(self):
    return self.features.shape[:-1] + (self.denoiser.output_size,)

  def _predict(self, noisy, step):
    return self.denoiser.apply(self.variables, noisy, step.astype(jp.float32), self.features)

  def training_loss(self, target: jax.Array, rng: jax.Array,
                    mask: Optional[jax.Array] = None) -> jax.Array:
    """[batch] noise-prediction error at a uniformly drawn step (DDPM's simple loss)."""
    rng_step, rng_noise = jax.random.split(rng)
    step = jax.random.randint(rng_step, target.shape[:-1], 0, self.train_steps)
    noise = jax.random.normal(rng_noise, target.shape)
    signal = alphas_cumprod(self.schedule, self.train_steps)[step][..., None]
    noisy = jp.sqrt(signal) * target + jp.sqrt(1.0 - signal) * noise
    return _masked_mean(self._predict(noisy, step) - noise, mask)

  def _run(self, rng: jax.Array, eta: float) -> jax.Array:
    """DDIM (Song et al.) over `inference_steps` evenly spaced steps, with noise `eta`
    (1: DDPM's posterior variance, 0: deterministic)."""
    signal = alphas_cumprod(self.schedule, self.train_steps)
    steps = jp.round(jp.linspace(self.train_steps - 1, 0, self.inference_steps)).astype(jp.int32)
    rng_start, rng_steps = jax.random.split(rng)
    x = jax.random.normal(rng_start, self._shape())

    def body(i, x):
      step = steps[i]
      previous = jp.where(i + 1 < self.inference_steps, steps[jp.minimum(i + 1, len(steps) - 1)],
                          -1)
      a = signal[step]
      a_prev = jp.where(previous >= 0, signal[jp.maximum(previous, 0)], 1.0)
      epsilon = self._predict(x, jp.full(x.shape[:-1], step))
      x0 = (x - jp.sqrt(1.0 - a) * epsilon) / jp.sqrt(a)
      if self.clip_sample:
        x0 = jp.clip(x0, -self.clip_sample, self.clip_sample)
        epsilon = (x - jp.sqrt(a) * x0) / jp.sqrt(1.0 - a)
      sigma = eta * jp.sqrt((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev))
      noise = jax.random.normal(jax.random.fold_in(rng_steps, i), x.shape)
      direction = jp.sqrt(jp.maximum(1.0 - a_prev - sigma**2, 0.0)) * epsilon
      return jp.sqrt(a_prev) * x0 + direction + sigma * noise

    return jax.lax.fori_loop(0, self.inference_steps, body, x)

  def mode(self) -> jax.Array:
    return self._run(jax.random.PRNGKey(MODE_NOISE_SEED), eta=0.0)

  def sample(self, rng: jax.Array) -> jax.Array:
    return self._run(rng, eta=1.0 if self.sampler == 'ddpm' else 0.0)

  def log_prob(self, action: jax.Array) -> jax.Array:
    raise NotImplementedError('a diffusion head has no tractable log-likelihood; its loss '
                              'is training_loss (bc.per_example_loss calls it)')


@flax.struct.dataclass
class Flow:
  """p(action | features) by conditional flow matching (rectified flow): a velocity field
  carrying noise at t=0 to actions at t=1 along straight lines, integrated with Euler."""

  features: jax.Array
  variables: Any
  denoiser: Denoiser = flax.struct.field(pytree_node=False)
  inference_steps: int = flax.struct.field(pytree_node=False, default=10)

  def _velocity(self, x, time):
    return self.denoiser.apply(self.variables, x, time, self.features)

  def training_loss(self, target: jax.Array, rng: jax.Array,
                    mask: Optional[jax.Array] = None) -> jax.Array:
    """[batch] squared error of the velocity at a uniform time on the noise-to-action line."""
    rng_time, rng_noise = jax.random.split(rng)
    time = jax.random.uniform(rng_time, target.shape[:-1])
    noise = jax.random.normal(rng_noise, target.shape)
    point = (1.0 - time[..., None]) * noise + time[..., None] * target
    return _masked_mean(self._velocity(point, time) - (target - noise), mask)

  def _run(self, rng: jax.Array) -> jax.Array:
    x = jax.random.normal(rng, self.features.shape[:-1] + (self.denoiser.output_size,))
    dt = 1.0 / self.inference_steps

    def body(i, x):
      return x + dt * self._velocity(x, jp.full(x.shape[:-1], i * dt))

    return jax.lax.fori_loop(0, self.inference_steps, body, x)

  def mode(self) -> jax.Array:
    return self._run(jax.random.PRNGKey(MODE_NOISE_SEED))

  def sample(self, rng: jax.Array) -> jax.Array:
    return self._run(rng)

  def log_prob(self, action: jax.Array) -> jax.Array:
    raise NotImplementedError('a flow-matching head has no log-likelihood here; its loss '
                              'is training_loss (bc.per_example_loss calls it)')


def _denoiser_variables(head: nn.Module, denoiser: Denoiser, features: jax.Array) -> Any:
  """The denoiser's variables, created under `head` on its first (init) call. The call's
  output is unused, so XLA drops it from every later program."""
  bound = denoiser.clone(parent=head, name='denoiser')
  bound(jp.zeros(features.shape[:-1] + (denoiser.output_size,)),
        jp.zeros(features.shape[:-1]), features)
  return bound.variables


class DiffusionHead(nn.Module):
  """features -> `Diffusion` over `action_dim` (an action, or a flattened chunk)."""

  action_dim: int
  width: int = 256
  depth: int = 3
  train_steps: int = 100
  inference_steps: int = 10
  schedule: str = 'cosine'
  sampler: str = 'ddim'
  clip_sample: float = 3.0

  @nn.compact
  def __call__(self, features: jax.Array) -> Diffusion:
    denoiser = Denoiser(self.action_dim, self.width, self.depth, parent=None)
    return Diffusion(features, _denoiser_variables(self, denoiser, features), denoiser,
                     self.train_steps, self.inference_steps, self.schedule, self.sampler,
                     self.clip_sample)


class FlowHead(nn.Module):
  """features -> `Flow` over `action_dim`; time in [0, 1] is embedded at 1000x scale."""

  action_dim: int
  width: int = 256
  depth: int = 3
  inference_steps: int = 10

  @nn.compact
  def __call__(self, features: jax.Array) -> Flow:
    denoiser = Denoiser(self.action_dim, self.width, self.depth, time_scale=1000.0,
                        parent=None)
    return Flow(features, _denoiser_variables(self, denoiser, features), denoiser,
                self.inference_steps)


GENERATIVE = (Diffusion, Flow)


def is_generative(distribution: Any) -> bool:
  """Whether `distribution` is trained by its own `training_loss` (no likelihood)."""
  return isinstance(distribution, GENERATIVE)


CONFIG_RULES = {
    'network.diffusion.width': rules.positive_int(),
    'network.diffusion.depth': rules.positive_int(),
    'network.diffusion.train_steps': rules.int_at_least(2),
    'network.diffusion.inference_steps': rules.positive_int(),
    'network.diffusion.schedule': rules.one_of(SCHEDULES),
    'network.diffusion.sampler': rules.one_of(SAMPLERS),
    'network.diffusion.clip_sample': rules.non_negative_number(),
    'network.flow.width': rules.positive_int(),
    'network.flow.depth': rules.positive_int(),
    'network.flow.inference_steps': rules.positive_int(),
}


def config_problems(config) -> List[str]:
  """DDIM/DDPM steps are a subset of the training steps."""
  found = []
  section = rules.lookup(config, 'network.diffusion')
  if section is not rules.MISSING and section.inference_steps > section.train_steps:
    found.append(f'network.diffusion.inference_steps={section.inference_steps}: expected at '
                 f'most network.diffusion.train_steps={section.train_steps}')
  return found
