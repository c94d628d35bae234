"""Train an imitation-learning agent: `--config=configs/bc.py:reach --workdir=DIR`.

Restarting with the same workdir resumes from its latest checkpoint.
"""

from experiments import common
from imitation import agents
from imitation.evaluation import report
from imitation.training import distributed


def train(config, workdir):
  results = agents.get_trainer(config.algorithm)(config, workdir)
  if distributed.is_writer():
    print(report.expert_vs_learner_table(results))


if __name__ == '__main__':
  common.run(train)
