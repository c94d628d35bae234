"""BC update throughput (updates/s) for a BC config's policy, fused vs one update per call.

  python -m benchmarks.bc_update_speed            # defaults: MLP 2x256, batch 256
  python -m benchmarks.bc_update_speed --batch_size=1024 --hidden=512,512
  python -m benchmarks.bc_update_speed --num_seeds=8        # 8 vmapped members
  python -m benchmarks.bc_update_speed --config=reach_image --calls=5 --single_updates=10
  XLA_FLAGS=--xla_force_host_platform_device_count=2 \
      python -m benchmarks.bc_update_speed --config=reach_image --calls=5 --single_updates=10

`--config` is the argument after `configs/bc.py:` (a task or preset); observations are
random data of that config's shapes (uint8 images for the image presets), and batch size,
updates per call and unrolling come from the config unless given as flags.

Times the exact compiled chunk the trainer runs (`steps_per_call` updates in one
`lax.scan`, batches sampled on device, the config's optimizer), after a warm-up call that
compiles it, and for comparison a jitted single update called from Python once per step.

Against a bare loop (one member, `--bare_rounds` > 0): a hand-written fused JAX loop of the
same network and optimizer (sample indices, gather, the mode's squared error, grad, optax
step, in a `lax.scan` of the config's `steps_per_call`; nothing else) is timed in the same
process, interleaved round by round with the trainer at each `--trainer_steps_per_call`:
its compiled chunk called in a Python loop (`chunk`), the same with the metrics fetched to
the host after each call (`chunk_fetched`), and the trainer's host loop itself
(`training.loop.fit`: the NaN guard, the metrics file and TensorBoard, the progress bar;
checkpoints and the flush at each off), as configured (`fit`: metrics read every `train.log_every` steps) and,
where chunks are shorter than that, reading and logging them after every chunk
(`fit_logging_every_chunk`). Each figure is the median over rounds, and its ratio to the
bare loop's.
"""

import functools
import json
import tempfile
import time
from typing import Any, Callable, Dict, List

from absl import app
from absl import flags
import jax
from jax import numpy as jp
import ml_collections
import numpy as np
import optax

from configs import bc as bc_config
from experiments import common as experiments_common
from imitation.agents import bc
from imitation.data import normalization
from imitation.data.device_dataset import DeviceDataset
from imitation.training import members as members_lib
from imitation.training import sharding
from imitation.training import chunk as chunk_lib
from imitation.training import loop
from imitation.training import metric_writer
from imitation.training.learner import example_observation

_CONFIG = flags.DEFINE_string('config', 'reach', 'configs/bc.py argument: task or preset.')
_BATCH = flags.DEFINE_integer('batch_size', None, 'Batch size (default: the config\'s).')
_HIDDEN = flags.DEFINE_list('hidden', None, 'State MLP hidden sizes (default: the config\'s).')
_STEPS_PER_CALL = flags.DEFINE_integer('steps_per_call', None,
                                       'Updates fused per call (default: the config\'s).')
_CALLS = flags.DEFINE_integer('calls', 10, 'Timed calls of the fused chunk.')
_SINGLE = flags.DEFINE_integer(
    'single_updates', 2000, 'Most one-update calls timed (image policies on CPU: ~0.2/s).')
_DATASET = flags.DEFINE_integer('dataset_size', 12_800, 'Transitions on device.')
_OBS_DIM = flags.DEFINE_integer('obs_dim', 10, 'State size (reach: 10), for state policies.')
_ACTION_DIM = flags.DEFINE_integer('action_dim', 2, 'Action size (reach: 2).')
_BARE_ROUNDS = flags.DEFINE_integer(
    'bare_rounds', 15, 'Interleaved rounds against the bare loop (0: skip that comparison).')
_ROUND_UPDATES = flags.DEFINE_integer(
    'round_updates', 2000, 'Updates each variant runs per round against the bare loop.')
_TRAINER_STEPS = flags.DEFINE_list(
    'trainer_steps_per_call', ['10'],
    'steps_per_call values of the trainer timed against the bare loop, besides the config\'s '
    '(10: the image presets\' and every debug preset\'s, the smallest the configs use).')
_AT_ONCE = flags.DEFINE_integer(
    'members_at_once', None, 'Members vmapped at a time (0: all; default: the config\'s '
    'vmap.members_at_once for this platform).')
_NUM_SEEDS = flags.DEFINE_integer(
    'num_seeds', 1, 'Members trained by the one vmapped chunk (as --config.num_seeds), on one '
    'shared dataset; the fused figure is then per member and summed over members.')


def _random_observations(config: ml_collections.ConfigDict,
                         rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """Random observations of the config's shapes: a uint8 image stack for image encoders."""
  size = _DATASET.value
  state = rng.normal(size=(size, _OBS_DIM.value)).astype(np.float32)
  if config.network.encoder == 'mlp':
    return {'state': state}
  pixels = config.env.kwargs.image_size
  channels = 3 * config.env.frame_stack
  image = rng.integers(0, 256, size=(size, pixels, pixels, channels), dtype=np.uint8)
  observations = {'image': image}
  if config.network.use_state:
    observations['state'] = state
  return observations


def _describe_network(network: ml_collections.ConfigDict) -> str:
  if network.encoder == 'mlp':
    return f'MLP {"x".join(map(str, network.hidden_sizes))}, {network.head} head'
  if network.encoder == 'cnn':
    cnn = network.cnn
    return (f'CNN channels {cnn.channels} strides {cnn.strides}, {cnn.pooling} pooling, '
            f'{network.head} head')
  return f'ViT {dict(network.vit)}, {network.head} head'


def make_bare_loop(policy: Any, optimizer: optax.GradientTransformation, *, size: int,
                   batch_size: int, steps: int) -> Callable[..., Any]:
  """A hand-written fused loop: `steps` updates of `policy` by `optimizer` on batches drawn
  from `data` on device, in one jitted `lax.scan`:
  `run(params, opt_state, key, data) -> (params, opt_state, key, last loss)`.
  What a user writes with no trainer around it: the reference the trainer is held to."""
  def loss_fn(params, batch):
    prediction = policy.apply(params, batch['observation']).mode()
    return 0.5 * jp.mean(jp.sum(jp.square(prediction - batch['action']), -1))

  def step(carry, _):
    params, opt_state, key, data = carry
    key, sample_key = jax.random.split(key)
    rows = jax.random.randint(sample_key, (batch_size,), 0, size)
    batch = jax.tree.map(lambda x: jp.take(x, rows, axis=0), data)
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state, key, data), loss

  def run(params, opt_state, key, data):
    (params, opt_state, key, _), losses = jax.lax.scan(
        step, (params, opt_state, key, data), None, length=steps)
    return params, opt_state, key, losses[-1]

  return jax.jit(run, donate_argnums=(0, 1))


class _NoCheckpoints:
  """Stands in for the checkpointer: the comparison times updates, not checkpoint writes."""

  def save(self, *args, **kwargs):
    del args, kwargs

  def wait_until_finished(self):
    pass

  def latest_step(self):
    return None


class _WriterWithoutCheckpointFlush(metric_writer.MetricWriter):
  """The metric writer, but for the fsync it does at each checkpoint: each timed `fit` ends
  at a checkpoint step (its last), which a real run reaches every `checkpoint_every`."""

  def flush(self):
    pass


def against_bare(config: ml_collections.ConfigDict, learner: Any, data: Dict[str, Any],
                 dataset: DeviceDataset, fresh_state: Callable[[], Any], mesh: Any,
                 batch_size: int) -> Dict[str, Any]:
  """The bare loop and the trainer at each steps_per_call, interleaved; medians and ratios."""
  bare_steps = config.train.steps_per_call
  bare = make_bare_loop(learner.policy, learner.optimizer, size=len(data['action']),
                        batch_size=batch_size, steps=bare_steps)
  device_data = jax.device_put(data)
  params = fresh_state().params
  *bare_carry, loss = bare(params, learner.optimizer.init(params), jax.random.PRNGKey(0),
                           device_data)
  *bare_carry, loss = bare(*bare_carry, device_data)  # its own outputs' layout: compiled again
  jax.block_until_ready(loss)
  updates = max(_ROUND_UPDATES.value // bare_steps, 1) * bare_steps

  def time_bare() -> float:
    start = time.perf_counter()
    for _ in range(updates // bare_steps):
      *bare_carry[:], loss = bare(*bare_carry, device_data)
    jax.block_until_ready(loss)
    return updates / (time.perf_counter() - start)

  variants: Dict[str, Callable[[], float]] = {'bare': time_bare}
  workdir = tempfile.mkdtemp(prefix='bc_update_speed_')
  writer = _WriterWithoutCheckpointFlush(workdir)
  # One train state carried through every trainer variant (the chunks differ only in
  # updates per call), so each continues where the last left it, as the bare loop does.
  holder = {'state': fresh_state()}
  for steps in sorted({bare_steps, *(int(s) for s in _TRAINER_STEPS.value)}, reverse=True):
    chunk = chunk_lib.make_train_chunk(learner.update, batch_size=batch_size,
                                       steps_per_call=steps, mesh=mesh,
                                       unroll=config.train.scan_unroll)
    train = config.train.copy_and_resolve_references()
    train.steps_per_call = steps
    train.eval_every = train.checkpoint_every = 10 ** 12
    calls = max(updates // steps, 1)
    holder['state'], _ = chunk(holder['state'], dataset)  # compiled

    def time_chunk(chunk=chunk, calls=calls, steps=steps, fetch=False):
      start = time.perf_counter()
      for _ in range(calls):
        holder['state'], metrics = chunk(holder['state'], dataset)
        if fetch:
          jax.device_get(metrics)
      jax.block_until_ready(holder['state'])
      return calls * steps / (time.perf_counter() - start)

    def time_fit(chunk=chunk, calls=calls, steps=steps, train=train, log_every=None):
      train.num_steps = int(holder['state'].step) + calls * steps
      train.log_every = log_every or config.train.log_every
      start = time.perf_counter()
      holder['state'], _ = loop.fit(holder['state'], dataset, config=train,
                                    checkpointer=_NoCheckpoints(), writer=writer,
                                    progress_bar=True, chunk=chunk)
      return calls * steps / (time.perf_counter() - start)

    variants[f'chunk_{steps}'] = time_chunk
    variants[f'chunk_fetched_{steps}'] = functools.partial(time_chunk, fetch=True)
    variants[f'fit_{steps}'] = time_fit
    if steps < config.train.log_every:
      variants[f'fit_logging_every_chunk_{steps}'] = functools.partial(time_fit, log_every=steps)
  rates: Dict[str, List[float]] = {name: [] for name in variants}
  for _ in range(_BARE_ROUNDS.value):
    for name, timed in variants.items():
      rates[name].append(timed())
  writer.close()
  medians = {name: float(np.median(r)) for name, r in rates.items()}
  return {
      'bare_steps_per_call': bare_steps,
      'updates_per_round': updates,
      'rounds': _BARE_ROUNDS.value,
      'median_updates_per_s': {k: round(v, 1) for k, v in medians.items()},
      'ratio_to_bare': {k: round(v / medians['bare'], 3) for k, v in medians.items()},
      'per_round_updates_per_s': {k: [round(x) for x in r] for k, r in rates.items()},
  }


def main(argv):
  del argv
  experiments_common.quiet_third_party_logs()
  config = bc_config.get_config(_CONFIG.value)
  if _HIDDEN.value:
    config.network.hidden_sizes = tuple(int(h) for h in _HIDDEN.value)
  batch_size = _BATCH.value or config.train.batch_size
  steps_per_call = _STEPS_PER_CALL.value or config.train.steps_per_call
  rng = np.random.default_rng(0)
  data = {
      'observation': _random_observations(config, rng),
      'action': rng.normal(size=(_DATASET.value, _ACTION_DIM.value)).astype(np.float32),
  }
  mesh = sharding.make_mesh()
  replicated = sharding.replicated(mesh)
  learner = bc.make_learner(config, _ACTION_DIM.value)
  norm = normalization.compute(data, min_std=1e-3)

  def fresh_state(members=1):
    def init(key):
      return learner.init(key, example_observation=example_observation(data['observation']),
                          normalization=norm)
    if members > 1:
      state = jax.vmap(init)(jax.random.split(jax.random.PRNGKey(0), members))
    else:
      state = init(jax.random.PRNGKey(0))
    return jax.device_put(state, replicated)

  dataset = DeviceDataset.from_numpy(data, replicated)
  update = learner.update

  num_seeds = _NUM_SEEDS.value
  members_at_once = (members_lib.members_at_once(config, jax.default_backend())
                     if _AT_ONCE.value is None else _AT_ONCE.value)
  chunk = chunk_lib.make_train_chunk(
      update, batch_size=batch_size, steps_per_call=steps_per_call, mesh=mesh,
      unroll=config.train.scan_unroll, members=(1, num_seeds) if num_seeds > 1 else (),
      members_at_once=members_at_once)
  state = fresh_state(num_seeds)
  start = time.perf_counter()
  state, metrics = chunk(state, dataset)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(_CALLS.value):
    state, metrics = chunk(state, dataset)
  jax.block_until_ready(metrics)
  fused = _CALLS.value * steps_per_call / (time.perf_counter() - start)

  single = chunk_lib.make_train_chunk(update, batch_size=batch_size, steps_per_call=1, mesh=mesh)
  state = fresh_state()
  state, metrics = single(state, dataset)
  jax.block_until_ready(metrics)
  num_single = min(_CALLS.value * steps_per_call, _SINGLE.value)
  start = time.perf_counter()
  for _ in range(num_single):
    state, metrics = single(state, dataset)
  jax.block_until_ready(metrics)
  per_call = num_single / (time.perf_counter() - start)

  comparison = {}
  if num_seeds == 1 and _BARE_ROUNDS.value > 0 and config.network.encoder == 'mlp':
    comparison = {'against_bare': against_bare(config, learner, data, dataset, fresh_state,
                                               mesh, batch_size)}

  print(json.dumps({
      'device': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'config': _CONFIG.value,
      'network': _describe_network(config.network),
      'observation': {k: list(v.shape[1:]) for k, v in data['observation'].items()},
      'batch_size': batch_size,
      'num_seeds': num_seeds,
      'members_at_once': members_at_once if num_seeds > 1 else None,
      'fused_updates_per_s': round(fused, 1),  # of each member
      'fused_member_updates_per_s': round(fused * num_seeds, 1),
      'fused_samples_per_s': round(fused * batch_size),
      'one_update_per_call_updates_per_s': round(per_call, 1),
      'steps_per_call': steps_per_call,
      'scan_unroll': config.train.scan_unroll,
      'compile_s': round(compile_s, 2),
      **comparison,
  }, indent=2))


if __name__ == '__main__':
  app.run(main)
