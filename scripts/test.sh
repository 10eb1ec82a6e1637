#!/usr/bin/env bash
# The whole test suite from a fresh clone (this is the command README.md and .ci/run use). It fails
# fast: the checks that need no Docker run before anything is provisioned.
#   fast lane:   create .venv and install devenv with its test extras; ruff; mypy;
#                pytest tests/unit and tests/tui's fake-core Pilot and snapshot tests (no Docker);
#   then         scripts/provision.sh (Docker, Compose v2, the local test images; cached);
#   docker lane: pytest tests/cli tests/integration tests/tui/integration (marked `docker`, real engine), in one
#                process: with pytest-xdist (-n 2 --dist loadfile) the lane was not faster on a
#                2-core machine (the engine and the containers are the bottleneck, not pytest).
# With arguments, a one-off run: ruff and mypy, then provisioning, then only `pytest ARGS`,
# e.g. `scripts/test.sh tests/unit -x` or `scripts/test.sh tests/cli/test_cli_errors.py`.
# pytest's exit code 5 (no tests collected) counts as a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
step() { printf '== %s (%ds)\n' "$*" "$((SECONDS - started))" >&2; }

pytest_lane() {  # pytest_lane ARGS...: pytest, with "no tests ran" (exit 5) as a failure
  local rc=0
  .venv/bin/pytest "$@" || rc=$?
  if [ "$rc" = 5 ]; then
    printf 'scripts/test.sh: pytest collected no tests (%s): that is a failure\n' "$*" >&2
  fi
  return "$rc"
}

step "venv"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[test]'

step "ruff"
.venv/bin/ruff check devenv tests bench
.venv/bin/ruff format --check devenv tests bench
step "mypy"
.venv/bin/mypy

if [ "$#" -gt 0 ]; then
  step "provision"
  ./scripts/provision.sh
  step "pytest $*"
  pytest_lane "$@"
  step "done"
  exit 0
fi

step "pytest tests/unit tests/tui (fast lane, no Docker)"
# As on a fresh CI machine, where no daemon runs yet at this point: a fast-lane test that reaches for
# an engine fails here too, not only there.
DOCKER_HOST=unix:///nonexistent/devenv-fast-lane.sock pytest_lane -q tests/unit tests/tui -m "not docker"

step "provision"
./scripts/provision.sh

step "pytest tests/cli tests/integration tests/tui/integration (docker lane)"
pytest_lane tests/cli tests/integration tests/tui/integration
step "done"
