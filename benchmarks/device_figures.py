"""Every performance figure of the project on one device, in one command.

  python -m benchmarks.device_figures --out=/tmp/figures                # full: a GPU
  python -m benchmarks.device_figures --out=/tmp/figures --scale=small  # minutes on a CPU

For a lent accelerator, whose time is short: the figures docs/performance.md asks of a
device, each from the benchmark script that owns it, run as its own process (so one
step's failure, time-out or memory does not take the others with it, and each process has
the accelerator to itself) with a time limit per step:

  bc_mlp, bc_image  BC updates/s, fused and one update per call (benchmarks.bc_update_speed:
                    `reach`, the MLP preset; `push_image`, the 32x32 CNN preset)
  members           K vmapped seeds (K = 8, 64; K = 1 is bc_mlp), per member and in all
  env_steps         the compiled expert rollout's env steps/s at 1k-16k parallel envs
                    (benchmarks.task_table --throughput_envs)
  image_latency     image-policy latency at batch 1 and throughput (benchmarks.policy_latency)
  stream            the grain pipeline's samples/s on the image preset's demos (collected
                    first by experiments.collect; benchmarks.stream_throughput), to set
                    beside bc_image's fused_samples_per_s
  heads             each head's updates/s and act latency at 1, 10, 100 denoising steps
                    (benchmarks.generative_heads)

Writes OUT/figures.md (one table per step, the device named at the top), OUT/figures.jsonl
(every figure, with its step) and OUT/log.txt (each step's command, time and output tail):
three files, within what a lent machine sends back. `--scale=small` runs every step at
toy sizes (the tests run it on CPU to keep the script working); its figures are not
measurements. `--steps` picks a subset.
"""

import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Sequence, Tuple

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository

_OUT = flags.DEFINE_string('out', None, 'Directory for figures.md, figures.jsonl, log.txt.')
_SCALE = flags.DEFINE_enum('scale', 'full', ['full', 'small'],
                           'full: the figures; small: every step at toy sizes (a CPU check).')
_STEPS = flags.DEFINE_list('steps', [], 'Steps to run (default: all), e.g. bc_mlp,heads.')
_STEP_TIMEOUT = flags.DEFINE_integer('step_timeout_s', 150, 'Time limit of one step.')

# step -> (module, flags at full scale, flags at small scale); a flag list may hold
# {out}, the output directory.
STEPS: Dict[str, Tuple[str, List[str], List[str]]] = {
    'bc_mlp': ('benchmarks.bc_update_speed', ['--config=reach'],
               ['--config=reach,debug', '--calls=2', '--single_updates=4',
                '--dataset_size=512', '--bare_rounds=1', '--round_updates=20']),
    'bc_image': ('benchmarks.bc_update_speed', ['--config=push_image', '--calls=5'],
                 ['--config=push_image,debug', '--calls=1', '--single_updates=2',
                  '--dataset_size=256', '--batch_size=8', '--steps_per_call=2']),
    'members_8': ('benchmarks.bc_update_speed', ['--config=reach', '--num_seeds=8'],
                  ['--config=reach,debug', '--num_seeds=2', '--calls=1',
                   '--single_updates=2', '--dataset_size=512']),
    'members_64': ('benchmarks.bc_update_speed', ['--config=reach', '--num_seeds=64'],
                   ['--config=reach,debug', '--num_seeds=3', '--calls=1',
                    '--single_updates=2', '--dataset_size=512']),
    'env_steps': ('benchmarks.task_table',
                  ['--tasks=reach,push', '--throughput_envs=1024,4096,16384'],
                  ['--tasks=reach', '--throughput_envs=4,8']),
    'image_latency': ('benchmarks.policy_latency', [],
                      ['--sizes=32', '--seed_vit=false', '--repeats=2', '--batch=4']),
    'stream_demos': ('experiments.collect',
                     ['--config=configs/bc.py:push_image', '--workdir={out}/stream_run'],
                     ['--config=configs/bc.py:push_image,debug',
                      '--workdir={out}/stream_run']),
    'stream': ('benchmarks.stream_throughput',
               ['--config=push_image', '--data={out}/stream_run/demos',
                '--stream_dir={out}/stream_run/records', '--threads=4,8,16'],
               ['--config=push_image,debug', '--data={out}/stream_run/demos',
                '--stream_dir={out}/stream_run/records', '--threads=1', '--chunks=2']),
    'heads': ('benchmarks.generative_heads', [],
              ['--heads=deterministic,flow', '--updates_per_call=2', '--calls=1',
               '--repeats=2', '--denoising_steps=1,2']),
}


def json_objects(text: str) -> List[Dict[str, Any]]:
  """The JSON objects a benchmark printed: one per line, or pretty-printed over several
  lines (each starting at a line that begins with '{')."""
  decoder, found, position = json.JSONDecoder(), [], 0
  while True:
    start = text.find('{', position)
    if start < 0:
      return found
    if start == 0 or text[start - 1] == '\n':
      try:
        value, end = decoder.raw_decode(text, start)
      except json.JSONDecodeError:
        end = start + 1
      else:
        if isinstance(value, dict):
          found.append(value)
      position = end
    else:
      position = start + 1


def _scalar_columns(rows: Sequence[Dict[str, Any]]) -> List[str]:
  columns = []
  for row in rows:
    columns += [k for k, v in row.items()
                if k not in columns and k != 'step' and not isinstance(v, (dict, list))]
  return columns


def markdown(device: str, scale: str, results: Sequence[Dict[str, Any]]) -> str:
  """figures.md: the device, then per step its status and a table of its figures."""
  lines = [f'# Device figures ({scale} scale)', '', f'device: {device}', '']
  for result in results:
    lines += [f'## {result["step"]}', '',
              f'`{result["command"]}`: {result["status"]} in {result["seconds"]:.0f} s', '']
    rows = result['figures']
    columns = _scalar_columns(rows)
    if columns:
      lines += ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
      lines += ['| ' + ' | '.join(str(row.get(c, '')) for c in columns) + ' |' for row in rows]
      lines.append('')
  return '\n'.join(lines) + '\n'


def _device() -> str:
  """The accelerator, asked in a child process, so this one never holds it."""
  code = ('import jax; d = jax.devices(); '
          'print(f"{len(d)} x {d[0].device_kind} ({d[0].platform})")')
  done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        timeout=120, check=False, cwd=ROOT)
  return done.stdout.strip() or f'unknown ({done.stderr.strip()[-200:]})'


def run_step(name: str, out: str, scale: str, timeout_s: int) -> Dict[str, Any]:
  """Runs one step's benchmark in its own process; its figures and how it ended."""
  module, full, small = STEPS[name]
  arguments = [a.format(out=out) for a in (small if scale == 'small' else full)]
  command = [sys.executable, '-m', module, *arguments]
  start = time.time()
  try:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                          check=False, cwd=ROOT)
    stdout, output = done.stdout, done.stdout + done.stderr
    status = 'ok' if done.returncode == 0 else f'failed (exit {done.returncode})'
  except subprocess.TimeoutExpired as error:
    stdout = error.stdout.decode() if isinstance(error.stdout, bytes) else error.stdout or ''
    output, status = stdout, f'timed out after {timeout_s} s'
  return {'step': name, 'command': ' '.join(['python', '-m', module, *arguments]),
          'status': status, 'seconds': time.time() - start,
          'figures': json_objects(stdout), 'output_tail': output[-3000:]}


def main(argv):
  del argv
  out = os.path.abspath(_OUT.value)
  os.makedirs(out, exist_ok=True)
  names = _STEPS.value or list(STEPS)
  unknown = sorted(set(names) - set(STEPS))
  if unknown:
    raise app.UsageError(f'unknown steps {unknown}; the steps are {list(STEPS)}')
  device = _device()
  print(f'device: {device}', flush=True)
  results = []
  with open(os.path.join(out, 'log.txt'), 'w') as log:
    for name in names:
      result = run_step(name, out, _SCALE.value, _STEP_TIMEOUT.value)
      results.append(result)
      print(f'{name}: {result["status"]}, {result["seconds"]:.0f} s, '
            f'{len(result["figures"])} figures', flush=True)
      log.write(f'== {name}: {result["command"]}\n{result["status"]} in '
                f'{result["seconds"]:.0f} s\n{result["output_tail"]}\n\n')
      log.flush()
  with open(os.path.join(out, 'figures.jsonl'), 'w') as f:
    for result in results:
      for figure in result['figures']:
        f.write(json.dumps({'step': result['step'], 'device': device, **figure}) + '\n')
  with open(os.path.join(out, 'figures.md'), 'w') as f:
    f.write(markdown(device, _SCALE.value, results))
  failed = [r['step'] for r in results if r['status'] != 'ok']
  print(f'wrote {out}/figures.md' + (f'; failed: {", ".join(failed)}' if failed else ''))
  if failed:
    sys.exit(1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['out'])
  app.run(main)
