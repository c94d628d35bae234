"""Streaming input throughput (samples/s) against what the update consumes.

  python -m benchmarks.stream_throughput --config=push_image --data=WORKDIR/demos \
      --stream_dir=/tmp/push_stream
  python -m benchmarks.stream_throughput --config=push_image --data=... --threads=2,4,8

Converts the RLDS dataset `--data` into transition records once (`data.streaming.convert`,
reused from `--stream_dir` on later calls), then times `Stream.next_chunk` alone: grain's
reader threads decoding records and rebuilding frame stacks, batches stacked into chunks of
`steps_per_call` updates and placed on the devices, as training reads them. The update's
consumption (samples/s = updates/s x batch size) comes from `benchmarks.bc_update_speed`
or a training run's `train/steps_per_second`; the stream keeps up when its figure is larger.
"""

import json
import os
import time

from absl import app
from absl import flags
import jax

from configs import bc as bc_config
from experiments import common as experiments_common
from imitation.data import demonstrations
from imitation.data import streaming
from imitation.training import sharding

_CONFIG = flags.DEFINE_string('config', 'push_image', 'configs/bc.py argument: task or preset.')
_DATA = flags.DEFINE_string('data', None, 'RLDS dataset to stream (comma-separated: a mixture).')
_STREAM_DIR = flags.DEFINE_string('stream_dir', '/tmp/stream_benchmark', 'Converted records.')
_THREADS = flags.DEFINE_list('threads', ['8'], 'Reader thread counts to time.')
_CHUNKS = flags.DEFINE_integer('chunks', 20, 'Timed chunks per setting (after one warm-up).')


def main(argv):
  del argv
  experiments_common.quiet_third_party_logs()
  config = bc_config.get_config(_CONFIG.value)
  source = streaming.source_of(config, _DATA.value)  # as a training run's: reused by both
  meta = streaming.read_meta(_STREAM_DIR.value)
  if not streaming.matches(meta, source):
    start = time.time()
    meta = streaming.convert(demonstrations.iterate_training_episodes(config, _DATA.value),
                             _STREAM_DIR.value, frame_stack=config.env.frame_stack,
                             action_key=config.data.action_key, source=source)
    print(f'converted {meta["num_transitions"]:,} transitions in {time.time() - start:.0f} s')
  mesh = sharding.make_mesh(config.num_devices)
  rows = config.train.steps_per_call * config.train.batch_size
  results = []
  for threads in map(int, _THREADS.value):
    stream = streaming.Stream(
        _STREAM_DIR.value, meta, seed=0, batch_size=config.train.batch_size,
        steps_per_call=config.train.steps_per_call,
        sharding=sharding.steps_batch_sharded(mesh), num_threads=threads,
        prefetch=max(config.data.streaming.prefetch, threads),
        device_prefetch=config.data.streaming.device_prefetch)
    jax.block_until_ready(stream.next_chunk()[0])  # threads started, first reads done
    start = time.time()
    for _ in range(_CHUNKS.value):
      jax.block_until_ready(stream.next_chunk()[0])
    elapsed = time.time() - start
    stream.close()
    results.append({'threads': threads, 'samples_per_s': round(_CHUNKS.value * rows / elapsed),
                    'chunk_rows': rows})
    print(json.dumps(results[-1]))
  print(json.dumps({
      'config': _CONFIG.value, 'transitions': meta['num_transitions'],
      'device': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'cpus': os.cpu_count(), 'results': results}, indent=1))


if __name__ == '__main__':
  flags.mark_flags_as_required(['data'])
  app.run(main)
