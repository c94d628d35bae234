"""DAgger: `--config=configs/dagger.py:drive --workdir=DIR [--config.dagger.variant=...]`.

Restarting with the same workdir resumes in the round the run was in.
"""

from experiments import common


def run_dagger(config, workdir):
  from imitation.agents import dagger  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  results = dagger.train(config, workdir)
  if results:
    print(report.dagger_rounds_table(results))


def main():
  common.run(run_dagger, doc=__doc__, config_file='configs/dagger.py')


if __name__ == '__main__':
  main()
