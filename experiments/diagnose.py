r"""The dataset's and BC's debugging checks as one report: `--config=configs/diagnose.py:TASK`.

  python -m experiments.diagnose --config=configs/diagnose.py:reach --workdir=/tmp/diag \
      --config.data.path=DATASET

Writes WORKDIR/diagnosis.md (a verdict and a suggested change per check), plots, and the
verdicts in WORKDIR/results.json; the per-episode quality scores go next to the dataset
(quality_scores.json), where `--config.data.filter.score=` reads them.
"""

from experiments import common


def diagnose(config, workdir):
  from imitation.studies import diagnose as diagnose_lib  # pylint: disable=g-import-not-at-top
  results = diagnose_lib.run_diagnosis(config, workdir)
  print(diagnose_lib.markdown_report(results))


def main():
  common.run(diagnose, doc=__doc__, config_file='configs/diagnose.py')


if __name__ == '__main__':
  main()
