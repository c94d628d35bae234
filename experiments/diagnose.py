r"""The dataset's and BC's debugging checks as one report: `--config=configs/diagnose.py:TASK`.

  python -m experiments.diagnose --config=configs/diagnose.py:reach --workdir=/tmp/diag \
      --config.data.path=DATASET

Writes WORKDIR/diagnosis.md (a verdict and a suggested change per check), plots, and the
verdicts in WORKDIR/results.json; the per-episode quality scores go next to the dataset
(quality_scores.json), where `--config.data.filter.score=` reads them.
"""

from experiments import common
from imitation.studies import diagnose as diagnose_lib


def diagnose(config, workdir):
  results = diagnose_lib.run_diagnosis(config, workdir)
  print(diagnose_lib.markdown_report(results))


if __name__ == '__main__':
  common.run(diagnose)
