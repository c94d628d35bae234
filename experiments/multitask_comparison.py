r"""Single-task policies vs one multi-task policy, per task, over seeds (the reference comparison).

  python -m experiments.multitask_comparison --config=configs/multitask_comparison.py:tabletop_film \
      --workdir=/tmp/mt_study

Every knob is in configs/multitask_comparison.py (seeds, tasks, demos per task, loss-weight rules)
and configs/multitask.py; WORKDIR gets the per-task datasets (data/), one sub-workdir per
run, comparison.md, comparison.png and results.json. A stopped study resumes.
"""

from experiments import common


def study(config, workdir):
  from imitation.studies import multitask_comparison  # pylint: disable=g-import-not-at-top
  print(multitask_comparison.comparison_table(multitask_comparison.run_study(config, workdir)))


def main():
  common.run(study, doc=__doc__, config_file='configs/multitask_comparison.py')


if __name__ == '__main__':
  main()
