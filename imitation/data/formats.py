"""Foreign RLDS layouts mapped to the project's episode schema (`data.episodes`).

One small standardise function per layout, chosen by `data.format` (Octo's
`standardize_fn`, as a registry): each takes an episode as TFDS reads it and returns one
with `steps` = {observation: {state, image?}, action, reward, discount, is_first, is_last,
is_terminal, action_is_pad} and `episode_metadata` = {task_id, source, return, length,
success (when the data says)}. `data.fields` renames what a layout calls its fields. An
episode without the action field is read as state-only (no `action`: data/state_only.py);
one whose observation is a camera and nothing numeric beside it, as image-only (no
`state`: for an image encoder with `network.use_state=False`).

Layouts:
  imitation  what this project writes (metadata.json, `episode_metadata`, `state`/`image`).
  envlogger  envlogger's RLDS: `observation` one flat tensor or a dict of them, episode
             metadata as top-level fields, the final step's action not a real one.
  open_x     Open X-Embodiment style: `observation/state`, `observation/image`, a per-step
             `language_instruction` (the task), and a real action on every step, the last
             one included (there is no extra final observation).
  robomimic  robomimic's HDF5 file (data/demo_N/{obs, actions, rewards}), read by
             `data.hdf5`; every step's action is real.
  maniskill  ManiSkill's HDF5 trajectories (traj_N/{obs, actions, ...}), read by
             `data.hdf5`, the final observation (no action) left out.
  minari     a Minari dataset's folder, read by Minari (`data.minari_datasets`), the final
             observation left out likewise.
  lerobot    a LeRobotDataset v3.0 root (parquet and mp4), read by `data.lerobot`: one
             step per frame, observation keys without their `observation.` prefix.
"""

import dataclasses
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from imitation import config_rules as rules
from imitation.data import episodes as episodes_lib
from imitation.errors import DatasetError

Episode = episodes_lib.Episode
_IMAGE_KEYS = ('image', 'pixels', 'rgb')  # a layout's default image key, if present
# A camera of at most this many channels is one frame (gray, RGB, RGBA): foreign layouts
# store one per step, stacked on reading to env.frame_stack (`stack_frames`).
ONE_FRAME_CHANNELS = 4
# Episode metadata: the observation keys joined into `state` in name order, comma-separated,
# where `data.fields.state` did not name them (several keys only); the run checks that order.
GUESSED_STATE_KEYS = 'guessed_state_keys'


@dataclasses.dataclass(frozen=True)
class Fields:
  """Where a layout keeps each field (empty: the layout's default)."""
  state: Tuple[str, ...] = ()  # observation keys concatenated into `state`, in this order
  image: str = ''  # observation key of the camera image; 'none' drops the camera
  action: str = ''  # step key of the action
  task: str = ''  # step key of the instruction (a string) or task id (an integer)


class TaskVocabulary:
  """Instruction strings -> task ids: the order of `names` if given, else first seen.

  Every process reads every episode in the same order, so first-seen ids agree."""

  def __init__(self, names: Sequence[str] = ()):
    self.fixed = bool(names)
    self.ids: Dict[str, int] = {name: i for i, name in enumerate(names)}

  def __call__(self, instruction: str, source: str) -> int:
    if instruction not in self.ids:
      if self.fixed:
        raise DatasetError(f'{source}: instruction {instruction!r} is not in data.task_names '
                           f'({len(self.ids)} known)')
      self.ids[instruction] = len(self.ids)
    return self.ids[instruction]

  @property
  def names(self) -> Tuple[str, ...]:
    return tuple(sorted(self.ids, key=self.ids.get))


def _field(tree: Mapping[str, Any], key: str, source: str, where: str) -> Any:
  """tree[key] (a '/'-separated path), or a DatasetError naming the missing key."""
  value = tree
  for part in key.split('/'):
    if not isinstance(value, Mapping) or part not in value:
      fields = sorted(value) if isinstance(value, Mapping) else type(value).__name__
      raise DatasetError(f'{source}: {where} has no {key!r} (it has {fields}); '
                         'set data.fields or pick another data.format')
    value = value[part]
  return value


def _numeric(value: Any, source: str, what: str, dtype=np.float32) -> np.ndarray:
  """`value` as `dtype`, or a DatasetError when it is not numbers."""
  array = np.asarray(value)
  if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
    raise DatasetError(f'{source}: {what} has dtype {array.dtype}, expected numbers')
  return array.astype(dtype)


def _state(observation: Any, fields: Fields, source: str
           ) -> Tuple[Optional[np.ndarray], Optional[str], Tuple[str, ...]]:
  """([T, D] float32 state, the image key or None, the keys joined in name order because
  `data.fields.state` did not name them: () when named or one) from a flat tensor or a
  dict; the state is None for a camera with no numeric keys beside it (image-only data)."""
  if not isinstance(observation, Mapping):
    array = _numeric(observation, source, 'steps/observation')
    return array.reshape(array.shape[0], -1), None, ()
  if fields.image == 'none':  # a state-only policy from a dataset with a camera
    image_key = None
  else:
    image_key = fields.image or next((k for k in _IMAGE_KEYS if k in observation), None)
  # By default every numeric vector (or scalar) per step; images are never state.
  names = fields.state or tuple(sorted(
      k for k, v in observation.items()
      if k not in _IMAGE_KEYS and k != image_key and not isinstance(v, Mapping)
      and np.ndim(v) <= 2 and np.asarray(v).dtype.kind in 'fiu'))  # ndim first: a video
      # (data.lerobot.VideoFrames) is decoded only when read as the camera
  if not names:
    if image_key is not None and image_key in observation:
      return None, image_key, ()  # a camera only: a policy that reads the image alone
    raise DatasetError(f'{source}: steps/observation has no numeric state among '
                       f'{sorted(observation)}; set data.fields.state')
  parts = [_numeric(_field(observation, k, source, 'steps/observation'), source,
                    f'steps/observation/{k}') for k in names]
  guessed = () if fields.state or len(names) == 1 else names
  return (np.concatenate([p.reshape(p.shape[0], -1) for p in parts], axis=-1), image_key,
          guessed)


def _image(observation: Mapping[str, Any], key: str, source: str) -> np.ndarray:
  image = np.asarray(_field(observation, key, source, 'steps/observation'))
  if image.dtype != np.uint8 or image.ndim != 4:
    raise DatasetError(f'{source}: steps/observation/{key} is {image.dtype} of shape '
                       f'{image.shape[1:]} per step; expected uint8 images (H, W, C)')
  return image


def _flags(steps: Mapping[str, Any], length: int) -> Dict[str, np.ndarray]:
  """RLDS's per-step flags, defaulted where a layout leaves them out."""
  is_last = np.asarray(steps.get('is_last', np.arange(length) == length - 1), bool)
  return {
      'reward': np.asarray(steps.get('reward', np.zeros(length)), np.float32).reshape(length),
      'discount': np.asarray(steps.get('discount', np.ones(length)), np.float32).reshape(length),
      'is_first': np.asarray(steps.get('is_first', np.arange(length) == 0), bool),
      'is_last': is_last,
      'is_terminal': np.asarray(steps.get('is_terminal', np.zeros(length)), bool),
  }


def _standard(raw_steps: Mapping[str, Any], fields: Fields, source: str, *,
              last_action_is_real: bool, metadata: Mapping[str, Any],
              task_id: int) -> Episode:
  """The episode schema from a layout's steps (the shared part of every foreign layout)."""
  observation_raw = _field(raw_steps, 'observation', source, 'steps')
  state, image_key, guessed = _state(observation_raw, fields, source)
  observation = {} if state is None else {'state': state}
  if image_key is not None:  # found among the observation's keys, or named by data.fields
    observation['image'] = _image(observation_raw, image_key, source)
  length = len(next(iter(observation.values())))
  action_key = fields.action or 'action'
  actions = {}  # none: a state-only episode (data/state_only.py)
  if action_key in raw_steps or fields.action:
    action = _numeric(_field(raw_steps, action_key, source, 'steps'), source,
                      f'steps/{action_key}')
    actions['action'] = action.reshape(length, -1)
  flags = _flags(raw_steps, length)
  pad = np.zeros(length, bool) if last_action_is_real else flags['is_last'].copy()
  real = ~pad
  episode_metadata = {
      'task_id': np.int32(task_id),
      'source': str(metadata.get('source', 'foreign')),
      'return': np.float32(flags['reward'][real].sum()),
      'length': np.int32(real.sum()),
  }
  if 'success' in metadata:
    episode_metadata['success'] = bool(np.asarray(metadata['success']))
  if guessed:
    episode_metadata[GUESSED_STATE_KEYS] = ','.join(guessed)
  return {'steps': {'observation': observation, **actions, **flags,
                    'action_is_pad': pad},
          'episode_metadata': episode_metadata}


def _task_id(raw_steps: Mapping[str, Any], top: Mapping[str, Any], fields: Fields,
             vocabulary: TaskVocabulary, source: str, default: str = '') -> int:
  """The episode's task id from its first step's instruction (or id) under `fields.task`."""
  key = fields.task or default
  if not key:
    return int(np.asarray(top.get('task_id', 0)))
  value = np.asarray(_field(raw_steps, key, source, 'steps'))[0]
  if isinstance(value, (bytes, str)) or value.dtype.kind in 'SUO':
    text = value.decode() if isinstance(value, bytes) else str(value)
    return vocabulary(text, source)
  return int(value)


def imitation_format(episode: Episode, fields: Fields, vocabulary: TaskVocabulary,
                     source: str) -> Episode:
  """What this project writes; older datasets without `action_is_pad` get it from
  `is_last`."""
  steps = _field(episode, 'steps', source, 'the episode')
  if 'episode_metadata' not in episode or not isinstance(steps.get('observation'), Mapping):
    raise DatasetError(
        f'{source}: not in the layout this project writes (episode fields '
        f'{sorted(episode)}, steps/observation a {type(steps.get("observation")).__name__}); '
        f'set data.format to one of {sorted(set(FORMATS) - {"imitation"})}')
  _field(steps, 'is_last', source, 'steps')  # a state-only episode has no action
  if 'action_is_pad' not in steps:
    episode = {**episode, 'steps': {**steps, 'action_is_pad': np.asarray(steps['is_last'])}}
  return episode


def envlogger_format(episode: Episode, fields: Fields, vocabulary: TaskVocabulary,
                     source: str) -> Episode:
  """envlogger: episode metadata at the top level (or under `episode_metadata`)."""
  steps = _field(episode, 'steps', source, 'the episode')
  top = {k: v for k, v in episode.items() if k not in ('steps', 'episode_metadata')}
  top.update(episode.get('episode_metadata') or {})
  return _standard(steps, fields, source, last_action_is_real=False, metadata=top,
                   task_id=_task_id(steps, top, fields, vocabulary, source))


def open_x_format(episode: Episode, fields: Fields, vocabulary: TaskVocabulary,
                  source: str) -> Episode:
  """Open X style: the last step's action is real; the task is `language_instruction`."""
  steps = _field(episode, 'steps', source, 'the episode')
  top = dict(episode.get('episode_metadata') or {})
  default_task = 'language_instruction' if 'language_instruction' in steps else ''
  return _standard(steps, fields, source, last_action_is_real=True, metadata=top,
                   task_id=_task_id(steps, top, fields, vocabulary, source, default_task))


def hub_format(episode: Episode, fields: Fields, vocabulary: TaskVocabulary,
               source: str) -> Episode:
  """A demo as its own reader gives it (`data.hdf5`, `data.minari_datasets`): every
  step's action is real; success and source are the demo's own where it records them."""
  steps = _field(episode, 'steps', source, 'the episode')
  top = dict(episode.get('episode_metadata') or {})
  return _standard(steps, fields, source, last_action_is_real=True, metadata=top,
                   task_id=_task_id(steps, top, fields, vocabulary, source))


def lerobot_format(episode: Episode, fields: Fields, vocabulary: TaskVocabulary,
                   source: str) -> Episode:
  """A LeRobot v3 episode (`data.lerobot`): every frame's action is real; the task is the
  dataset's own task_index, or its string mapped through `data.task_names` if given."""
  steps = _field(episode, 'steps', source, 'the episode')
  top = dict(episode.get('episode_metadata') or {})
  default_task = ('task' if vocabulary.fixed else 'task_index') if 'task' in steps else ''
  return _standard(steps, fields, source, last_action_is_real=True, metadata=top,
                   task_id=_task_id(steps, top, fields, vocabulary, source, default_task))


FORMATS: Dict[str, Callable[..., Episode]] = {
    'imitation': imitation_format,
    'envlogger': envlogger_format,
    'open_x': open_x_format,
    'robomimic': hub_format,
    'maniskill': hub_format,
    'minari': hub_format,
    'lerobot': lerobot_format,
}


def get(name: str) -> Callable[..., Episode]:
  if name not in FORMATS:
    raise DatasetError(f'data.format={name!r}: known formats are {sorted(FORMATS)}')
  return FORMATS[name]


def fields_from_config(section: Mapping[str, Any]) -> Fields:
  """The `data.fields` config section as `Fields`."""
  section = dict(section or {})
  state = section.get('state', ())
  if isinstance(state, str):
    state = tuple(s for s in state.split(',') if s)
  return Fields(state=tuple(state), image=section.get('image', ''),
              action=section.get('action', ''), task=section.get('task', ''))


def stack_frames(episode: Episode, frame_stack: int) -> Episode:
  """`episode` with a one-frame camera ([T, H, W, C], C <= 4) stacked as the env's
  `FrameStack` stacks it: step t holds frames t - k + 1 ... t along channels, oldest first,
  the first frame repeated before the episode's start. Stacked cameras pass unchanged."""
  image = episode['steps']['observation'].get('image')
  if frame_stack <= 1 or image is None or image.shape[-1] > ONE_FRAME_CHANNELS:
    return episode
  steps = np.arange(len(image))
  stacked = np.concatenate([image[np.maximum(steps - back, 0)]
                            for back in range(frame_stack - 1, -1, -1)], axis=-1)
  observation = {**episode['steps']['observation'], 'image': stacked}
  return {**episode, 'steps': {**episode['steps'], 'observation': observation}}


def check_episode(episode: Episode, source: str) -> None:
  """A DatasetError naming the problem if a standardised episode is unusable."""
  steps = episode['steps']
  length = len(steps['is_last'])
  if length == 0:
    raise DatasetError(f'{source}: an episode has no steps')
  actions = [('action', steps['action'])] if 'action' in steps else []  # none: state-only
  for key, value in [*actions,
                     *((f'observation/{k}', v) for k, v in steps['observation'].items())]:
    if len(value) != length:
      raise DatasetError(f'{source}: steps/{key} has {len(value)} steps, is_last has {length}')
  if actions and not np.issubdtype(np.asarray(steps['action']).dtype, np.floating):
    raise DatasetError(f'{source}: steps/action has dtype {np.asarray(steps["action"]).dtype}'
                       ', expected floats')
  state = steps['observation'].get('state')
  if state is not None and not np.issubdtype(np.asarray(state).dtype, np.floating):
    raise DatasetError(f'{source}: steps/observation/state has dtype '
                       f'{np.asarray(state).dtype}, expected floats')


CONFIG_RULES = {'data.format': rules.one_of(sorted(FORMATS))}
