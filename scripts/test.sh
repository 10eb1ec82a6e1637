#!/usr/bin/env bash
# The whole test suite from a fresh clone (this is the command README.md and .ci/run use):
#   1. provision Docker, Compose v2 and the local test images (scripts/provision.sh; cached);
#   2. create .venv and install devenv with its test extras;
#   3. ruff, mypy, then pytest (unit, CLI and integration tests on the real engine).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/provision.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[test]'

echo "== ruff"
.venv/bin/ruff check devenv tests bench
.venv/bin/ruff format --check devenv tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
