"""BCO: `--config=configs/bco.py:reach --workdir=DIR [--config.bco.alpha=0]`.

Restarting with the same workdir resumes in the round the run was in.
"""

from experiments import common


def run_bco(config, workdir):
  from imitation.agents import bco  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  results = bco.train(config, workdir)
  if results:
    print(report.bco_rounds_table(results))


def main():
  common.run(run_bco, doc=__doc__, config_file='configs/bco.py')


if __name__ == '__main__':
  main()
