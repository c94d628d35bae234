"""BC update throughput (updates/s) for the default policy, fused vs one update per call.

  python -m benchmarks.bc_update_speed            # defaults: MLP 2x256, batch 256
  python -m benchmarks.bc_update_speed --batch_size=1024 --hidden=512,512

Times the exact compiled chunk the trainer runs (`steps_per_call` updates in one
`lax.scan`, batches sampled on device), after a warm-up call that compiles it, and for
comparison a jitted single update called from Python once per step.
"""

import json
import time

from absl import app
from absl import flags
import jax
import numpy as np
import optax

from configs import bc as bc_config
from imitation import console
from imitation.agents import bc
from imitation.data import normalization
from imitation.data.device_dataset import DeviceDataset
from imitation.networks import policy as policy_lib
from imitation.training import sharding
from imitation.training import update_loop

_BATCH = flags.DEFINE_integer('batch_size', 256, 'Batch size.')
_HIDDEN = flags.DEFINE_list('hidden', ['256', '256'], 'MLP hidden sizes.')
_STEPS_PER_CALL = flags.DEFINE_integer('steps_per_call', 500, 'Updates fused per call.')
_CALLS = flags.DEFINE_integer('calls', 10, 'Timed calls of the fused chunk.')
_DATASET = flags.DEFINE_integer('dataset_size', 12_800, 'Transitions on device.')
_OBS_DIM = flags.DEFINE_integer('obs_dim', 10, 'State size (reach: 10).')
_ACTION_DIM = flags.DEFINE_integer('action_dim', 2, 'Action size (reach: 2).')


def main(argv):
  del argv
  console.quiet_third_party_logs()
  config = bc_config.get_config('reach')
  config.network.hidden_sizes = tuple(int(h) for h in _HIDDEN.value)
  rng = np.random.default_rng(0)
  data = {
      'observation': {'state': rng.normal(size=(_DATASET.value, _OBS_DIM.value)).astype(np.float32)},
      'action': rng.normal(size=(_DATASET.value, _ACTION_DIM.value)).astype(np.float32),
  }
  mesh = sharding.make_mesh()
  replicated = sharding.replicated(mesh)
  policy = policy_lib.make_policy(config.network, _ACTION_DIM.value)
  optimizer = optax.adam(1e-3)
  norm = normalization.compute(data, min_std=1e-3)

  def fresh_state():
    state = bc.init(jax.random.PRNGKey(0), policy, optimizer,
                    jax.tree.map(lambda x: x[:1], data['observation']), norm)
    return jax.device_put(state, replicated)

  dataset = DeviceDataset.from_numpy(data, replicated)
  update = bc.make_update(policy, optimizer)

  chunk = update_loop.make_train_chunk(
      update, batch_size=_BATCH.value, steps_per_call=_STEPS_PER_CALL.value, mesh=mesh)
  state = fresh_state()
  start = time.perf_counter()
  state, metrics = chunk(state, dataset)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(_CALLS.value):
    state, metrics = chunk(state, dataset)
  jax.block_until_ready(metrics)
  fused = _CALLS.value * _STEPS_PER_CALL.value / (time.perf_counter() - start)

  single = update_loop.make_train_chunk(update, batch_size=_BATCH.value, steps_per_call=1, mesh=mesh)
  state = fresh_state()
  state, metrics = single(state, dataset)
  jax.block_until_ready(metrics)
  num_single = min(_CALLS.value * _STEPS_PER_CALL.value, 2000)
  start = time.perf_counter()
  for _ in range(num_single):
    state, metrics = single(state, dataset)
  jax.block_until_ready(metrics)
  per_call = num_single / (time.perf_counter() - start)

  print(json.dumps({
      'device': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'network': f'MLP {"x".join(_HIDDEN.value)}',
      'batch_size': _BATCH.value,
      'fused_updates_per_s': round(fused, 1),
      'fused_samples_per_s': round(fused * _BATCH.value),
      'one_update_per_call_updates_per_s': round(per_call, 1),
      'steps_per_call': _STEPS_PER_CALL.value,
      'compile_s': round(compile_s, 2),
  }, indent=2))


if __name__ == '__main__':
  app.run(main)
