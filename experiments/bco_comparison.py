r"""The BCO study: BC with actions vs BCO(0) and BCO(alpha) without them, over seeds.

  python -m experiments.bco_comparison --config=configs/bco_comparison.py:reach \
      --workdir=/tmp/bco_study_reach

Every knob is in configs/bco_comparison.py (seeds) and configs/bco.py (BCO's); WORKDIR gets
one sub-workdir per run, study.md, interactions.png, labels.png and results.json. A
stopped study resumes: finished runs are reused.
"""

from experiments import common


def study(config, workdir):
  from imitation.studies import bco_comparison  # pylint: disable=g-import-not-at-top
  print(bco_comparison.study_table(bco_comparison.run_study(config, workdir)))


def main():
  common.run(study, doc=__doc__, config_file='configs/bco_comparison.py')


if __name__ == '__main__':
  main()
