r"""Evaluate a trained policy beside the expert and write videos and plots.

  python -m experiments.evaluate --config=configs/bc.py:reach --workdir=/tmp/bc_reach

Reads WORKDIR/policy (or --config.eval.policy_dir) and writes results.json, policy.gif,
expert.gif and learning_curve.png into WORKDIR/evaluation, on episodes of their own (not
those of training's final evaluation). `--config.eval.policy_dir=expert` films and
scores the expert alone, e.g. to look at a task:

  python -m experiments.evaluate --config=configs/bc.py:push --workdir=/tmp/look_push \
      --config.eval.policy_dir=expert
"""

from experiments import common


def evaluate(config, workdir):
  from imitation.evaluation import evaluate as evaluate_lib  # pylint: disable=g-import-not-at-top
  from imitation.evaluation import report  # pylint: disable=g-import-not-at-top
  results = evaluate_lib.evaluate(config, workdir)
  if results['policy_dir'] == 'expert':
    print(f'{results["task"]}: expert success {results["expert_success_rate"]:.3f}, '
          f'mean return {results["expert_mean_return"]:.2f} '
          f'over {results["num_eval_episodes"]} episodes')
  else:
    print(report.expert_vs_learner_table(
        results, label='policy',
        header=f'{results["task"]}: {results["policy_dir"]} on {results["num_eval_episodes"]} episodes',
    ))
  for path in results['files']:
    print('wrote', path)


def main():
  common.run(evaluate, doc=__doc__, config_file='configs/bc.py')


if __name__ == '__main__':
  main()
