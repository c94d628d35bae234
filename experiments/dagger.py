"""DAgger: `--config=configs/dagger.py:drive --workdir=DIR [--config.dagger.variant=...]`.

Restarting with the same workdir resumes in the round the run was in.
"""

from experiments import common
from imitation.agents import dagger
from imitation.evaluation import report


def run_dagger(config, workdir):
  results = dagger.train(config, workdir)
  if results:
    print(report.dagger_rounds_table(results))


if __name__ == '__main__':
  common.run(run_dagger)
