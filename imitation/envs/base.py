"""What every imitation task adds to a Brax environment: an expert that can label any state."""

import abc
import itertools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple
import weakref

from brax.envs.base import Env, State
import jax
import numpy as np

ExpertFn = Callable[[State, jax.Array], jax.Array]

# Observation keys that stay the same through an episode (which task, which action
# dimensions are real): an observation history (networks/policy.py) does not stack them.
STATIC_OBSERVATION_KEYS = ('task_id', 'action_mask')


class ImitationTask(abc.ABC):
  """Mixin for Brax environments used as imitation-learning tasks.

  A task's expert is a pure function of the (unbatched) environment state: it may read
  privileged simulator state, so it can label any state a learner reaches (DAgger).
  `state.metrics['success']` is 1.0 while the task counts as solved; an episode succeeds
  when it holds at the episode's last step.
  """

  @abc.abstractmethod
  def expert_action(self, state: State, rng: jax.Array) -> jax.Array:
    """The expert's action in `state` (unbatched; vmap it for batches)."""


def expert_fn(env: Env) -> ExpertFn:
  """The expert of a (possibly wrapped) task, acting on unbatched states."""
  task = env.unwrapped
  if not isinstance(task, ImitationTask):
    raise TypeError(f'{type(task).__name__} has no expert: it is not an ImitationTask')
  return task.expert_action


_OBSERVATION_SPECS: 'weakref.WeakKeyDictionary[Env, Dict[str, Any]]' = (
    weakref.WeakKeyDictionary())


def observation_spec(env: Env) -> Dict[str, jax.ShapeDtypeStruct]:
  """Shapes and dtypes of one (unbatched) observation dict, found without running the env
  (by tracing its reset once per env object: a second of MJX tracing)."""
  if env not in _OBSERVATION_SPECS:
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))  # wrappers may add keys
    _OBSERVATION_SPECS[env] = dict(state.obs)
  return dict(_OBSERVATION_SPECS[env])


def reset_observations(env: Env, rng: jax.Array, num: int) -> Dict[str, np.ndarray]:
  """The first observations of `num` episodes (resets from `rng`), as host arrays: what a
  dataset's first steps on this env should look like."""
  state = jax.jit(jax.vmap(env.reset))(jax.random.split(rng, num))
  return {k: np.asarray(v) for k, v in state.obs.items()}


def task_names(env: Env) -> Optional[Tuple[str, ...]]:
  """A multi-task env's name for each task id (several ids may share one: the tasks that
  results and loss weights group by), or None for an env that does not name them."""
  names = getattr(env.unwrapped, 'task_names', None)
  return None if names is None else tuple(names)


def group_task_ids(names: Optional[Sequence[str]], task_ids) -> Dict[str, list]:
  """{name: [task ids]} for the ids in `task_ids`, in order of their first id; ids without a
  name (`names` None) are their own group, named by the id."""
  groups: Dict[str, list] = {}
  for task_id in sorted({int(t) for t in task_ids}):
    groups.setdefault(str(task_id) if names is None else names[task_id], []).append(task_id)
  return groups


def group_index(names: Optional[Sequence[str]],
                num_ids: int) -> Tuple[Tuple[str, ...], np.ndarray]:
  """(the tasks' names in order of their first id, each of the `num_ids` ids' index into
  them): what per-task sampling shares and loss weights are indexed by."""
  groups = group_task_ids(names, range(num_ids))
  group_of_id = np.zeros(num_ids, np.int64)
  for index, ids in enumerate(groups.values()):
    group_of_id[ids] = index
  return tuple(groups), group_of_id


HELD_OUT_MODES = ('all', 'train', 'held_out')


def factor_combinations(tasks: Sequence[str], task_values: Sequence[str],
                        factor_names: Sequence[str], factor_sizes: Sequence[int],
                        held_out: Sequence, mode: str) -> list:
  """The factor tuples an env in `mode` draws (`select_combinations`) when the first factor
  is the task and only `tasks` (a subset of `task_values`) are asked for."""
  unknown = set(tasks) - set(task_values)
  if unknown or not tasks:
    raise ValueError(f'tasks must be a non-empty subset of {tuple(task_values)}, got '
                     f'{tuple(tasks)}')
  held_out = {tuple(int(v) for v in c) for c in held_out}
  for combination in held_out:
    if len(combination) != len(factor_sizes) or not all(
        0 <= v < n for v, n in zip(combination, factor_sizes)):
      raise ValueError(f'held-out combination {combination} is not a ({", ".join(factor_names)})'
                       f' index tuple within {tuple(factor_sizes)}')
  allowed = [task_values.index(t) for t in tasks]
  combinations = [c for c in itertools.product(*map(range, factor_sizes)) if c[0] in allowed]
  return select_combinations(combinations, held_out, mode)


def select_combinations(combinations: Sequence, held_out: Sequence, mode: str) -> list:
  """The task combinations an env in `mode` draws: 'all' of them, those not `held_out`
  ('train'), or only the held-out ones ('held_out', novel-task evaluation)."""
  held_out = {tuple(c) for c in held_out}
  if mode == 'train':
    combinations = [c for c in combinations if tuple(c) not in held_out]
  elif mode == 'held_out':
    combinations = [c for c in combinations if tuple(c) in held_out]
  elif mode != 'all':
    raise ValueError(f'mode must be one of {HELD_OUT_MODES}, got {mode!r}')
  if not combinations:
    raise ValueError(f'mode {mode!r} leaves no task combination to draw')
  return list(combinations)


class JaxTask(Env, ImitationTask):
  """Base of tasks with plain-JAX dynamics (no Brax physics pipeline).

  Subclasses implement reset, step, expert_action, action_size and dt; `state.pipeline_state`
  holds the task's own state pytree.
  """

  @property
  def observation_size(self):
    return jax.tree.map(lambda x: x.shape, observation_spec(self))

  @property
  def backend(self) -> str:
    return 'jax'
