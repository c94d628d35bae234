"""The BC-vs-BCO table and figures from runs made one by one (the study command makes them
from its own runs): BC as one vmapped run of the seeds, BCO one run per seed.

  python scripts/bco_figures.py TASK BC_WORKDIR OUT_DIR BCO_WORKDIR...

prints the study's markdown table and writes OUT_DIR/interactions.png and labels.png
(imitation/studies/bco_comparison.py draws both).
"""

import json
import os
import sys

from imitation.studies import bco_comparison


def main(task: str, bc_dir: str, out: str, *bco_dirs: str) -> None:
  with open(os.path.join(bc_dir, 'results.json')) as f:
    bc = json.load(f)['seeds']
  bco = []
  for directory in bco_dirs:
    with open(os.path.join(directory, 'results.json')) as f:
      bco.append(json.load(f))
  record = {**bco_comparison.summarize(bc, bco), 'task': task,
            'seeds': [r['seed'] for r in bco]}
  os.makedirs(out, exist_ok=True)
  bco_comparison.plot_study(record, out)
  print(bco_comparison.study_table(record))
  for results in bco:
    print(f'BCO seed {results["seed"]}:',
          ', '.join(f'round {p["round"]} {p["success_rate"]:.3f}' for p in results['rounds']))
  print('BC per seed:', ', '.join(f'{s["success_rate"]:.3f}' for s in bc))


if __name__ == '__main__':
  if len(sys.argv) < 5:
    sys.exit(__doc__)
  main(*sys.argv[1:])
