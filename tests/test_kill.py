"""The kill harness: runs SIGKILLed at random moments, rerun with the same command, end with
the results.json of an uninterrupted run.

Each chain launches one command in one workdir again and again; each launch is killed
(SIGKILL, as an OOM killer or a preempted host would) a random delay after a moment of the
run is observed in the workdir (collection started, a dataset being written, training, a
checkpoint being saved, a DAgger round appended, the policy being exported, ...), and the
next launch must carry on from whatever the kill left. The last launch runs to the end;
its results.json must match an uninterrupted run's, but for wall times and where it
resumed from. Every moment must be hit (a launch that ends before its moment fails).

Each launch imports JAX, Brax and TensorFlow afresh (~10 s on 2 CPU cores), so the harness
takes minutes: it is marked `kill` and skipped unless asked for (tests/conftest.py). Run it
with `bash scripts/test.sh -m kill`; IMITATION_KILL_SEED draws other delays. 25 moments in all.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from typing import Callable, List, NamedTuple

import numpy as np
import pytest

pytestmark = pytest.mark.kill

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_POLL_S = 0.005
# Keys that differ between an interrupted and an uninterrupted run by design.
_UNCOMPARED = ('wall_time_s', 'resumed_from_step', 'resumed_after_round', 'collect_time_s',
               'seconds', 'dataset', 'path')


class Moment(NamedTuple):
  """A moment of a run: `happened(workdir, launched_at, baseline)` turns true once it is
  seen; the launch is killed a delay drawn from [0, max_delay_s) later."""
  name: str
  happened: Callable[[str, float, dict], bool]
  max_delay_s: float


def fresh(pattern: str) -> Callable[[str, float, dict], bool]:
  """A path matching `pattern` (under the workdir) created or changed by this launch."""
  def happened(workdir, launched_at, _):
    for path in glob.glob(os.path.join(workdir, pattern)):
      try:
        if os.stat(path).st_mtime >= launched_at:
          return True
      except FileNotFoundError:  # a temporary directory renamed meanwhile
        continue
    return False
  return happened


def _train_rows(path: str) -> int:
  try:
    with open(path) as f:
      return sum('"train/loss"' in line for line in f)
  except FileNotFoundError:
    return 0


def training(metrics: str, after: str = '') -> Callable[[str, float, dict], bool]:
  """More train rows in `metrics` (a metrics.jsonl) than when the launch started (and than
  when the checkpoint directory `after` was committed, when given)."""
  def happened(workdir, _, baseline):
    path = os.path.join(workdir, metrics)
    baseline.setdefault(path, _train_rows(path))
    if after and not os.path.isdir(os.path.join(workdir, after)):
      baseline[path] = _train_rows(path)  # count from the commit on
      return False
    return _train_rows(path) > baseline[path]
  return happened


def _launch(command: List[str], workdir: str, log: str) -> subprocess.Popen:
  with open(log, 'a') as f:
    return subprocess.Popen(command + [f'--workdir={workdir}'], cwd=REPO, stdout=f,
                            stderr=subprocess.STDOUT)


def _kill_at(command, workdir, moment: Moment, delay: float, log: str) -> bool:
  """Launches `command`, SIGKILLs it `delay` s after `moment`; False if it ended first."""
  baseline = {}
  moment.happened(workdir, time.time(), baseline)  # counts taken before the launch
  launched_at = time.time()
  process = _launch(command, workdir, log)
  try:
    while process.poll() is None:
      if moment.happened(workdir, launched_at, baseline):
        time.sleep(delay)
        process.kill()
        process.wait()
        return True
      time.sleep(_POLL_S)
    return False
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


def _finish(command, workdir, log) -> dict:
  process = _launch(command, workdir, log)
  assert process.wait(timeout=600) == 0, open(log).read()[-3000:]
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


def _comparable(tree):
  if isinstance(tree, dict):
    return {k: _comparable(v) for k, v in tree.items() if k not in _UNCOMPARED}
  if isinstance(tree, list):
    return [_comparable(v) for v in tree]
  return tree


def _chain(tmp_path, command, moments):
  """(kills as (moment, delay), results.json of the killed chain, of an uninterrupted run)."""
  rng = np.random.default_rng(int(os.environ.get('IMITATION_KILL_SEED', '0')))
  log = str(tmp_path / 'launches.log')
  uninterrupted = _finish(command, str(tmp_path / 'uninterrupted'), log)
  workdir = str(tmp_path / 'killed')
  kills = []
  for moment in moments:
    delay = float(rng.uniform(0, moment.max_delay_s))
    assert _kill_at(command, workdir, moment, delay, log), (
        f'the run ended before the moment {moment.name!r}')
    kills.append((moment.name, round(delay, 3)))
  print('killed at', kills)
  return kills, _finish(command, workdir, log), uninterrupted


# Updates enough, and large enough, that every phase lasts a while (600 updates of a 256-256
# MLP on batches of 1,024 take about 2 s on 2 CPU cores; the debug network's take 0.1 s): a
# kill a random delay after one moment never lands past the next moment of its chain.
_TRAINING = ['--config.train.num_steps=600', '--config.train.checkpoint_every=200',
             '--config.train.eval_every=600', '--config.train.batch_size=1024',
             '--config.network.hidden_sizes=256,256']
BC_COMMAND = [sys.executable, '-m', 'experiments.train', '--config=configs/bc.py:reach,debug',
              *_TRAINING]
BC_MOMENTS = [
    Moment('collecting the demos', fresh('config.json'), 2.0),
    Moment('writing the demos', fresh('demos/*/*.incomplete'), 0.05),
    Moment('training from step 0', training('metrics.jsonl'), 0.05),
    Moment('saving a checkpoint', fresh('checkpoints/*tmp*'), 0.02),
    Moment('training after checkpoint 200', training('metrics.jsonl', after='checkpoints/200'),
           0.05),
    Moment('saving a checkpoint', fresh('checkpoints/*tmp*'), 0.02),
    Moment('training after checkpoint 400', training('metrics.jsonl', after='checkpoints/400'),
           0.05),
    Moment('saving checkpoint 600', fresh('checkpoints/600*tmp*'), 0.02),
    Moment('evaluating after step 600', fresh('checkpoints/600'), 0.3),
    Moment('exporting the policy', fresh('policy.incomplete'), 0.05),
    Moment('writing results.json', fresh('policy/policy_config.json'), 0.05),
]

DAGGER_COMMAND = [sys.executable, '-m', 'experiments.dagger',
                  '--config=configs/dagger.py:reach,debug', *_TRAINING]
DAGGER_MOMENTS = [
    Moment('writing the demos', fresh('demos/*/*.incomplete'), 0.05),
    Moment('creating the aggregate dataset', fresh('dataset/*/*.incomplete'), 0.05),
    Moment('saving a round-0 checkpoint', fresh('rounds/0/checkpoints/*tmp*'), 0.02),
    Moment('training round 0', training('rounds/0/metrics.jsonl'), 0.05),
    Moment('appending round 1', fresh('dataset/*/*.incomplete'), 0.05),
    Moment('saving a round-1 checkpoint', fresh('rounds/1/checkpoints/*tmp*'), 0.02),
    Moment('training round 1', training('rounds/1/metrics.jsonl'), 0.05),
    Moment('appending round 2', fresh('dataset/*/*.incomplete'), 0.05),
    Moment('saving a round-2 checkpoint', fresh('rounds/2/checkpoints/*tmp*'), 0.02),
    Moment('training round 2', training('rounds/2/metrics.jsonl'), 0.05),
    Moment('exporting the policy', fresh('policy.incomplete'), 0.05),
]

COLLECT_COMMAND = [sys.executable, '-m', 'experiments.collect',
                   '--config=configs/collect.py:reach,debug']
COLLECT_MOMENTS = [
    Moment('rolling out the expert', fresh('config.json'), 2.0),
    Moment('writing the dataset', fresh('demos/*/*.incomplete'), 0.05),
    Moment('summarising the dataset', fresh('demos/*/1.0.0'), 0.05),
]


@pytest.mark.parametrize('command, moments', [
    (BC_COMMAND, BC_MOMENTS), (DAGGER_COMMAND, DAGGER_MOMENTS),
    (COLLECT_COMMAND, COLLECT_MOMENTS)], ids=['bc', 'dagger', 'collect'])
def test_runs_killed_at_random_moments_end_like_uninterrupted_ones(tmp_path, command, moments):
  kills, resumed, uninterrupted = _chain(tmp_path, command, moments)
  assert len(kills) == len(moments)
  assert _comparable(resumed) == _comparable(uninterrupted)



def test_ctrl_c_is_one_line_exit_130_and_the_rerun_resumes(tmp_path):
  """SIGINT (Ctrl-C) once a checkpoint is committed: exit 130 with the one line, the
  checkpoints intact, and the same command ends like an uninterrupted run."""
  from experiments import common  # pylint: disable=g-import-not-at-top
  workdir, log = str(tmp_path / 'interrupted'), str(tmp_path / 'launch.log')
  with open(log, 'a') as f:  # SIGINT as a terminal sends it (not ignored, as `&` would)
    process = subprocess.Popen(
        BC_COMMAND + [f'--workdir={workdir}'], cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  checkpoints = os.path.join(workdir, 'checkpoints')
  while process.poll() is None and not (os.path.isdir(checkpoints) and any(
      name.isdigit() for name in os.listdir(checkpoints))):
    time.sleep(_POLL_S)
  assert process.poll() is None, 'the run ended before its first checkpoint'
  process.send_signal(signal.SIGINT)
  assert process.wait(timeout=120) == common.INTERRUPTED_EXIT_CODE
  with open(log) as f:
    assert common.INTERRUPTED in f.read()
  assert 'Traceback' not in open(log).read()
  resumed = _finish(BC_COMMAND, workdir, log)
  assert resumed['resumed_from_step'] > 0
  uninterrupted = _finish(BC_COMMAND, str(tmp_path / 'uninterrupted'), log)
  assert _comparable(resumed) == _comparable(uninterrupted)
