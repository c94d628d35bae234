"""Training data streamed from disk with grain, for datasets larger than host memory.

`convert` turns the training episodes (RLDS, read one episode at a time) into a flat file
of transitions in ArrayRecord, grain's random-access format, once: one record per step
holding only that step's newest image frame, so stacked frames are never stored twice.
`Stream` reads it back: a global shuffle (reshuffled every epoch), this process's share of
every batch, frame stacks and observation histories rebuilt by index arithmetic inside the
episode (clamped at its first step, as the frame-stack wrapper does at reset), action
chunks gathered from a memory-mapped copy of the actions (clamped at the episode's last
step and masked, as data/windows.py does for the device dataset), batches of
`steps_per_call` updates read ahead on threads (one batched read per chunk) and placed on
the devices ahead. Its position is grain's iterator state, which goes into each checkpoint
so a resumed run draws the same batches.

The conversion also computes what training needs before it starts and could not get without
a pass over the data: normalisation moments, task counts, an example observation.
"""

import glob
import json
import os
import pickle
import queue
import threading
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from array_record.python import array_record_module
import grain
import jax
import numpy as np

from imitation import config_rules as rules
from imitation import atomic
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import windows
from imitation.envs.base import STATIC_OBSERVATION_KEYS
from imitation.errors import DatasetError

META_FILE = 'streaming.json'
FORMAT_VERSION = 2  # 2: records know their episode's last step; actions.npy
_RECORD_FILE = 'transitions-{:05d}.array_record'
ACTIONS_FILE = 'actions.npy'  # every record's action, in record order: chunks read from it


def convert(episodes: Iterable[Mapping[str, Any]], directory: str, *, frame_stack: int,
            action_key: str = 'action', source: Optional[Mapping[str, Any]] = None,
            records_per_file: int = 100_000) -> Dict[str, Any]:
  """Writes the non-final steps of `episodes` as transition records; returns the metadata.

  Args:
    episodes: RLDS episodes as numpy dicts, in training order (read lazily).
    directory: where the record files and `streaming.json` go (written last: a directory
      without it is an unfinished conversion).
    frame_stack: how many frames each `image` observation stacks (env.frame_stack); only
      the newest is stored.
    action_key: the step field that is the training target.
    source: what was converted (dataset paths, filters), kept in the metadata so a changed
      config is not served a stale conversion (`matches`).
    records_per_file: records per ArrayRecord file.
  """
  os.makedirs(directory, exist_ok=True)
  for stale in glob.glob(os.path.join(directory, '*.array_record')):
    os.remove(stale)
  writer, files = None, []
  accumulators: Dict[str, list] = {}
  task_counts: Dict[int, int] = {}
  num_records = num_episodes = successes = 0
  example = None
  all_actions = []  # small next to the observations; saved whole for chunk gathers
  for episode in episodes:
    steps = episode['steps']
    keep = episodes_lib.real_actions(steps)
    length = int(keep.sum())
    if not length:
      continue
    observation = {k: np.asarray(v)[keep] for k, v in steps['observation'].items()}
    if frame_stack > 1 and 'image' in observation:
      observation['image'] = episodes_lib.newest_frames(observation['image'], frame_stack)
    if action_key not in steps:
      raise DatasetError(f'steps have no {action_key!r} field; fields: {sorted(steps)}')
    actions = np.asarray(steps[action_key], np.float32)[keep]
    metadata = episode.get('episode_metadata', {})
    task_id = int(metadata.get('task_id', 0))
    task_counts[task_id] = task_counts.get(task_id, 0) + length
    successes += bool(metadata.get('success', False))
    _accumulate(accumulators, observation, actions)
    all_actions.append(actions)
    first, last = num_records, num_records + length - 1
    for t in range(length):
      if writer is None or num_records % records_per_file == 0:
        if writer is not None:
          writer.close()
        files.append(_RECORD_FILE.format(len(files)))
        writer = array_record_module.ArrayRecordWriter(
            os.path.join(directory, files[-1]), 'group_size:1')
      record = {'observation': {k: v[t] for k, v in observation.items()},
                'action': actions[t], 'task_id': np.int32(task_id), 'first': first,
                'last': last}
      if example is None:
        example = record
      writer.write(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
      num_records += 1
    num_episodes += 1
  if writer is not None:
    writer.close()
  if not num_records:
    raise DatasetError('no transitions to stream: the data filters kept no episode steps')
  np.save(os.path.join(directory, ACTIONS_FILE), np.concatenate(all_actions))
  meta = {
      'format_version': FORMAT_VERSION,
      'files': files,
      'num_transitions': num_records,
      'num_demos': num_episodes,
      'demo_success_rate': successes / num_episodes,
      'frame_stack': frame_stack,
      'action_size': int(np.shape(example['action'])[-1]),
      'task_counts': {str(k): v for k, v in sorted(task_counts.items())},
      'moments': {k: _finish(v).tolist() for k, v in accumulators.items()},
      'example': {k: [list(np.shape(v)), str(np.asarray(v).dtype)]
                  for k, v in example['observation'].items()},
      'source': dict(source or {}),
  }
  atomic.write_json(os.path.join(directory, META_FILE), meta)  # last: marks it finished
  return meta


def _accumulate(accumulators: Dict[str, list], observation: Mapping[str, np.ndarray],
                actions: np.ndarray) -> None:
  """Adds one episode's float observations and actions to running moments (Chan et al.)."""
  parts = {'action': actions, **{f'observation/{k}': v for k, v in observation.items()
                                 if np.issubdtype(v.dtype, np.floating)}}
  for key, values in parts.items():
    moments = normalization_lib.moments({'observation': {}, 'action': values})['action']
    accumulators.setdefault(key, []).append(moments)
    if len(accumulators[key]) > 64:  # keep memory flat on long datasets
      accumulators[key] = [normalization_lib.merge_moments(np.stack(accumulators[key]))]


def _finish(parts: list) -> np.ndarray:
  return normalization_lib.merge_moments(np.stack(parts))


def source_of(config: Any, path: str) -> Dict[str, Any]:
  """What a conversion of `path` under `config` depends on: the datasets, split, target
  field, data filters and frame stack (`matches` compares it)."""
  data = config.data
  return {'path': path, 'split': data.split, 'action_key': data.action_key,
          'max_episodes': data.max_episodes, 'only_successful': data.only_successful,
          'min_return': data.min_return, 'frame_stack': config.env.frame_stack,
          'format': data.get('format', 'imitation'),
          'fields': json.loads(json.dumps(dict(data.get('fields') or {}), default=list)),
          'task_names': list(data.get('task_names', ())),
          'filter': json.loads(json.dumps(dict(data.get('filter') or {}), default=list))}


def read_meta(directory: str) -> Optional[Dict[str, Any]]:
  """The metadata of a finished conversion in `directory`, or None."""
  path = os.path.join(directory, META_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def matches(meta: Optional[Mapping[str, Any]], source: Mapping[str, Any]) -> bool:
  """Whether a conversion was made from `source` in this format (so it can be reused)."""
  return (meta is not None and meta.get('format_version') == FORMAT_VERSION
          and meta.get('source') == json.loads(json.dumps(dict(source))))


def normalization_moments(meta: Mapping[str, Any]) -> Dict[str, np.ndarray]:
  """The dataset's moments (see `normalization.moments`), as the conversion computed them."""
  return {k: np.asarray(v, np.float64) for k, v in meta['moments'].items()}


def example_batch(meta: Mapping[str, Any]) -> Dict[str, Any]:
  """A batch of one all-zero transition shaped as the stream's (stacked frames included)."""
  observation = {}
  for key, (shape, dtype) in meta['example'].items():
    shape = list(shape)
    if key == 'image':
      shape[-1] *= meta['frame_stack']
    observation[key] = np.zeros([1] + shape, dtype)
  return {'observation': observation,
          'action': np.zeros((1, meta['action_size']), np.float32)}


def task_ids(meta: Mapping[str, Any]) -> np.ndarray:
  """One task id per transition, in no particular order (for per-task counts)."""
  return np.concatenate([np.full(n, int(k), np.int32) for k, n in meta['task_counts'].items()])


class TransitionSource:
  """Random access to transitions; index i rebuilds step i's frame stack from its episode's
  records i - k + 1 .. i (clamped at the episode's first step). `read_batch` reads many at
  once (ArrayRecord's batched read: one call per file, not one per record).

  With `horizon` > 1 a transition's action is its chunk [H, A] of the episode's next
  actions (the last one repeated past the episode's end, `chunk_mask` False there); with
  `history` > 1 its observations (but the static keys) are [n, ...], the n up to it, the
  first repeated before the episode's start: what `DeviceDataset.sample` gathers.
  """

  def __init__(self, directory: str, meta: Mapping[str, Any], *, horizon: int = 1,
               history: int = 1):
    # One reader per file, shared by grain's threads (reads are positional and thread-safe);
    # readahead off, as for random access.
    self._readers = [array_record_module.ArrayRecordReader(
        os.path.join(directory, name), 'readahead_buffer_size:0', file_reader_buffer_size=32768)
                     for name in meta['files']]
    self._starts = np.cumsum([0] + [r.num_records() for r in self._readers])
    self._frame_stack = meta['frame_stack']
    self._length = meta['num_transitions']
    self._horizon, self._history = horizon, history
    if self._starts[-1] != self._length:
      raise DatasetError(f'{directory} holds {self._starts[-1]} records, its metadata says '
                         f'{self._length}: an unfinished or damaged conversion')
    self._actions = None
    if horizon > 1:
      self._actions = np.load(os.path.join(directory, ACTIONS_FILE), mmap_mode='r')

  def __len__(self) -> int:
    return self._length

  def _read(self, indices) -> list:
    """The records `indices`, one batched read per file they fall in."""
    indices = np.asarray(indices, np.int64)
    files = np.searchsorted(self._starts, indices, side='right') - 1
    records = [None] * len(indices)
    for f in np.unique(files):
      rows = np.flatnonzero(files == f)
      for row, data in zip(rows, self._readers[f].read((indices[rows] - self._starts[f]).tolist())):
        records[row] = pickle.loads(data)
    return records

  def _record(self, index: int) -> Dict[str, Any]:
    return self._read([index])[0]

  def __getitem__(self, index: int) -> Dict[str, Any]:
    return jax.tree.map(lambda x: x[0], self.read_batch(np.asarray([index])))

  def _observations(self, indices: np.ndarray, records: list) -> Dict[str, np.ndarray]:
    """The observations of `records` (read at `indices`), frame stacks rebuilt."""
    observation = {k: np.stack([r['observation'][k] for r in records])
                   for k in records[0]['observation']}
    if self._frame_stack > 1 and 'image' in observation:
      firsts = np.asarray([r['first'] for r in records])
      backs = np.arange(self._frame_stack - 1, 0, -1)  # oldest earlier frame first
      earlier = np.maximum(np.asarray(indices)[:, None] - backs[None], firsts[:, None])
      frames = np.stack([r['observation']['image'] for r in self._read(earlier.ravel())])
      frames = frames.reshape(earlier.shape + frames.shape[1:])  # [batch, k - 1, H, W, C]
      observation['image'] = np.concatenate(
          [frames[:, j] for j in range(len(backs))] + [observation['image']], axis=-1)
    return observation

  def read_batch(self, indices: np.ndarray) -> Dict[str, Any]:
    """{'observation': {...}, 'action': ...} of the transitions `indices`, stacked (with
    `chunk_mask` for chunks)."""
    indices = np.asarray(indices, np.int64)
    records = self._read(indices)
    if self._history > 1:  # read once: the window's last step is the transition itself
      firsts = np.asarray([r['first'] for r in records])
      past = np.maximum(indices[:, None] + np.arange(-self._history + 1, 1)[None],
                        firsts[:, None])
      flat = past.ravel()
      windowed = {k: v.reshape(past.shape + v.shape[1:])
                  for k, v in self._observations(flat, self._read(flat)).items()}
      observation = {k: v[:, -1] if k in STATIC_OBSERVATION_KEYS else v
                     for k, v in windowed.items()}
    else:
      observation = self._observations(indices, records)
    batch = {'observation': observation, 'action': np.stack([r['action'] for r in records])}
    if self._horizon > 1:
      lasts = np.asarray([r['last'] for r in records])
      future = indices[:, None] + np.arange(self._horizon)[None]
      batch[windows.CHUNK_MASK] = future <= lasts[:, None]
      batch['action'] = np.asarray(self._actions[np.minimum(future, lasts[:, None])])
    return batch


class Stream:
  """Batches of `steps_per_call` updates for the streaming update chunk, placed on the mesh.

  Every process draws from the same global shuffle (seed `seed`) and reads only its share
  of each batch (`batch_size / process_count` rows), which `next_chunk` assembles into
  global arrays [steps_per_call, batch_size, ...] split over the mesh's data axis.
  """

  def __init__(self, directory: str, meta: Mapping[str, Any], *, seed: int, batch_size: int,
               steps_per_call: int, sharding: jax.sharding.NamedSharding, num_threads: int = 4,
               prefetch: int = 4, device_prefetch: int = 2, horizon: int = 1,
               history: int = 1):
    processes = jax.process_count()
    if batch_size % processes:
      raise DatasetError(f'batch size {batch_size} is not divisible by {processes} processes')
    self._rows = (steps_per_call, batch_size // processes)
    self._global_rows = (steps_per_call, batch_size)
    self._sharding = sharding
    self._device_prefetch = device_prefetch
    source = TransitionSource(directory, meta, horizon=horizon, history=history)
    indices = grain.MapDataset.range(len(source)).shuffle(seed=seed)
    indices = indices[jax.process_index()::processes].repeat(None)
    # One element per chunk: this process's rows of `steps_per_call` updates, read in one
    # batched call per file (a call costs ~5 ms however few records it reads).
    self._dataset = indices.batch(int(np.prod(self._rows)), drop_remainder=True).map(
        source.read_batch)
    self._read_options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
    self._iterator = None
    self._start_state: Optional[Dict[str, Any]] = None

  def set_state(self, state: Optional[Mapping[str, Any]]) -> None:
    """Continue from `state` (grain's iterator state, from a checkpoint)."""
    self.close()
    self._start_state = dict(state) if state is not None else None

  def _host_batches(self) -> Iterator[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(one chunk's rows, the iterator state after it: where a resume starts)."""
    iterator = iter(self._dataset.to_iter_dataset(self._read_options))
    if self._start_state is not None:
      iterator.set_state(self._start_state)
    while True:
      yield next(iterator), iterator.get_state()

  def _to_device(self, rows):
    def put(x):
      local = x.reshape(self._rows + x.shape[1:])  # [steps_per_call, batch rows, ...]
      return jax.make_array_from_process_local_data(
          self._sharding, local, self._global_rows + x.shape[1:])
    return jax.tree.map(put, rows)

  def next_chunk(self) -> Tuple[Dict[str, jax.Array], Dict[str, Any]]:
    """(batches on the devices, the iterator state once they are consumed)."""
    if self._iterator is None:
      self._iterator = _Prefetch(self._host_batches(), self._to_device, self._device_prefetch)
    return next(self._iterator)

  def close(self) -> None:
    if self._iterator is not None:
      self._iterator.close()
      self._iterator = None


class _Prefetch:
  """Runs `place(batch)` for the next `depth` host batches on a thread, ahead of the loop."""

  def __init__(self, batches: Iterator, place, depth: int):
    self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    self._stop = threading.Event()

    def work():
      try:
        for batch, state in batches:
          item = (place(batch), state)
          while not self._stop.is_set():
            try:
              self._queue.put(item, timeout=0.1)
              break
            except queue.Full:
              continue
          if self._stop.is_set():
            return
      except Exception as e:  # pylint: disable=broad-except
        self._queue.put(e)

    self._thread = threading.Thread(target=work, daemon=True)
    self._thread.start()

  def __next__(self):
    item = self._queue.get()
    if isinstance(item, Exception):
      raise item
    return item

  def close(self) -> None:
    self._stop.set()
    self._thread.join(timeout=10)


CONFIG_RULES = {
    'data.streaming.num_threads': rules.positive_int(),
    'data.streaming.prefetch': rules.positive_int(),
    'data.streaming.device_prefetch': rules.positive_int(),
}
