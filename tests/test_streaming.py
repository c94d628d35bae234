"""Streaming input (grain over ArrayRecord): frame stacks by index arithmetic, statistics from
the conversion, whole epochs, and a preempted run that resumes on the same batches."""

import json
import os

import jax
import numpy as np
import pytest

from imitation.agents import bc
from imitation.data import normalization
from imitation.data import streaming
from imitation.data import transitions as transitions_lib
from imitation.data import windows as windows_lib
from imitation.networks import policy as policy_lib
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import sharding

FRAMES = 3


def _episode(rng, length, task_id):
  """An episode whose `image` stacks the last FRAMES frames as the frame-stack wrapper does
  (the first frame repeated at the start), plus a float state."""
  frames = rng.integers(0, 255, size=(length + 1, 4, 4, 2), dtype=np.uint8)
  stacked = np.stack([np.concatenate([frames[max(t - back, 0)] for back in range(FRAMES - 1, -1, -1)],
                                     axis=-1) for t in range(length + 1)])
  is_last = np.zeros(length + 1, bool)
  is_last[-1] = True
  return {'steps': {'observation': {'image': stacked,
                                    'state': rng.normal(size=(length + 1, 3)).astype(np.float32)},
                    'action': rng.normal(size=(length + 1, 2)).astype(np.float32),
                    'is_last': is_last},
          'episode_metadata': {'task_id': task_id, 'success': True}}


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  rng = np.random.default_rng(0)
  episodes = [_episode(rng, length, task_id)
              for length, task_id in ((5, 0), (1, 1), (7, 0), (4, 2))]
  directory = str(tmp_path_factory.mktemp('stream'))
  meta = streaming.convert(iter(episodes), directory, frame_stack=FRAMES, records_per_file=6)
  return episodes, directory, meta


def test_conversion_stores_one_frame_per_step_and_rebuilds_the_stacks(converted):
  episodes, directory, meta = converted
  whole = transitions_lib.episodes_to_transitions(episodes)
  assert meta['num_transitions'] == len(whole['action']) == 17
  assert len(meta['files']) == 3  # 6 records a file
  source = streaming.TransitionSource(directory, meta)
  assert len(source) == 17
  for i in range(len(source)):
    item = source[i]
    np.testing.assert_array_equal(item['observation']['image'], whole['observation']['image'][i])
    np.testing.assert_array_equal(item['observation']['state'], whole['observation']['state'][i])
    np.testing.assert_array_equal(item['action'], whole['action'][i])
  assert source._record(3)['observation']['image'].shape == (4, 4, 2)  # one frame stored


def test_chunks_and_histories_are_the_windows_the_device_dataset_gathers(converted):
  episodes, directory, meta = converted
  whole = transitions_lib.episodes_to_transitions(episodes)
  expected = windows_lib.window_indices(whole['episode_index'], 3, 2)
  source = streaming.TransitionSource(directory, meta, horizon=3, history=2)
  batch = source.read_batch(np.arange(len(source)))
  np.testing.assert_array_equal(batch['action'], whole['action'][expected['future_index']])
  np.testing.assert_array_equal(batch['chunk_mask'], expected['chunk_mask'])
  assert not batch['chunk_mask'][len(source) - 1, 1:].any()  # past the last episode's end
  for key in ('image', 'state'):  # every history frame keeps its own frame stack
    np.testing.assert_array_equal(batch['observation'][key],
                                  whole['observation'][key][expected['past_index']])


def test_conversion_computes_the_training_statistics(converted):
  episodes, _, meta = converted
  whole = transitions_lib.episodes_to_transitions(episodes)
  for key, value in normalization.moments(whole).items():
    np.testing.assert_allclose(streaming.normalization_moments(meta)[key], value, rtol=1e-9)
  assert sorted(streaming.task_ids(meta).tolist()) == sorted(whole['task_id'].tolist())
  example = streaming.example_batch(meta)
  assert example['observation']['image'].shape == (1, 4, 4, 2 * FRAMES)
  assert example['observation']['image'].dtype == np.uint8
  assert example['action'].shape == (1, 2)
  assert streaming.matches(meta, {}) and not streaming.matches(meta, {'path': 'other'})


def test_stream_visits_every_transition_once_per_epoch_and_resumes_from_its_state(converted):
  _, directory, meta = converted
  mesh = sharding.make_mesh(1)

  def make():
    return streaming.Stream(directory, meta, seed=3, batch_size=4, steps_per_call=2,
                            sharding=sharding.steps_batch_sharded(mesh), num_threads=2)

  stream = make()
  chunks = [stream.next_chunk() for _ in range(4)]  # 4 chunks x 2 updates x 4 rows = 32 rows
  stream.close()
  actions = np.concatenate([np.asarray(c['action']).reshape(-1, 2) for c, _ in chunks])
  first_epoch = {tuple(a) for a in actions[:16]}
  assert len(first_epoch) == 16  # 16 distinct transitions of the 17 in the first 16 draws
  assert np.asarray(chunks[0][0]['observation']['image']).shape == (2, 4, 4, 4, 2 * FRAMES)
  resumed = make()
  resumed.set_state(chunks[1][1])  # the position after chunk 1
  chunk, _ = resumed.next_chunk()
  resumed.close()
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(chunk),
               jax.device_get(chunks[2][0]))


def _stream_config(debug_config, demos_path):
  config = debug_config.copy_and_resolve_references()
  config.data.path = demos_path
  config.data.pipeline = 'stream'
  config.data.streaming.num_threads = 2
  return config


@pytest.mark.slow
def test_preempted_streaming_run_resumes_mid_epoch_and_ends_like_an_uninterrupted_one(
    tmp_path, debug_config, demos_path):
  config = _stream_config(debug_config, demos_path)
  uninterrupted = bc.train(config, str(tmp_path / 'uninterrupted'))
  assert uninterrupted['num_transitions'] > 0
  rows_per_checkpoint = config.train.checkpoint_every * config.train.batch_size
  assert rows_per_checkpoint % uninterrupted['num_transitions']  # resumes mid-epoch
  workdir = str(tmp_path / 'preempted')
  stop = config.train.checkpoint_every + config.train.steps_per_call
  assert bc.train(config, workdir, stop_at_step=stop) == {}
  resumed = bc.train(config, workdir)
  assert resumed['resumed_from_step'] == config.train.checkpoint_every
  for key in ('steps', 'success_rate', 'mean_return', 'closed_loop_action_mse',
              'heldout_action_mse'):
    assert resumed[key] == uninterrupted[key], key

  def losses(workdir):
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      return [(r['step'], r['train/loss']) for r in map(json.loads, f) if 'train/loss' in r]

  assert losses(workdir) == losses(str(tmp_path / 'uninterrupted'))
  checkpointer = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  assert checkpointer.restore_data_state() is not None  # the position travels with the state
  checkpointer.close()


def test_pipeline_and_layout_settings_are_checked(tmp_path, debug_config, demos_path):
  from imitation.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from imitation import validation  # pylint: disable=g-import-not-at-top
  from imitation.training import inputs as inputs_lib  # pylint: disable=g-import-not-at-top
  from imitation.training import run as run_lib  # pylint: disable=g-import-not-at-top
  config = _stream_config(debug_config, demos_path)
  config.data.pipeline = 'disk'
  assert validation.problems(config) == [
      "data.pipeline='disk': expected one of device, stream"]
  config.data.layout = 'striped'
  assert "data.layout='striped': expected one of auto, sharded, replicated" in (
      validation.problems(config))
  config = _stream_config(debug_config, demos_path)
  config.data.task_mixture = 'uniform'
  with pytest.raises(ConfigError, match='needs data.pipeline=device'):
    inputs_lib.stream(run_lib.Run(config, str(tmp_path / 'c')), demos_path,
                      policy_lib.Windows())
