r"""The source's tables on one manipulation family: BC (single- and multi-task, state and
images), BC + DAgger at every round's label budget, a diffusion policy with action chunks and
BCO, over seeds, all scored by one protocol.

  python -m experiments.source_tables --config=configs/source_tables.py --workdir=/tmp/source_tables

Every knob is in configs/source_tables.py (seeds, rows, the evaluation protocol, and the BC,
DAgger and BCO settings every row shares); WORKDIR gets one sub-workdir per run, the
protocol's scores (evaluations/), tables.md, compounding.png and results.json. A stopped
study resumes; a finished one reruns without training and reprints the same tables.
"""

from experiments import common


def study(config, workdir):
  from imitation.studies import source_tables  # pylint: disable=g-import-not-at-top
  print(source_tables.tables(source_tables.run_study(config, workdir)))


def main():
  common.run(study, doc=__doc__, config_file='configs/source_tables.py')


if __name__ == '__main__':
  main()
