#!/usr/bin/env bash
# From a fresh clone: provision Docker, Compose v2 and local images, install devenv into .venv,
# then run the bundled example stack with `devenv up --profile dev` on locally built images.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/provision.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
export POSTGRES_IMAGE="${POSTGRES_IMAGE:-devenv-test/postgres:latest}"
export APP_IMAGE="${APP_IMAGE:-devenv-test/tasktracker-app:latest}"
exec .venv/bin/devenv up --profile dev "$@"
