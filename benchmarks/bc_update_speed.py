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
"""

import json
import time
from typing import Dict

from absl import app
from absl import flags
import jax
import ml_collections
import numpy as np

from configs import bc as bc_config
from experiments import common as experiments_common
from imitation.agents import bc
from imitation.data import normalization
from imitation.data.device_dataset import DeviceDataset
from imitation.training import sharding
from imitation.training import chunk as chunk_lib
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
  chunk = chunk_lib.make_train_chunk(
      update, batch_size=batch_size, steps_per_call=steps_per_call, mesh=mesh,
      unroll=config.train.scan_unroll, members=(1, num_seeds) if num_seeds > 1 else ())
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

  print(json.dumps({
      'device': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'config': _CONFIG.value,
      'network': _describe_network(config.network),
      'observation': {k: list(v.shape[1:]) for k, v in data['observation'].items()},
      'batch_size': batch_size,
      'num_seeds': num_seeds,
      'fused_updates_per_s': round(fused, 1),  # of each member
      'fused_member_updates_per_s': round(fused * num_seeds, 1),
      'fused_samples_per_s': round(fused * batch_size),
      'one_update_per_call_updates_per_s': round(per_call, 1),
      'steps_per_call': steps_per_call,
      'scan_unroll': config.train.scan_unroll,
      'compile_s': round(compile_s, 2),
  }, indent=2))


if __name__ == '__main__':
  app.run(main)
