"""Train an imitation-learning agent: `--config=configs/bc.py:reach --workdir=DIR`.

Restarting with the same workdir resumes from its latest checkpoint.
"""

import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from imitation import agents
from imitation import console
from imitation.errors import ImitationError
from imitation.evaluation import report

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file:arg.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints and results.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  console.quiet_third_party_logs()
  config = _CONFIG.value
  try:
    results = agents.get_trainer(config.algorithm)(config, _WORKDIR.value)
  except ImitationError as e:
    sys.exit(f'error: {e}')
  print(report.expert_vs_learner_table(results))


if __name__ == '__main__':
  app.run(main)
