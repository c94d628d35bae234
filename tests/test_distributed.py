"""Multi-host data parallel: 2 processes on localhost (CPU collectives over gloo) train as 1
process on 2 devices does, and only process 0 writes the run's files."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import bc as bc_config
from imitation import envs
from imitation.data import demonstrations
from imitation.data import normalization
from imitation.data.device_dataset import DeviceDataset
from imitation.training import distributed
from imitation.training import sharding

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _train_command(workdir, demos_path, *flags):
  return [sys.executable, '-m', 'experiments.train', '--config=configs/bc.py:reach,debug',
          f'--workdir={workdir}', f'--config.data.path={demos_path}', *flags]


def _metrics(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope='module', params=['device', 'stream'])
def one_and_two_processes(request, tmp_path_factory, demos_path):
  """(1 process of 2 devices, 2 processes of 1 device), with the dataset held on the devices
  or streamed from disk: workdirs and each process's output."""
  root = tmp_path_factory.mktemp(f'distributed_{request.param}')
  pipeline = f'--config.data.pipeline={request.param}'
  base_env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  base_env['JAX_PLATFORMS'] = 'cpu'
  one = str(root / 'one_process')
  two = str(root / 'two_processes')
  coordinator = f'--config.distributed.coordinator_address=localhost:{_free_port()}'
  processes = [subprocess.Popen(
      _train_command(two, demos_path, pipeline, coordinator,
                     '--config.distributed.num_processes=2',
                     f'--config.distributed.process_id={i}'),
      cwd=REPO, env=base_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
  single = subprocess.run(
      _train_command(one, demos_path, pipeline), cwd=REPO, capture_output=True, text=True,
      env={**base_env, 'XLA_FLAGS': '--xla_force_host_platform_device_count=2'},
      timeout=TIMEOUT_S)
  outputs = []
  for process in processes:
    try:
      stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
      for p in processes:
        p.kill()
      raise
    outputs.append((process.returncode, stdout, stderr))
  return one, two, (single.returncode, single.stdout, single.stderr), outputs


@pytest.mark.slow
def test_two_processes_train_as_one_process_on_two_devices(one_and_two_processes):
  one, two, single, outputs = one_and_two_processes
  assert single[0] == 0, single[2][-3000:]
  for returncode, _, stderr in outputs:
    assert returncode == 0, stderr[-3000:]
  losses = {w: [(r['step'], r['train/loss']) for r in _metrics(w) if 'train/loss' in r]
            for w in (one, two)}
  assert [s for s, _ in losses[one]] == [10, 20, 30, 40]
  assert [s for s, _ in losses[two]] == [s for s, _ in losses[one]]
  # Streamed batches hold the same rows in another order (each process reads alternate rows
  # of the shuffle): the same loss up to float summation order.
  np.testing.assert_allclose([l for _, l in losses[two]], [l for _, l in losses[one]],
                             rtol=1e-5)
  with open(os.path.join(one, 'results.json')) as f:
    single_results = json.load(f)
  with open(os.path.join(two, 'results.json')) as f:
    multi_results = json.load(f)
  for key in ('num_demos', 'num_transitions', 'num_eval_episodes', 'steps'):
    assert multi_results[key] == single_results[key], key  # counts of the whole, not a shard
  np.testing.assert_allclose(multi_results['heldout_action_mse'],
                             single_results['heldout_action_mse'], rtol=1e-4)


@pytest.mark.slow
def test_only_process_zero_writes_the_run_files(one_and_two_processes):
  _, two, _, outputs = one_and_two_processes
  rows = _metrics(two)
  steps = [r['step'] for r in rows if 'train/loss' in r]
  assert len(steps) == len(set(steps))  # one writer: each chunk logged once
  assert len(os.listdir(os.path.join(two, 'tensorboard'))) == 1
  for name in ('config.json', 'results.json', 'policy/policy_config.json'):
    assert os.path.exists(os.path.join(two, name)), name
  assert 'policy  success rate' in outputs[0][1]  # the table, printed once, by process 0
  assert 'success rate' not in outputs[1][1]


def test_sharded_dataset_samples_each_shard_for_its_part_of_the_batch():
  """Shard s fills rows [s * b, (s + 1) * b) of a batch from its own rows, never its padding;
  row weights apply within each shard."""
  mesh = sharding.make_mesh(1)
  shards = [{'x': np.arange(5, dtype=np.float32) + 100}]
  dataset = DeviceDataset.from_shards(shards, sharding.batch_sharded(mesh), num_shards=1,
                                      rows=8, size=5)
  batch = jax.device_get(jax.jit(lambda d, k: d.sample(k, 512))(dataset, jax.random.key(0)))
  assert set(batch['x'].tolist()) == set(range(100, 105))  # padding rows (0.0) never drawn
  weighted = DeviceDataset.from_shards(
      shards, sharding.batch_sharded(mesh), num_shards=1, rows=8, size=5,
      row_weights=[np.array([0, 0, 1, 0, 3], np.float64)])
  batch = jax.device_get(jax.jit(lambda d, k: d.sample(k, 4000))(weighted, jax.random.key(1)))
  values, counts = np.unique(batch['x'], return_counts=True)
  assert values.tolist() == [102, 104]
  assert abs(counts[1] / counts.sum() - 0.75) < 0.03


def test_shards_of_a_dataset_partition_its_episodes(debug_config, demos_path):
  """Each process reads episode i when i mod num_shards is one of its shards: together the
  shards hold every transition once, and each row keeps its episode's global number."""
  env = envs.make('reach')
  whole, _ = demonstrations.load_transitions(debug_config, demos_path, env)
  parts = [demonstrations.load_transitions(debug_config, demos_path, env, shards=([s], 3))[0]
           for s in range(3)]
  assert sum(len(p['action']) for p in parts) == len(whole['action'])
  for s, part in enumerate(parts):
    assert set(np.unique(part['episode_index']) % 3) == {s}
    rows = np.isin(whole['episode_index'], part['episode_index'])
    np.testing.assert_array_equal(part['action'], whole['action'][rows])
  moments = [normalization.moments(p) for p in parts]
  merged = {k: normalization.merge_moments(np.stack([m[k] for m in moments]))
            for k in moments[0]}
  for key, value in normalization.moments(whole).items():
    np.testing.assert_allclose(merged[key], value, rtol=1e-9, atol=1e-12)


def test_one_process_helpers_are_the_identity():
  values = np.arange(6.0).reshape(3, 2)
  np.testing.assert_array_equal(distributed.gather_rows(values), values)
  np.testing.assert_array_equal(distributed.sum_over_processes([1.5, 2]), [1.5, 2])
  assert distributed.split_evenly(16, 'eval.num_episodes') == slice(0, 16)
  assert distributed.process_shards(sharding.make_mesh(1)) == [0]
  config = bc_config.get_config('reach,debug')
  distributed.initialize(config.distributed)  # neither address nor auto: nothing to join
  assert jax.process_count() == 1


def test_importing_the_library_leaves_the_backend_uninitialised():
  """jax.distributed.initialize must run before any device is touched, so no module may
  create arrays at import (e.g. a jnp constant)."""
  script = ('from jax._src import xla_bridge\n'
            'import experiments.train, experiments.dagger, imitation.studies.multitask_comparison\n'
            'import configs.bc, configs.multitask, configs.dagger\n'
            'assert not xla_bridge.backends_are_initialized()\n')
  result = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
