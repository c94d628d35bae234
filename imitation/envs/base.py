"""What every imitation task adds to a Brax environment: an expert that can label any state."""

import abc
from typing import Callable, Dict

from brax.envs.base import Env, State
import jax

ExpertFn = Callable[[State, jax.Array], jax.Array]


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


def observation_spec(env: Env) -> Dict[str, jax.ShapeDtypeStruct]:
  """Shapes and dtypes of one (unbatched) observation dict, found without running the env."""
  state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))  # wrappers may add keys
  return dict(state.obs)


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
