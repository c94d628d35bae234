"""Per-image action latency (batch 1) and throughput (batch 256) of image policies.

  python -m benchmarks.policy_latency

Times the jitted policy (uint8 image -> action distribution mode), after a compile call,
for the seed's CNN and the config's default ViT at 64x64 and 224x224, and the seed's
12-layer, 12-head ViT (width 768, patch 16) at 224x224, batch 1 only unless
--seed_vit_batch256. The seed's reference figures: 50 ms (CNN) and 200 ms (ViT).
"""

import json
import time

from absl import app
from absl import flags
import jax
from jax import numpy as jp
import numpy as np

from configs import bc as bc_config
from experiments import common as experiments_common
from imitation.networks import policy as policy_lib

_REPEATS = flags.DEFINE_integer('repeats', 20, 'Timed calls at batch 1 (batch 256: a quarter).')
_SEED_VIT_BATCH = flags.DEFINE_bool('seed_vit_batch256', False, 'Also time ViT-B/16 at batch 256.')
_SIZES = flags.DEFINE_list('sizes', ['64', '224'], 'Image sides for the CNN and default ViT.')
_SEED_VIT = flags.DEFINE_bool('seed_vit', True, 'Also time the seed ViT-B/16 at 224x224.')
_BATCH = flags.DEFINE_integer('batch', 256, 'The throughput batch size.')


def _time(fn, params, images, repeats):
  jax.block_until_ready(fn(params, images))  # compile
  start = time.perf_counter()
  for _ in range(repeats):
    jax.block_until_ready(fn(params, images))
  return (time.perf_counter() - start) / repeats


def main(argv):
  del argv
  experiments_common.quiet_third_party_logs()
  cases = []
  for size in map(int, _SIZES.value):
    cases.append(('cnn (seed: 3x3x64 x3)', 'cnn', {}, size, (1, _BATCH.value)))
    cases.append(('vit (default: patch 8, 128 wide, 4 deep)', 'vit', {}, size, (1, _BATCH.value)))
  seed_vit = dict(patch_size=16, width=768, depth=12, num_heads=12)
  if _SEED_VIT.value:
    cases.append(('vit (seed: patch 16, 768 wide, 12 x 12 heads)', 'vit', seed_vit, 224,
                  (1, _BATCH.value) if _SEED_VIT_BATCH.value else (1,)))
  rows = []
  for name, encoder, vit, size, batches in cases:
    config = bc_config.get_config('reach').network
    config.update(encoder=encoder)
    config.vit.update(vit)
    policy = policy_lib.make_policy(config, action_dim=2)
    example = {'image': jp.zeros((1, size, size, 3), jp.uint8)}
    params = policy.init(jax.random.PRNGKey(0), example)
    act = jax.jit(lambda p, images: policy.apply(p, {'image': images}).mode())
    num_params = sum(x.size for x in jax.tree.leaves(params))
    for batch in batches:
      images = jp.asarray(np.random.default_rng(0).integers(0, 255, (batch, size, size, 3)), jp.uint8)
      seconds = _time(act, params, images, max(1, _REPEATS.value // (4 if batch > 1 else 1)))
      rows.append({
          'policy': name, 'image': f'{size}x{size}', 'batch': batch,
          'ms_per_call': round(seconds * 1000, 2),
          'images_per_s': round(batch / seconds, 1), 'params': int(num_params),
      })
      print(json.dumps(rows[-1]), flush=True)
  print(f'\ndevice: {jax.devices()[0].device_kind} x {jax.device_count()}\n')
  print(f'| policy | image | batch 1 latency (ms) | batch {_BATCH.value} throughput (images/s) '
        '| parameters |')
  print('|---|---|---|---|---|')
  keys = sorted({(r['policy'], r['image']) for r in rows}, key=lambda k: (k[1], k[0]))
  for policy_name, image in keys:
    one = [r for r in rows if (r['policy'], r['image'], r['batch']) == (policy_name, image, 1)]
    many = [r for r in rows
            if (r['policy'], r['image'], r['batch']) == (policy_name, image, _BATCH.value)]
    print(f'| {policy_name} | {image} | {one[0]["ms_per_call"]} | '
          f'{many[0]["images_per_s"] if many else "-"} | {one[0]["params"]:,} |')


if __name__ == '__main__':
  app.run(main)
