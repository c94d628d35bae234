"""Train an imitation-learning agent: `--config=configs/bc.py:reach --workdir=DIR`.

Restarting with the same workdir resumes from its latest checkpoint.
"""

from experiments import common


def train(config, workdir):
  from imitation import agents  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  from imitation.training import distributed  # pylint: disable=g-import-not-at-top
  results = agents.get_trainer(config.algorithm)(config, workdir)
  if distributed.is_writer():
    print(report.expert_vs_learner_table(results))


def main():
  common.run(train, doc=__doc__, config_file='configs/bc.py')


if __name__ == '__main__':
  main()
