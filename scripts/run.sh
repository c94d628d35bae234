#!/usr/bin/env bash
# Runs an entry point in the project's environment, creating the environment first if it is
# missing (scripts/setup.sh). From the repository root:
#   bash scripts/run.sh experiments.train --config=configs/bc.py:reach --workdir=/tmp/bc_reach
# The first argument is the module (experiments.train, experiments.dagger, experiments.collect,
# experiments.evaluate, experiments.compounding_error, benchmarks.*); the rest are its flags,
# with paths taken relative to the directory you run it from.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: bash scripts/run.sh MODULE [FLAGS...], e.g. experiments.train --config=... --workdir=..." >&2
  exit 2
fi
REPO="$(cd "$(dirname "$0")/.." && pwd)"
bash "$REPO/scripts/setup.sh"
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "$REPO/.venv/bin/python" -m "$@"
