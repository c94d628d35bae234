r"""The compounding-error study: BC given more demos vs DAgger given labels.

  python -m experiments.compounding_error --config=configs/compounding_error.py:drive \
      --workdir=/tmp/study_drive --config.study.bc_demos='(8, 12, 16, 24, 32)'

Every knob is in configs/compounding_error.py (seeds, demo counts, variants, horizons, and the DAgger and
BC settings it shares); WORKDIR gets one sub-workdir per run, the plots, study.md and
results.json. A stopped study resumes: finished runs are reused.
"""

from experiments import common


def study(config, workdir):
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  from imitation.studies import compounding_error  # pylint: disable=g-import-not-at-top
  print(report.study_table(compounding_error.run_study(config, workdir)))


def main():
  common.run(study, doc=__doc__, config_file='configs/compounding_error.py')


if __name__ == '__main__':
  main()
