"""benchmarks/device_figures.py: the one command a lent accelerator runs, kept working on CPU."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import device_figures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_json_objects_reads_one_line_and_pretty_printed_figures_and_skips_the_rest():
  text = ('I1207 log line {not json}\n'
          '{"head": "flow", "value": 1.5}\n'
          'converted 10 transitions\n'
          '{\n  "config": "reach",\n  "nested": {"a": 1},\n  "fused_updates_per_s": 2.0\n}\n'
          '{broken\n'
          '| table | row |\n')
  assert device_figures.json_objects(text) == [
      {'head': 'flow', 'value': 1.5},
      {'config': 'reach', 'nested': {'a': 1}, 'fused_updates_per_s': 2.0}]


def test_markdown_names_the_device_and_tables_each_steps_scalar_figures():
  results = [
      {'step': 'heads', 'command': 'python -m benchmarks.generative_heads', 'status': 'ok',
       'seconds': 3.0, 'figures': [{'head': 'mse', 'value': 1.0},
                                   {'head': 'flow', 'value': 2.0, 'nested': {'x': 1}}]},
      {'step': 'stream', 'command': 'python -m benchmarks.stream_throughput',
       'status': 'timed out after 5 s', 'seconds': 5.0, 'figures': []},
  ]
  text = device_figures.markdown('1 x H100 (gpu)', 'full', results)
  assert 'device: 1 x H100 (gpu)' in text
  assert '| head | value |\n|---|---|\n| mse | 1.0 |\n| flow | 2.0 |' in text
  assert 'timed out after 5 s' in text and 'nested' not in text


def test_the_bc_step_runs_at_small_scale_and_reports_the_trainer_against_a_bare_loop(tmp_path):
  """One step end to end in the default suite (about 15 s): the subprocess, the figures
  read from its output, the report; `-m bench` below runs every step."""
  out = tmp_path / 'figures'
  done = subprocess.run(
      [sys.executable, '-m', 'benchmarks.device_figures', f'--out={out}', '--scale=small',
       '--steps=bc_mlp'], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert done.returncode == 0, done.stdout + done.stderr[-3000:]
  [figure] = [json.loads(line) for line in (out / 'figures.jsonl').read_text().splitlines()]
  assert figure['step'] == 'bc_mlp' and figure['fused_updates_per_s'] > 0
  ratios = figure['against_bare']['ratio_to_bare']
  assert ratios['bare'] == 1.0 and ratios['fit_10'] > 0
  assert '## bc_mlp' in (out / 'figures.md').read_text()


@pytest.mark.bench
def test_every_step_runs_at_small_scale_on_cpu(tmp_path):
  out = tmp_path / 'figures'
  done = subprocess.run(
      [sys.executable, '-m', 'benchmarks.device_figures', f'--out={out}', '--scale=small'],
      cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
  assert done.returncode == 0, done.stdout + done.stderr[-3000:] + (out / 'log.txt').read_text()
  figures = [json.loads(line) for line in (out / 'figures.jsonl').read_text().splitlines()]
  by_step = {f['step'] for f in figures}
  # Every step reported (stream_demos: the collection's summary).
  assert by_step == set(device_figures.STEPS), by_step
  assert all('cpu' in f['device'].lower() for f in figures)
  members = [f for f in figures if f['step'] == 'members_64']
  assert members[0]['num_seeds'] == 3 and members[0]['fused_member_updates_per_s'] > 0
  assert any(f['step'] == 'env_steps' and f['num_envs'] == 8 and f['env_steps_per_s'] > 0
             for f in figures)
  report = (out / 'figures.md').read_text()
  assert all(f'## {step}' in report for step in device_figures.STEPS)
