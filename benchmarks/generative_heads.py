"""Update speed and action latency of the generative heads against the MSE head.

  python -m benchmarks.generative_heads

Updates/s: BC updates (batch 256, state 4, action 2, the config's 256x256 MLP encoder and
a 256-wide, 3-deep denoiser) fused into one compiled scan, for each head, on one action
(H=1) and on chunks of 8, with XLA's count of an update's floating-point operations and
the rate they run at (the profile of where the time goes). Latency: one jitted act call at batch 1 (an action, or a chunk
of 8) at 1, 10 and 100 denoising steps. Prints one JSON line per figure.
"""

import json
import time
from typing import Tuple

from absl import app
from absl import flags
import jax
from jax import numpy as jp
import numpy as np

from configs import bc as bc_config
from experiments import common as experiments_common
from imitation.agents import bc
from imitation.data import normalization as normalization_lib
from imitation.data.device_dataset import DeviceDataset
from imitation.networks import policy as policy_lib
from imitation.training import optimizers

_HEADS = flags.DEFINE_list('heads', ['deterministic', 'mixture', 'diffusion', 'flow'],
                           'Heads to time.')
_STEPS = flags.DEFINE_integer('updates_per_call', 100, 'Updates fused into one timed call.')
_CALLS = flags.DEFINE_integer('calls', 5, 'Timed calls.')
_REPEATS = flags.DEFINE_integer('repeats', 50, 'Timed act calls per latency figure.')
_DENOISING_STEPS = flags.DEFINE_list('denoising_steps', ['1', '10', '100'],
                                     'Sampling steps of the generative heads\' latency figures.')

STATE, ACTION, BATCH = 4, 2, 256


def _config(head: str, horizon: int):
  config = bc_config.get_config('obstacle')
  config.network.head = head
  config.network.chunk.update(horizon=horizon, execute_steps=horizon)
  return config


def _timed(fn, *args, repeats):
  jax.block_until_ready(fn(*args))  # compile
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / repeats


def updates_per_second(head: str, horizon: int) -> Tuple[float, float]:
  config = _config(head, horizon)
  policy = policy_lib.make_policy(config.network, ACTION)
  optimizer = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
  rng = np.random.default_rng(0)
  action = rng.normal(size=(4096,) + ((horizon,) if horizon > 1 else ()) + (ACTION,))
  dataset = DeviceDataset.from_numpy({
      'observation': {'state': rng.normal(size=(4096, STATE)).astype(np.float32)},
      'action': action.astype(np.float32)})
  normalization = normalization_lib.Normalization(
      {'state': jp.zeros(STATE)}, {'state': jp.ones(STATE)}, jp.zeros(ACTION), jp.ones(ACTION))
  state = bc.init(jax.random.PRNGKey(0), policy, optimizer, {'state': jp.zeros((1, STATE))},
                  normalization)
  update = bc.make_update(policy, optimizer)

  @jax.jit
  def chunk(state):
    def body(state, key):
      rng_sample, rng_update = jax.random.split(key)
      return update(state, dataset.sample(rng_sample, BATCH), rng_update)[0], None
    return jax.lax.scan(body, state, jax.random.split(state.rng, _STEPS.value))[0]

  # XLA's count of one update's floating-point operations: where the time goes.
  one = jax.jit(update).lower(state, dataset.sample(jax.random.PRNGKey(1), BATCH),
                              jax.random.PRNGKey(2)).compile().cost_analysis()
  one = one[0] if isinstance(one, (list, tuple)) else one
  return _STEPS.value / _timed(chunk, state, repeats=_CALLS.value), float(one['flops'])


def latency_ms(head: str, horizon: int, steps: int) -> float:
  config = _config(head, horizon)
  if head in policy_lib.GENERATIVE_HEADS:
    config.network[head].inference_steps = steps
    if head == 'diffusion':
      config.network.diffusion.train_steps = max(100, steps)
  policy = policy_lib.make_policy(config.network, ACTION)
  observation = {'state': jp.zeros((1, STATE))}
  params = policy.init(jax.random.PRNGKey(0), observation)
  act = jax.jit(lambda p, o: policy.apply(p, o).mode())
  return 1e3 * _timed(act, params, observation, repeats=_REPEATS.value)


def main(argv):
  del argv
  experiments_common.quiet_third_party_logs()
  device = jax.devices()[0].device_kind
  for horizon in (1, 8):
    baseline = None
    for head in _HEADS.value:
      speed, flops = updates_per_second(head, horizon)
      baseline = baseline or speed
      print(json.dumps({'figure': 'updates_per_second', 'head': head, 'horizon': horizon,
                        'value': round(speed, 1), 'vs_first_head': round(speed / baseline, 3),
                        'mflop_per_update': round(flops / 1e6, 1),
                        'achieved_gflop_per_s': round(speed * flops / 1e9, 2),
                        'device': device}), flush=True)
  for head in _HEADS.value:
    generative = head in policy_lib.GENERATIVE_HEADS
    for horizon in (1, 8):
      for steps in map(int, _DENOISING_STEPS.value) if generative else (1,):
        print(json.dumps({'figure': 'act_latency_ms', 'head': head, 'horizon': horizon,
                          'denoising_steps': steps if generative else None,
                          'value': round(latency_ms(head, horizon, steps), 3),
                          'device': device}), flush=True)


if __name__ == '__main__':
  app.run(main)
