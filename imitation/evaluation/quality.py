"""Scores of each demonstration's quality, and how well they find the bad ones.

Four scores per episode, each a check a practitioner runs on data they did not make:

* replay (`replay_success`, `replay_return`): reset the task with the episode's recorded
  reset key, play its recorded actions again; does it succeed? (Our datasets only: the
  key comes from the collection seed and the episode's index.)
* `expert_agreement`: mean squared distance of the demo's actions to the expert's labels of
  the same states (the recorded `expert_action`, or else the replay's labels).
* `crossfit_error`: the episodes are split into K folds; K policies are trained at once
  (vmapped), each without one fold, and an episode is scored by the policy that never saw
  it: mean squared error of its actions in normalised units. The source's "bad demo" check
  without grading a demo with a model that learned it. `crossfit_bias` is the squared
  norm of the episode's mean residual: a demonstrator that is off in the same direction
  for a whole episode (a biased one) stands out there, where its step errors alone are
  lost among hard states of good episodes.
* `ensemble_disagreement`: the variance of the K policies' actions on the episode's states.

Each score flags episodes: failed replays, actions off the expert's by more than a
tolerance, and robust outliers of the others (above the median by `outlier_mads` scaled
median absolute deviations). Where episodes record who
demonstrated them (`source`), every score's flags are compared with the truth (bad: not the
expert) as precision and recall.
"""

import dataclasses
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import jax
from jax import numpy as jp
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import atomic
from imitation import envs
from imitation.data import collect
from imitation.data import episodes as episodes_lib
from imitation.data import normalization as normalization_lib
from imitation.data import quality as data_quality
from imitation.data import transitions as transitions_lib
from imitation.envs import rollout as rollout_lib
from imitation.evaluation import video
from imitation.training.learner import Learner, example_observation

SCORES = ('replay_success', 'replay_return', 'expert_agreement', 'crossfit_error',
          'crossfit_bias', 'ensemble_disagreement')
# The score whose flags a diagnosis reports, the first one computed: the expert's own
# labels where an expert exists, then the replay, then the cross-fitted policies.
PRIMARY = ('expert_agreement', 'replay_success', 'crossfit_bias')


@dataclasses.dataclass
class QualityScores:
  """Per-episode scores (None where a score cannot be computed for this data)."""
  episode_index: np.ndarray  # [E] the episodes' numbers in the dataset
  source: List[str]  # who demonstrated each ('' when the data does not say)
  scores: Dict[str, Optional[np.ndarray]]
  flags: Dict[str, np.ndarray]  # score -> [E] bool

  def truth(self) -> Optional[np.ndarray]:
    """[E] True for episodes the expert did not demonstrate; None without that record."""
    known = [s for s in self.source if s]
    if len(known) < len(self.source) or len(set(known)) < 2 or 'expert' not in known:
      return None
    return np.array([s != 'expert' for s in self.source])

  def precision_recall(self) -> Dict[str, Dict[str, float]]:
    """Per score: the precision and recall of its flags against `truth()` (empty without)."""
    truth = self.truth()
    if truth is None:
      return {}
    result = {}
    for name, flags in self.flags.items():
      hits = int((flags & truth).sum())
      result[name] = {'precision': hits / max(int(flags.sum()), 1),
                      'recall': hits / max(int(truth.sum()), 1),
                      'flagged': int(flags.sum())}
    return result

  def to_json(self) -> Dict[str, Any]:
    episodes = []
    for i, index in enumerate(self.episode_index):
      row = {'episode_index': int(index), 'source': self.source[i]}
      for name, values in self.scores.items():
        if values is not None:
          row[name] = float(values[i])
      row['flagged_by'] = [name for name, flags in self.flags.items() if flags[i]]
      episodes.append(row)
    return {'episodes': episodes, 'precision_recall': self.precision_recall(),
            'num_flagged': {k: int(v.sum()) for k, v in self.flags.items()},
            'num_bad': None if self.truth() is None else int(self.truth().sum())}


def flag(name: str, values: np.ndarray, outlier_mads: float,
         agreement_tolerance: float = 0.01) -> np.ndarray:
  """Failed replays; actions farther from the expert's than `agreement_tolerance` (mean
  squared distance: the expert is the reference, so this is absolute, and holds however
  many episodes are bad); for the other scores, values beyond median + outlier_mads * MAD
  (MAD scaled to a normal std) on the bad side."""
  if name == 'replay_success':
    return values < 0.5
  if name == 'expert_agreement':
    return values > agreement_tolerance
  values = data_quality.badness(name, values)
  median = np.median(values)
  mad = 1.4826 * np.median(np.abs(values - median))
  return values > median + outlier_mads * max(mad, 1e-12)


def reset_keys(episodes: Sequence[Mapping[str, Any]]) -> Optional[jax.Array]:
  """[E] each episode's recorded reset key (collection seed and episode index, see
  `data.collect.episode_reset_keys`), or None when the episodes do not record them."""
  metadata = [e['episode_metadata'] for e in episodes]
  if not metadata or not all('seed' in m and 'episode_index' in m for m in metadata):
    return None
  return jp.stack([collect.episode_reset_keys(int(m['seed']),
                                              np.array([int(m['episode_index'])]))[0]
                   for m in metadata])


def recorded_actions(episodes: Sequence[Mapping[str, Any]], horizon: int,
                     action_size: int) -> Tuple[np.ndarray, np.ndarray]:
  """([T, E, A] each episode's real actions, zero-padded to `horizon`; [E] their count)."""
  actions = np.zeros((horizon, len(episodes), action_size), np.float32)
  lengths = np.zeros(len(episodes), np.int64)
  for column, episode in enumerate(episodes):
    steps = episode['steps']
    real = episodes_lib.real_actions(steps)
    taken = np.asarray(steps['action'])[real][:horizon]
    lengths[column] = len(taken)
    actions[:len(taken), column] = taken
  return actions, lengths


def replay(env_config: ml_collections.ConfigDict, episodes: Sequence[Mapping[str, Any]],
           rng: jax.Array, batch_size: int = 256) -> Optional[Dict[str, np.ndarray]]:
  """Replays each episode's actions from its recorded reset key; None when the episodes
  do not record one (seed and episode_index) or there is no environment.

  Returns [E] `replay_success`, `replay_return` and `expert_agreement` (mean squared
  distance of the actions to the expert's labels of the replayed states).
  """
  if not env_config.name or reset_keys(episodes[:1]) is None:
    return None
  env = envs.make_from_config(env_config)
  horizon = env_config.horizon
  run = jax.jit(rollout_lib.make_replay(env, horizon))
  out = {'replay_success': [], 'replay_return': [], 'expert_agreement': []}
  for first in range(0, len(episodes), batch_size):
    batch = list(episodes[first:first + batch_size])
    count = len(batch)
    batch += [batch[-1]] * (batch_size - count)  # one compiled shape
    keys = reset_keys(batch)
    if keys is None:
      return None
    actions, lengths = recorded_actions(batch, horizon, env.action_size)
    trajectory = jax.device_get(run(keys, jp.asarray(actions), jax.random.fold_in(rng, first)))
    statistics = jax.device_get(rollout_lib.episode_statistics(trajectory))
    error = np.mean(np.square(trajectory.action - trajectory.expert_action), -1)  # [T, B]
    steps_mask = np.arange(horizon)[:, None] < lengths[None, :]
    agreement = (error * steps_mask).sum(0) / np.maximum(lengths, 1)
    out['replay_success'].append(np.asarray(statistics['success'])[:count])
    out['replay_return'].append(np.asarray(statistics['return'])[:count])
    out['expert_agreement'].append(agreement[:count])
  return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}


def fit_policies(learner: Learner, transitions: Mapping[str, Any],
                 normalization: normalization_lib.Normalization, row_masks: np.ndarray, *,
                 num_steps: int, batch_size: int, rng: jax.Array) -> Any:
  """K policies trained at once (one vmapped program), policy k on the rows where
  `row_masks[k]` is True; returns their train states, stacked over K."""
  observation = jax.tree.map(jp.asarray, dict(transitions['observation']))
  action = jp.asarray(transitions['action'])
  masks = jp.asarray(row_masks, jp.float32)
  num_policies, num_rows = masks.shape
  rng_init, rng_train = jax.random.split(rng)
  states = jax.vmap(lambda key: learner.init(
      key, example_observation=example_observation(observation),
      normalization=normalization))(jax.random.split(rng_init, num_policies))

  # The data are arguments, not constants of the program (XLA would fold them).
  @jax.jit
  def train(states, key, observation, action, masks):
    def one_update(state, key, mask):
      key_rows, key_update = jax.random.split(key)
      rows = jax.random.choice(key_rows, num_rows, (batch_size,), p=mask / mask.sum())
      batch = {'observation': jax.tree.map(lambda x: x[rows], observation),
               'action': action[rows]}
      return learner.update(state, batch, key_update)[0]

    def body(states, key):
      keys = jax.random.split(key, num_policies)
      return jax.vmap(one_update)(states, keys, masks), None
    return jax.lax.scan(body, states, jax.random.split(key, num_steps))[0]

  return train(states, rng_train, observation, action, masks)


def predict(learner: Learner, states: Any, observation: Mapping[str, Any]) -> np.ndarray:
  """[K, N, A] each stacked policy's (deterministic) action for every observation."""
  run = jax.jit(jax.vmap(lambda state, observation: learner.act.first_action(
      state.policy_params, observation, jax.random.PRNGKey(0)), in_axes=(0, None)))
  return np.asarray(run(states, jax.tree.map(jp.asarray, dict(observation))))


def crossfit(learner: Learner, transitions: Mapping[str, Any],
             normalization: normalization_lib.Normalization, *, num_folds: int,
             num_steps: int, batch_size: int, rng: jax.Array, num_episodes: int,
             ) -> Dict[str, np.ndarray]:
  """K policies, policy k trained on every fold but k (episode e is in fold e mod K after a
  shuffle); returns [E] `crossfit_error` (each episode scored by the policy that did not
  see it), `crossfit_bias` and `ensemble_disagreement`, over the rows' episodes."""
  episode = np.asarray(transitions['episode_index'])
  rng_folds, rng_fit = jax.random.split(rng)
  fold_of_episode = np.asarray(jax.random.permutation(rng_folds, num_episodes)) % num_folds
  fold = fold_of_episode[episode]
  states = fit_policies(learner, transitions, normalization,
                        fold[None, :] != np.arange(num_folds)[:, None],
                        num_steps=num_steps, batch_size=batch_size, rng=rng_fit)
  scale = np.asarray(normalization.action_std)
  offset = np.asarray(normalization.action_mean)
  predictions = (predict(learner, states, transitions['observation']) - offset) / scale
  target = (np.asarray(transitions['action']) - offset) / scale
  own = predictions[fold, np.arange(len(fold))]
  residual = target - own
  row_error = np.mean(np.square(residual), -1)
  row_spread = np.mean(predictions.var(0), -1)
  mean_residual = np.stack([_per_episode(residual[:, a], episode, num_episodes)
                            for a in range(residual.shape[-1])], -1)
  return {'crossfit_error': _per_episode(row_error, episode, num_episodes),
          'crossfit_bias': np.mean(np.square(mean_residual), -1),
          'ensemble_disagreement': _per_episode(row_spread, episode, num_episodes)}


def _per_episode(values: np.ndarray, episode: np.ndarray, num_episodes: int) -> np.ndarray:
  sums = np.bincount(episode, weights=values, minlength=num_episodes)
  counts = np.bincount(episode, minlength=num_episodes)
  return sums / np.maximum(counts, 1)


def score_episodes(
    config: ml_collections.ConfigDict, episodes: Sequence[Mapping[str, Any]],
    make_learner: Callable[[ml_collections.ConfigDict, int], Learner],
    normalization_fn: Callable[[Mapping[str, Any]], normalization_lib.Normalization],
    rng: jax.Array,
) -> QualityScores:
  """Every score `config.quality` asks for, over `episodes` (in the dataset's order)."""
  section = config.quality
  rng_replay, rng_fit = jax.random.split(rng)
  transitions = transitions_lib.episodes_to_transitions(episodes, config.data.action_key)
  scores: Dict[str, Optional[np.ndarray]] = {name: None for name in SCORES}
  if 'replay' in section.scores:
    env_config = config.env.copy_and_resolve_references()
    replayed = replay(env_config, episodes, rng_replay) if config.env.name else None
    if replayed is not None:
      scores.update(replayed)
  # The expert's labels recorded at collection share the expert's own randomness (a
  # stochastic expert, e.g. grasp_multimodal's choice of end, labels again differently).
  if all('expert_action' in e['steps'] for e in episodes):
    scores['expert_agreement'] = np.array([
        np.mean(np.square(np.asarray(e['steps']['action']) - e['steps']['expert_action'])[
            episodes_lib.real_actions(e['steps'])])
        for e in episodes])
  if 'crossfit' in section.scores:
    fit_config = config.copy_and_resolve_references()
    fit_config.network.hidden_sizes = tuple(section.hidden_sizes)
    action_size = int(transitions['action'].shape[-1])
    scores.update(crossfit(
        make_learner(fit_config, action_size), transitions, normalization_fn(transitions),
        num_folds=section.num_folds, num_steps=section.num_steps,
        batch_size=section.batch_size, rng=rng_fit, num_episodes=len(episodes)))
  flags = {name: flag(name, values, section.outlier_mads, section.agreement_tolerance)
           for name, values in scores.items() if values is not None}
  return QualityScores(
      episode_index=np.array([int(e['episode_metadata'].get('episode_index', i))
                              for i, e in enumerate(episodes)]),
      source=[str(e['episode_metadata'].get('source', '')) for e in episodes],
      scores=scores, flags=flags)


def worst_episodes_gif(env_config: ml_collections.ConfigDict,
                       episodes: Sequence[Mapping[str, Any]], path: str, *, size: int,
                       rng: jax.Array) -> Optional[str]:
  """The episodes replayed from their reset keys with a camera of `size` pixels, tiled
  into one GIF at `path`; None when they cannot be replayed (see `replay`)."""
  keys = reset_keys(episodes)
  if keys is None or not env_config.name:
    return None
  env_config = video.with_camera(env_config, size)
  env = envs.make_from_config(env_config)
  actions, _ = recorded_actions(episodes, env_config.horizon, env.action_size)
  trajectory = jax.device_get(jax.jit(rollout_lib.make_replay(env, env_config.horizon))(
      keys, jp.asarray(actions), rng))
  frames = np.asarray(trajectory.observation['image'][..., -3:])
  return video.save_gif(path, video.tile(frames), seconds_per_frame=0.05)


def markdown_report(scores: QualityScores, title: str, figures: Sequence[str] = ()) -> str:
  """The scores' summary: flags per score, precision and recall against the truth."""
  lines = [f'# {title}', '', f'{len(scores.source)} episodes.']
  truth = scores.truth()
  if truth is not None:
    sources = {s: scores.source.count(s) for s in sorted(set(scores.source))}
    lines.append(f'Recorded demonstrators: {sources} (bad: not the expert, '
                 f'{int(truth.sum())} episodes).')
  lines += ['', '| score | flagged | precision | recall |', '|---|---|---|---|']
  pr = scores.precision_recall()
  for name, flags in scores.flags.items():
    if name in pr:
      lines.append(f'| {name} | {int(flags.sum())} | {pr[name]["precision"]:.2f} | '
                   f'{pr[name]["recall"]:.2f} |')
    else:
      lines.append(f'| {name} | {int(flags.sum())} | - | - |')
  missing = [name for name, values in scores.scores.items() if values is None]
  if missing:
    lines += ['', f'Not computed for this data: {", ".join(missing)}.']
  lines += [''] + [f'![{os.path.basename(f)}]({os.path.basename(f)})' for f in figures]
  return '\n'.join(lines) + '\n'


def plot_histograms(scores: QualityScores, path: str) -> str:
  """One histogram per score, the truth's bad episodes in another colour where known."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  computed = {k: v for k, v in scores.scores.items() if v is not None}
  fig, axes = plt.subplots(1, len(computed), figsize=(3.2 * len(computed), 2.8), squeeze=False)
  truth = scores.truth()
  for ax, (name, values) in zip(axes[0], computed.items()):
    bins = np.histogram_bin_edges(values, bins=30)
    if truth is None:
      ax.hist(values, bins=bins)
    else:
      ax.hist([values[~truth], values[truth]], bins=bins, stacked=True,
              label=['expert', 'other demonstrators'])
    ax.set(title=name, xlabel='score', ylabel='episodes')
  if truth is not None:
    axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  atomic.save_figure(fig, path, dpi=110)
  plt.close(fig)
  return path


CONFIG_RULES = {
    'quality.num_folds': rules.int_at_least(2),
    'quality.num_steps': rules.positive_int(),
    'quality.batch_size': rules.positive_int(),
    'quality.hidden_sizes': rules.positive_ints(),
}
