r"""Single-task policies vs one multi-task policy, per task, over seeds (the reference comparison).

  python -m experiments.multitask_comparison --config=configs/multitask_study.py:tabletop_film \
      --workdir=/tmp/mt_study

Every knob is in configs/multitask_study.py (seeds, tasks, demos per task, loss-weight rules)
and configs/multitask.py; WORKDIR gets the per-task datasets (data/), one sub-workdir per
run, comparison.md, comparison.png and results.json. A stopped study resumes.
"""

from experiments import common
from imitation.studies import multitask_comparison


def study(config, workdir):
  print(multitask_comparison.comparison_table(multitask_comparison.run_study(config, workdir)))


if __name__ == '__main__':
  common.run(study)
