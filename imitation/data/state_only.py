"""State-only demonstrations: episodes that record what happened, not the actions taken.

Videos, motion capture and another robot's logs give observations without actions. Such an
RLDS dataset has no `action` field on its steps (every format reads it so, flagged
`state_only` in the data summary); BC and DAgger refuse it with `REFUSAL`, BCO
(agents/bco.py) infers the actions. A dataset this project collects with
`collect.drop_actions=True` keeps the actions it dropped aside, in `ACTIONS_ASIDE_FILE`
inside the dataset's directory, which only scores the labels BCO infers.
"""

import os
from typing import Any, Dict, Optional, Sequence

import numpy as np

from imitation.data import episodes as episodes_lib

ACTIONS_ASIDE_FILE = 'actions_aside.npz'
ACTION_KEYS = ('action', 'expert_action')
REFUSAL = ('the dataset records no actions (state-only demonstrations); BC and DAgger learn '
           'from actions: train BCO on it, which infers them (configs/bco.py)')


def has_actions(episode: episodes_lib.Episode) -> bool:
  return 'action' in episode['steps']


def without_actions(episode: episodes_lib.Episode) -> episodes_lib.Episode:
  """The episode as a state-only dataset stores it: its steps without any action field."""
  steps = {k: v for k, v in episode['steps'].items() if k not in ACTION_KEYS}
  return {**episode, 'steps': steps}


def save_actions_aside(directory: str, episodes: Sequence[episodes_lib.Episode]) -> str:
  """Writes the real actions of `episodes` (keyed by `episode_index`) beside the dataset."""
  actions = [np.asarray(e['steps']['action'])[episodes_lib.real_actions(e['steps'])]
             for e in episodes]
  path = os.path.join(directory, ACTIONS_ASIDE_FILE)
  np.savez(path, episode_index=np.array([e['episode_metadata']['episode_index']
                                         for e in episodes], np.int64),
           lengths=np.array([len(a) for a in actions], np.int64),
           action=np.concatenate(actions).astype(np.float32))
  return path


def load_actions_aside(directory: Optional[str]) -> Optional[Dict[int, np.ndarray]]:
  """episode_index -> its real actions [L, A], from `save_actions_aside`'s file in
  `directory` (None when there is none)."""
  path = os.path.join(directory or '', ACTIONS_ASIDE_FILE)
  if not directory or not os.path.exists(path):
    return None
  with np.load(path) as aside:
    ends = np.cumsum(aside['lengths'])
    parts = np.split(aside['action'], ends[:-1])
    return {int(i): part for i, part in zip(aside['episode_index'], parts)}


def true_actions(episode: episodes_lib.Episode,
                 aside: Optional[Dict[int, np.ndarray]]) -> Optional[np.ndarray]:
  """The episode's real actions [L, A] where they are known: its own steps' (a dataset
  that has them), or those kept aside for it; None otherwise."""
  if has_actions(episode):
    return np.asarray(episode['steps']['action'])[episodes_lib.real_actions(episode['steps'])]
  if aside is None:
    return None
  return aside.get(int(episode['episode_metadata'].get('episode_index', -1)))
