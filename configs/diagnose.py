"""The debugging checks of a dataset and of BC on it, as one report (imitation/studies/diagnose.py).

  python -m experiments.diagnose --config=configs/diagnose.py:reach --workdir=/tmp/diag \
      --config.data.path=DATASET

Args after the colon: as configs/bc.py (a task or preset, then optional `debug`); the
`diagnose` section holds each check's knobs and the thresholds of its verdict.
"""

import ml_collections

from configs import bc


PRESETS = bc.PRESETS  # accepted after the colon, as configs/bc.py takes them


def get_config(arg: str = 'reach') -> ml_collections.ConfigDict:
  config = bc.get_config(arg)
  config.algorithm = 'diagnose'
  config.diagnose = ml_collections.ConfigDict(dict(
      checks=('quality', 'action_space', 'capacity', 'execution', 'compounding'),
      # Policies fitted for the checks: updates each (all in one vmapped program).
      num_steps=4000,
      num_episodes=128,  # closed-loop episodes per evaluation
      worst_episodes=8,  # replayed into worst_episodes.gif (by the quality check's score)
      # action_space: at most this many distinct values per dimension reads as discrete;
      # |a| >= saturation counts as saturated; flags above these shares.
      discrete_max_values=32, saturation=0.99, max_saturated=0.2, max_outside=0.01,
      # multimodality: a mixture (components no wider than mixture_max_scale) fitted to
      # the training episodes; flagged when at more than multimodal_share of (up to
      # num_anchors) held-out states its mean action is mode_to_mean_likelihood times less
      # likely than its mode (measured by diagnose: 53% on grasp_multimodal, 9.9% on reach).
      num_anchors=1024, mixture_max_scale=0.25, mode_to_mean_likelihood=10.0,
      multimodal_share=0.25,
      # capacity: normalised action MSE on memorize_episodes episodes it trained on;
      # overfitting: held-out / training error ratio and the success gap between
      # training and held-out starts.
      memorize_episodes=4, memorize_mse=0.05, overfit_ratio=3.0, overfit_success_gap=0.2,
      # execution: actuator noise std as a share of the action range.
      noise_levels=(0.0, 0.05, 0.1), noise_success_drop=0.1,
      # compounding: action error on its own states over that on the expert's, flagged
      # when the policy's success is also this far below the expert's.
      compounding_ratio=3.0, compounding_success_gap=0.1,
  ))
  config.data.holdout_fraction = 0.2
  if config.train.num_steps <= 100:  # debug: small fits
    config.diagnose.num_steps = 100
    config.diagnose.num_episodes = 16
    config.diagnose.num_anchors = 64
  return config
