#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run all of it:
#   - the package and its test dependencies (pip),
#   - a single-node SLURM with munge (Debian packages; started here, stopped on exit), and
#     chromium, the headless browser the /dasktune page tests use,
#   - the moto S3 server is started by the tests themselves.
# Usage: bash ci/test-all.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
bash ci/install-system.sh
bash ci/slurm.sh start
trap 'bash ci/slurm.sh stop || true' EXIT

python3 -m pytest -q -ra tests "$@"
