"""Every named random stream, in one place.

A run derives each of its keys as `fold_in(PRNGKey(seed), STREAM)` (then `fold_in` a round or
episode index where a stream has one), so one seed determines the run and two parts of a run
never draw from the same key. Add a stream here, with a number no other stream of the same
seed uses, rather than folding in a literal where the key is used.
"""

import jax

# From the run's seed (`config.seed`).
INIT = 0  # network initialisation and the train state's own key stream (DAgger: fold_in round)
EVAL = 1  # evaluation episodes during training and the final learner-vs-expert comparison
DAGGER_ROLLOUT = 2  # DAgger round k's rollout (actions, beta draws): fold_in k
DATA_ORDER = 3  # streamed input (data.pipeline=stream): its shuffle's seed is drawn from it
HOLDOUT = 4  # offline runs (no environment): which episodes are held out of training
DIAGNOSE = 5  # experiments/diagnose.py: its splits, fits and episodes (fold_in a check)
DAGGER_RESET = 102  # DAgger round k's episode resets: fold_in k, split per episode
BCO_ROLLOUT = 8  # BCO round k's interactions (exploration noise, random actions): fold_in k
BCO_INVERSE = 9  # BCO round k's inverse dynamics model (init, its batches): fold_in k
BCO_HOLDOUT = 10  # BCO round k: which interaction episodes are held out: fold_in k
BCO_RESET = 103  # BCO round k's interaction episode resets: fold_in k, split per episode
EVALUATE = 7  # `evaluate` runs on exported policies: its episodes; videos fold in VIDEO
VIDEO = 1  # folded into the EVALUATE key for the filmed episodes

# From the collection seed (`collect.seed`, the run's seed unless overridden). Episode i of a
# collection is reset with fold_in(fold_in(PRNGKey(seed), COLLECT_RESET), i).
COLLECT_RESET = 0
COLLECT_ACTION = 1  # the expert's own randomness: fold_in the batch's first episode index
COLLECT_MIXTURE = 2  # which demonstrator plays each episode; a biased one's direction: fold_in i

# From an environment's reset key: the actuator-noise stream of `wrappers.ActionNoise`.
ACTION_NOISE = 0x5EED

# The compounding-error study's drift and horizon rollouts use PRNGKey(STUDY_SEED_OFFSET + seed).
STUDY_SEED_OFFSET = 1000


def key(seed: int, stream: int, *indices: int) -> jax.Array:
  """fold_in(PRNGKey(seed), stream), then each of `indices` folded in turn."""
  rng = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
  for index in indices:
    rng = jax.random.fold_in(rng, index)
  return rng
