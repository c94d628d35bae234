"""LeRobotDataset v3.0 (the LeRobot hub's format), read and written without LeRobot itself.

`data.format=lerobot` with `data.path` the dataset's root (the folder holding `meta/`).
The layout, as LeRobot 0.4 writes it (lerobot/datasets/utils.py):

  meta/info.json      codebase_version "v3.0", fps, robot_type, features {KEY: {dtype,
                      shape, names, info}}, splits {"train": "0:N"}, data_path and
                      video_path templates, totals
  meta/stats.json     per feature: min, max, mean, std, count, q01 ... q99 (cameras per
                      channel in [0, 1], shape [3, 1, 1])
  meta/tasks.parquet  the task strings (the index) and their task_index
  meta/episodes/chunk-C/file-F.parquet  one row per episode: episode_index, tasks, length,
                      data/{chunk,file}_index, dataset_{from,to}_index,
                      videos/KEY/{chunk_index, file_index, from_timestamp, to_timestamp},
                      stats/KEY/...
  data/chunk-C/file-F.parquet  one row per frame: every non-video feature (images as PNG
                      bytes), timestamp, frame_index, episode_index, index, task_index
  videos/KEY/chunk-C/file-F.mp4  one camera's episodes, one after another

An episode read comes out with one step per frame (every action real) and observation
keys without their `observation.` prefix (`state`, `images.front`, `environment_state`):
`data.fields.image=images.front` names the camera. Data files are read by row group (an
episode's rows), video frames decoded by PyAV between the episode's timestamps, and only
for the camera the run reads. The task is the frame's `task_index` (the dataset's own
table), or its string mapped through `data.task_names` where they are given.

v2.x datasets (meta/episodes.jsonl, one file per episode) are refused with LeRobot's own
conversion command.
"""

import fractions
import io
import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from imitation import atomic
from imitation import config_rules as rules
from imitation.data import episodes as episodes_lib
from imitation.errors import DatasetError

CODEBASE_VERSION = 'v3.0'
INFO_PATH = os.path.join('meta', 'info.json')
STATS_PATH = os.path.join('meta', 'stats.json')
TASKS_PATH = os.path.join('meta', 'tasks.parquet')
EPISODES_PATH = os.path.join('meta', 'episodes', 'chunk-000', 'file-000.parquet')
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
VIDEO_PATH = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
OBSERVATION = 'observation.'
STATE, ACTION, EXPERT_ACTION = 'observation.state', 'action', 'expert_action'
REWARD, DONE, SUCCESS = 'next.reward', 'next.done', 'next.success'
CAMERA = 'observation.images.front'  # where our writer puts the env's camera
# The columns LeRobot adds to every frame (lerobot.datasets.utils.DEFAULT_FEATURES).
FRAME_COLUMNS = ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index')
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)  # LeRobot's stats.json quantiles, q01 ... q99
SPLIT, ALL = 'train', 'all'
# LeRobot's writer's defaults and codecs (lerobot.datasets.video_utils.encode_video_frames).
VIDEO_CODEC, PIXEL_FORMAT, GOP, CRF = 'libsvtav1', 'yuv420p', 2, 30
VIDEO_CODECS = ('libsvtav1', 'h264', 'hevc')
# yuv444p keeps full colour resolution (h264 and hevc only): at 32x32 pixels the 4:2:0
# default smears objects a few pixels wide (docs/data.md, "LeRobot").
PIXEL_FORMATS = ('yuv420p', 'yuv444p')
# SVT-AV1 prints its settings per video at level info; errors only, unless the user says.
SVT_LOG_LEVEL = '1'
CONVERT_COMMAND = 'python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=REPO'


def _modules():
  """pyarrow and PyAV, imported only where a LeRobot dataset is read or written."""
  try:
    import av  # pylint: disable=g-import-not-at-top
    import pyarrow  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    raise DatasetError(f'data.format=lerobot needs pyarrow and PyAV: pip install pyarrow av '
                       f'({e})') from e
  return pyarrow, av


def read_info(root: str) -> Dict[str, Any]:
  """meta/info.json of the dataset at `root`, refused unless it is LeRobot v3."""
  path = os.path.join(root, INFO_PATH)
  if not os.path.exists(path):
    raise DatasetError(f'no LeRobot dataset at {root} (no {INFO_PATH}); data.path is the '
                       "dataset's root, the folder holding meta/, data/ and videos/")
  with open(path) as f:
    try:
      info = json.load(f)
    except ValueError as e:
      raise DatasetError(f'{path} is not JSON: {e}') from e
  version = str(info.get('codebase_version', ''))
  if version.startswith('v2') or version.startswith('v1'):
    raise DatasetError(f'{root} is a LeRobot {version} dataset; this reader takes v3.0. '
                       f'Convert it with LeRobot: {CONVERT_COMMAND} (or --root=DIR)')
  if version != CODEBASE_VERSION:
    raise DatasetError(f'{root}: codebase_version {version!r} in {INFO_PATH}; this reader '
                       f'takes {CODEBASE_VERSION}')
  return info


def _split_range(info: Mapping[str, Any], split: str, root: str) -> Optional[range]:
  """The episode indices of `split` ("train": "0:N" in info.json), None for all."""
  splits = info.get('splits') or {}
  if split == ALL or (split == SPLIT and SPLIT not in splits):
    return None
  if split not in splits:
    raise DatasetError(f'{root}: no split {split!r} in {INFO_PATH} (it has {sorted(splits)}; '
                       f'{ALL!r} reads every episode)')
  start, stop = (int(x) for x in str(splits[split]).split(':'))
  return range(start, stop)


def _column(table: Any, name: str) -> np.ndarray:
  """A parquet column as numpy: scalars [N], fixed or variable lists [N, D]."""
  pyarrow = _modules()[0]
  column = table.column(name).combine_chunks()
  if pyarrow.types.is_list(column.type) or pyarrow.types.is_fixed_size_list(column.type):
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)
  return column.to_numpy(zero_copy_only=False)


def _episode_table(root: str) -> Any:
  """Every row of meta/episodes/*/*.parquet (stats columns left out), in episode order."""
  pyarrow = _modules()[0]
  directory = os.path.join(root, 'meta', 'episodes')
  files = sorted(os.path.join(d, f) for d, _, names in os.walk(directory)
                 for f in names if f.endswith('.parquet'))
  if not files:
    raise DatasetError(f'{root}: no meta/episodes/*/*.parquet; a LeRobot v3 dataset lists '
                       'its episodes there')
  tables = []
  for path in files:
    schema = pyarrow.parquet.read_schema(path)
    wanted = [n for n in schema.names if not n.startswith('stats/')]
    tables.append(pyarrow.parquet.read_table(path, columns=wanted))
  table = pyarrow.concat_tables(tables)
  return table.sort_by('episode_index')


def _tasks(root: str) -> Dict[int, str]:
  """task_index -> task string, from meta/tasks.parquet (its index holds the strings)."""
  pyarrow = _modules()[0]
  path = os.path.join(root, TASKS_PATH)
  if not os.path.exists(path):
    return {}
  table = pyarrow.parquet.read_table(path)
  names = [n for n in table.column_names if n != 'task_index']
  if 'task_index' not in table.column_names or not names:
    raise DatasetError(f'{path}: expected task strings and a task_index column, found '
                       f'{table.column_names}')
  return dict(zip(table.column('task_index').to_pylist(), table.column(names[0]).to_pylist()))


class _DataFiles:
  """The data parquet files, one open at a time, read one episode's row groups at a time."""

  def __init__(self, root: str, template: str, columns: Sequence[str]):
    self._root, self._template, self._columns = root, template, list(columns)
    self._path, self._file, self._starts = None, None, None

  def rows(self, chunk: int, index: int, first: int, stop: int, file_first: int) -> Any:
    """Rows [first, stop) of the dataset (global frame indices) from file (chunk, index),
    whose first row is frame `file_first`."""
    pyarrow = _modules()[0]
    path = os.path.join(self._root, self._template.format(chunk_index=chunk, file_index=index))
    if path != self._path:
      if not os.path.exists(path):
        raise DatasetError(f'{path}: missing; meta/episodes names it')
      self._path, self._file = path, pyarrow.parquet.ParquetFile(path)
      sizes = [self._file.metadata.row_group(i).num_rows
               for i in range(self._file.num_row_groups)]
      self._starts = np.cumsum([0] + sizes)
    lo, hi = first - file_first, stop - file_first
    groups = [g for g in range(len(self._starts) - 1)
              if self._starts[g] < hi and self._starts[g + 1] > lo]
    table = self._file.read_row_groups(groups, columns=self._columns)
    offset = self._starts[groups[0]] if groups else 0
    return table.slice(lo - offset, hi - lo)


class VideoFrames:
  """One episode's frames of one camera, decoded by PyAV only when read (np.asarray):
  a run that does not read this camera never decodes it."""

  def __init__(self, path: str, start: float, length: int, fps: float, shape: Sequence[int]):
    self.path, self.start, self.length, self.fps = path, start, length, fps
    self.stop = start + length / fps
    self.shape = (length, *shape)
    self.dtype = np.dtype(np.uint8)
    self.ndim = len(self.shape)

  def __len__(self) -> int:
    return self.length

  def __array__(self, dtype=None, copy=None):
    del copy
    frames = decode_frames(self.path, self.start, self.stop, self.fps)
    if len(frames) != self.length:
      raise DatasetError(f'{self.path}: {len(frames)} frames between {self.start:.3f} s and '
                         f'{self.stop:.3f} s, the episode has {self.length}')
    return frames if dtype is None else frames.astype(dtype)


def decode_frames(path: str, start: float, stop: float, fps: float) -> np.ndarray:
  """The RGB frames [N, H, W, 3] uint8 of the video at `path` timed in [start, stop)
  (within half a frame), decoded from the key frame before `start`."""
  av = _modules()[1]
  tolerance = 0.5 / fps
  frames = []
  with av.open(path) as container:
    stream = container.streams.video[0]
    if start > tolerance:
      container.seek(int((start - tolerance) / stream.time_base), stream=stream,
                     backward=True)
    for frame in container.decode(stream):
      if frame.time < start - tolerance:
        continue
      if frame.time >= stop - tolerance:
        break
      frames.append(frame.to_ndarray(format='rgb24'))
  if not frames:
    return np.zeros((0, 0, 0, 3), np.uint8)
  return np.stack(frames)


def _images(column: Any) -> np.ndarray:
  """An `image` feature's column (HF datasets' {bytes, path} structs of PNGs) as
  [N, H, W, C] uint8."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images = []
  for item in column.to_pylist():
    with Image.open(io.BytesIO(item['bytes'])) as image:
      images.append(np.asarray(image.convert('RGB')))
  return np.stack(images)


def iterate_episodes(path: str, split: str = SPLIT
                     ) -> Tuple[Iterator[episodes_lib.Episode], Dict[str, Any]]:
  """The episodes of `split` (info.json's splits; `train` without one, or `all`: every
  episode) in episode order, and the dataset's metadata (env_name: its robot_type)."""
  root = path
  info = read_info(root)
  wanted = _split_range(info, split, root)
  features = info.get('features') or {}
  fps = float(info['fps'])
  episode_rows = _episode_table(root)
  tasks = _tasks(root)
  videos = [k for k, v in features.items() if v.get('dtype') == 'video']
  columns = [k for k, v in features.items() if v.get('dtype') != 'video']
  data_files = _DataFiles(root, info.get('data_path', DATA_PATH), columns)
  episodes_meta = episode_rows.to_pylist()
  file_firsts = {}  # (chunk, file) -> its first frame: episodes are contiguous in a file
  for row in episodes_meta:
    key = (row['data/chunk_index'], row['data/file_index'])
    file_firsts[key] = min(file_firsts.get(key, row['dataset_from_index']),
                           row['dataset_from_index'])
  metadata = {'fps': fps, 'codebase_version': info['codebase_version']}
  if info.get('robot_type'):
    metadata['env_name'] = info['robot_type']

  def read(row):
    first, stop = row['dataset_from_index'], row['dataset_to_index']
    key = (row['data/chunk_index'], row['data/file_index'])
    table = data_files.rows(*key, first, stop, file_firsts[key])
    index = _column(table, 'episode_index')
    if len(index) != stop - first or np.any(index != row['episode_index']):
      raise DatasetError(f'{root}: the rows of episode {row["episode_index"]} in '
                         f'{DATA_PATH.format(chunk_index=key[0], file_index=key[1])} are not '
                         'the frames meta/episodes gives it')
    observation, steps = {}, {}
    for name in columns:
      if name in FRAME_COLUMNS and name != 'task_index':
        continue
      dtype = features[name].get('dtype')
      value = _images(table.column(name)) if dtype == 'image' else _column(table, name)
      if name.startswith(OBSERVATION):
        observation[name[len(OBSERVATION):]] = value
      else:
        steps[name] = value
    for name in videos:
      video_path = os.path.join(root, info['video_path'].format(
          video_key=name, chunk_index=row[f'videos/{name}/chunk_index'],
          file_index=row[f'videos/{name}/file_index']))
      shape = features[name]['shape']
      observation[name[len(OBSERVATION):]] = VideoFrames(
          video_path, row[f'videos/{name}/from_timestamp'], stop - first, fps, shape)
    steps['observation'] = observation
    if REWARD in steps:
      steps['reward'] = steps.pop(REWARD)
    if 'task_index' in steps:
      steps['task'] = np.asarray([tasks.get(int(i), '') for i in steps['task_index']],
                                 dtype=object)
    episode_metadata = {'demo': int(row['episode_index'])}
    if SUCCESS in steps:
      episode_metadata['success'] = bool(np.asarray(steps[SUCCESS]).reshape(-1)[-1])
    return {'steps': steps, 'episode_metadata': episode_metadata}

  def episodes():
    for row in episodes_meta:
      if wanted is None or row['episode_index'] in wanted:
        yield read(row)

  return episodes(), metadata


# Writing.

CONFIG_RULES = {'export.video': rules.boolean(), 'export.codec': rules.one_of(VIDEO_CODECS),
                'export.crf': rules.non_negative_int(), 'export.fps': rules.non_negative_int(),
                'export.pixel_format': rules.one_of(PIXEL_FORMATS)}


def _codec_problem(codec: str, pixel_format: str) -> Optional[str]:
  if codec == 'libsvtav1' and pixel_format != 'yuv420p':
    return (f"export.pixel_format={pixel_format!r}: expected 'yuv420p' with "
            "export.codec='libsvtav1' (SVT-AV1 encodes 4:2:0 only); h264 or hevc take yuv444p")
  return None


def config_problems(config: Any) -> List[str]:
  export = config.get('export')
  if not export or not export.get('video'):
    return []
  problem = _codec_problem(export.get('codec'), export.get('pixel_format'))
  return [problem] if problem else []


def _stats(values: np.ndarray, image: bool = False) -> Dict[str, Any]:
  """LeRobot's per-feature statistics of [N, ...] values: per dimension, or per channel in
  [0, 1] with shape [C, 1, 1] for a camera."""
  values = np.asarray(values, np.float64)
  if image:
    values = values.reshape(-1, values.shape[-1]) / 255.0
  else:
    values = values.reshape(len(values), -1)
  stats = {'min': values.min(0), 'max': values.max(0), 'mean': values.mean(0),
           'std': values.std(0), 'count': np.asarray([len(values)])}
  for q in QUANTILES:
    stats[f'q{int(round(q * 100)):02d}'] = np.quantile(values, q, axis=0)
  if image:
    stats = {k: v if k == 'count' else v.reshape(-1, 1, 1) for k, v in stats.items()}
  return stats


def _merge_stats(per_episode: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
  """Episodes' statistics pooled as LeRobot's `aggregate_stats` pools them (count-weighted
  means and variances; quantiles count-weighted too)."""
  counts = np.asarray([s['count'][0] for s in per_episode], np.float64)
  weights = counts / counts.sum()
  w = weights.reshape((-1,) + (1,) * per_episode[0]['mean'].ndim)
  means = np.stack([s['mean'] for s in per_episode])
  mean = (w * means).sum(0)
  variance = (w * (np.stack([s['std'] for s in per_episode]) ** 2
                   + (means - mean) ** 2)).sum(0)
  merged = {'min': np.min(np.stack([s['min'] for s in per_episode]), 0),
            'max': np.max(np.stack([s['max'] for s in per_episode]), 0),
            'mean': mean, 'std': np.sqrt(variance), 'count': np.asarray([int(counts.sum())])}
  for key in per_episode[0]:
    if key.startswith('q'):
      merged[key] = (w * np.stack([s[key] for s in per_episode])).sum(0)
  return merged


def _lists(stats: Mapping[str, Mapping[str, np.ndarray]]) -> Dict[str, Dict[str, list]]:
  return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


class _VideoWriter:
  """One camera's frames, every episode one after another, into one mp4 (LeRobot's codec
  settings by default)."""

  def __init__(self, path: str, fps: int, height: int, width: int, codec: str, crf: int,
               pixel_format: str):
    av = _modules()[1]
    os.environ.setdefault('SVT_LOG', SVT_LOG_LEVEL)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    self._container = av.open(path, mode='w')
    options = {'g': str(GOP), 'crf': str(crf)}  # LeRobot's settings for each codec
    if codec == 'libsvtav1':
      options['preset'] = '12'
    elif codec == 'hevc':
      options['x265-params'] = 'log-level=error'  # x265 prints its settings otherwise
    self._stream = self._container.add_stream(codec, rate=fps, options=options)
    self._stream.width, self._stream.height = width, height
    self._stream.pix_fmt = pixel_format
    self._stream.time_base = fractions.Fraction(1, fps)
    self._av, self.frames = av, 0

  def add(self, frames: np.ndarray) -> None:
    for frame in frames:
      video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format='rgb24')
      video_frame.pts = self.frames
      self.frames += 1
      for packet in self._stream.encode(video_frame):
        self._container.mux(packet)

  def close(self) -> None:
    for packet in self._stream.encode():
      self._container.mux(packet)
    self._container.close()


def _feature(dtype: str, shape: Sequence[int], names: Any = None) -> Dict[str, Any]:
  return {'dtype': dtype, 'shape': list(shape), 'names': names}


def _fixed_list(pyarrow, values: np.ndarray, dtype) -> Any:
  """[N, D] values as a fixed-size-list column (HF datasets' Sequence(length=D))."""
  values = np.ascontiguousarray(values, dtype)
  flat = pyarrow.array(values.reshape(-1))
  return pyarrow.FixedSizeListArray.from_arrays(flat, values.shape[1])


def _task_name(task_id: int, task_names: Sequence[str]) -> str:
  return task_names[task_id] if task_id < len(task_names) else f'task {task_id}'


def _png(image: np.ndarray) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  return buffer.getvalue()


def _episode_columns(episode: episodes_lib.Episode, frame_stack: int
                     ) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
  """An episode's LeRobot columns, one row per real action, and its camera's newest frames
  ([N, H, W, C] uint8, None without a camera)."""
  steps, metadata = episode['steps'], episode.get('episode_metadata', {})
  real = episodes_lib.real_actions(steps)
  length = int(real.sum())
  observation = steps['observation']
  columns: Dict[str, np.ndarray] = {}
  if 'state' in observation:
    columns[STATE] = np.asarray(observation['state'], np.float32)[real]
  columns[ACTION] = np.asarray(steps['action'], np.float32)[real]
  if EXPERT_ACTION in steps:
    columns[EXPERT_ACTION] = np.asarray(steps[EXPERT_ACTION], np.float32)[real]
  columns[REWARD] = np.asarray(steps['reward'], np.float32)[real]
  columns[DONE] = np.arange(length) == length - 1
  columns[SUCCESS] = columns[DONE] & bool(metadata.get('success', False))
  camera = None
  if 'image' in observation:
    camera = episodes_lib.newest_frames(np.asarray(observation['image'], np.uint8)[real],
                                        frame_stack)
  return columns, camera


def _features(columns: Mapping[str, np.ndarray], camera: Optional[np.ndarray],
              video: bool) -> Dict[str, Any]:
  """info.json's features for the first episode's columns and camera."""
  features = {}
  for name, value in columns.items():
    shape = value.shape[1:] or (1,)
    names = ([f'{name.split(".")[-1]}_{i}' for i in range(shape[0])]
             if len(shape) == 1 and shape[0] > 1 else None)
    features[name] = _feature('bool' if value.dtype == np.bool_ else 'float32', shape, names)
  if camera is not None:
    features[CAMERA] = _feature('video' if video else 'image', camera.shape[1:],
                                ['height', 'width', 'channels'])
  features.update({'timestamp': _feature('float32', (1,)),
                   **{name: _feature('int64', (1,)) for name in FRAME_COLUMNS[1:]}})
  return features


def _frame_table(pyarrow: Any, columns: Mapping[str, np.ndarray], png_frames: Any, *,
                 fps: int, episode_index: int, first_frame: int, task_index: int) -> Any:
  """One episode's rows of the data parquet file: its columns, PNG frames where the camera
  is not a video, and LeRobot's frame columns."""
  length = len(columns[ACTION])
  arrays = {name: pyarrow.array(value) if value.ndim == 1
            else _fixed_list(pyarrow, value, np.float32) for name, value in columns.items()}
  if png_frames is not None:
    arrays[CAMERA] = pyarrow.array(
        [{'bytes': _png(f), 'path': None} for f in png_frames],
        pyarrow.struct([('bytes', pyarrow.binary()), ('path', pyarrow.string())]))
  arrays['timestamp'] = pyarrow.array((np.arange(length) / fps).astype(np.float32))
  arrays['frame_index'] = pyarrow.array(np.arange(length, dtype=np.int64))
  arrays['episode_index'] = pyarrow.array(np.full(length, episode_index, np.int64))
  arrays['index'] = pyarrow.array(np.arange(first_frame, first_frame + length, dtype=np.int64))
  arrays['task_index'] = pyarrow.array(np.full(length, task_index, np.int64))
  return pyarrow.table(arrays)


def _write_meta(building: str, *, episode_rows: List[Dict[str, Any]],
                stats_per_episode: List[Dict[str, Dict[str, np.ndarray]]],
                features: Dict[str, Any], task_ids: Iterable[int], task_names: Sequence[str],
                fps: int, robot_type: str, frames: int, has_video: bool) -> None:
  """meta/: the episodes table, the tasks table, the pooled statistics and info.json."""
  pyarrow, _ = _modules()
  episodes_path = os.path.join(building, EPISODES_PATH)
  os.makedirs(os.path.dirname(episodes_path), exist_ok=True)
  pyarrow.parquet.write_table(pyarrow.Table.from_pylist(episode_rows), episodes_path)
  names = {i: _task_name(i, task_names) for i in range(max(task_ids) + 1)}
  import pandas  # pylint: disable=g-import-not-at-top
  # LeRobot's own table: the strings as the (unnamed) index, task_index the column.
  pandas.DataFrame({'task_index': sorted(names)},
                   index=[names[i] for i in sorted(names)]).to_parquet(
                       os.path.join(building, TASKS_PATH))
  pooled = {name: _merge_stats([s[name] for s in stats_per_episode])
            for name in stats_per_episode[0]}
  atomic.write_json(os.path.join(building, STATS_PATH), _lists(pooled))
  atomic.write_json(os.path.join(building, INFO_PATH), {
      'codebase_version': CODEBASE_VERSION, 'robot_type': robot_type,
      'total_episodes': len(episode_rows), 'total_frames': frames,
      'total_tasks': len(names), 'chunks_size': 1000, 'data_files_size_in_mb': 100,
      'video_files_size_in_mb': 200, 'fps': fps,
      'splits': {SPLIT: f'0:{len(episode_rows)}'}, 'data_path': DATA_PATH,
      'video_path': VIDEO_PATH if has_video else None, 'features': features})


def write_dataset(episodes: Iterable[episodes_lib.Episode], root: str, *, fps: int,
                  robot_type: str, frame_stack: int = 1, video: bool = True,
                  codec: str = VIDEO_CODEC, crf: int = CRF,
                  pixel_format: str = PIXEL_FORMAT,
                  task_names: Sequence[str] = ()) -> Dict[str, Any]:
  """Writes episodes of this project's schema as a LeRobot v3.0 dataset at `root`.

  One frame per real action (the final observation-only step is dropped); the camera
  (`image`, its newest frame where `frame_stack` frames are stacked) goes to
  `observation.images.front`, as video (LeRobot's codec settings by default; `codec`,
  `crf` and `pixel_format` as LeRobot's encoder takes them) or, with `video=False`, as PNG
  images inside the parquet file (lossless). Episode success is `next.success` on
  its last frame; `expert_action` is kept where the steps have it; an episode's
  task_index is its task id, whose string is `task_names[i]` or "task i" (every id up to
  the largest is in meta/tasks.parquet). Episodes are read one at a time; the dataset is
  built beside `root` and renamed into place.

  Returns: {num_episodes, num_frames}.
  """
  pyarrow, _ = _modules()
  if video and _codec_problem(codec, pixel_format):
    raise DatasetError(_codec_problem(codec, pixel_format))
  if os.path.isdir(root) and os.listdir(root):
    raise DatasetError(f'{root} is not empty; a LeRobot dataset is written to a new folder')
  task_ids = set()  # task_index is the task id: a round trip keeps every episode's id
  features: Dict[str, Any] = {}
  stats_per_episode: List[Dict[str, Dict[str, np.ndarray]]] = []
  episode_rows: List[Dict[str, Any]] = []
  writer, video_writer, frames = None, None, 0
  with atomic.directory(root) as building:
    data_path = os.path.join(building, DATA_PATH.format(chunk_index=0, file_index=0))
    os.makedirs(os.path.dirname(data_path), exist_ok=True)
    for episode_index, episode in enumerate(episodes):
      columns, camera = _episode_columns(episode, frame_stack)
      length = len(columns[ACTION])
      task_index = int(np.asarray(episode.get('episode_metadata', {}).get('task_id', 0)))
      task_ids.add(task_index)
      if not features:
        features = _features(columns, camera, video)
        if camera is not None and video:
          video_writer = _VideoWriter(os.path.join(building, VIDEO_PATH.format(
              video_key=CAMERA, chunk_index=0, file_index=0)), fps, camera.shape[1],
                                      camera.shape[2], codec, crf, pixel_format)
      table = _frame_table(pyarrow, columns, None if video else camera, fps=fps,
                           episode_index=episode_index, first_frame=frames,
                           task_index=task_index)
      if writer is None:
        writer = pyarrow.parquet.ParquetWriter(data_path, table.schema, compression='snappy')
      writer.write_table(table)  # one row group per episode, as LeRobot's writer
      episode_stats = {name: _stats(value) for name, value in columns.items()}
      for name in FRAME_COLUMNS:
        episode_stats[name] = _stats(np.asarray(table.column(name)))
      row = {'episode_index': episode_index, 'tasks': [_task_name(task_index, task_names)],
             'length': length, 'data/chunk_index': 0, 'data/file_index': 0,
             'dataset_from_index': frames, 'dataset_to_index': frames + length}
      if camera is not None:
        episode_stats[CAMERA] = _stats(camera, image=True)
        if video:
          start = video_writer.frames / fps
          video_writer.add(camera)
          row.update({f'videos/{CAMERA}/chunk_index': 0, f'videos/{CAMERA}/file_index': 0,
                      f'videos/{CAMERA}/from_timestamp': start,
                      f'videos/{CAMERA}/to_timestamp': start + length / fps})
      for name, stat in episode_stats.items():
        for key, value in stat.items():
          row[f'stats/{name}/{key}'] = np.asarray(value).tolist()
      row.update({'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0})
      episode_rows.append(row)
      stats_per_episode.append(episode_stats)
      frames += length
    if writer is None:
      raise DatasetError(f'no episodes to write to {root}')
    writer.close()
    if video_writer is not None:
      video_writer.close()
      features[CAMERA]['info'] = {
          'video.height': int(features[CAMERA]['shape'][0]),
          'video.width': int(features[CAMERA]['shape'][1]), 'video.codec': codec,
          'video.pix_fmt': pixel_format, 'video.is_depth_map': False, 'video.fps': fps,
          'video.channels': int(features[CAMERA]['shape'][2]), 'has_audio': False}
    _write_meta(building, episode_rows=episode_rows, stats_per_episode=stats_per_episode,
                features=features, task_ids=task_ids, task_names=task_names, fps=fps,
                robot_type=robot_type, frames=frames, has_video=video_writer is not None)
  return {'num_episodes': len(episode_rows), 'num_frames': frames}
