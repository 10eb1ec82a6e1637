"""Fixture projects for the doctor's real-engine tests, written into a test's own folder.

``broken_project`` seeds every problem ``devenv doctor`` knows at once; ``clean_project`` has none.
Both take a unique project name; names of external networks/volumes and ports come from the
environment the test passes (``EXT_NET``, ``EXT_VOL``, ``WEB_PORT``, ``OTHER_PORT``, ``CLEAN_PORT``).
"""

from __future__ import annotations

from pathlib import Path

BASE_IMAGE = "devenv-test/base:bookworm"

BROKEN_COMPOSE = """\
# A comment is not interpolated: ${{IN_A_COMMENT:?never required}}
name: {name}
services:
  web:
    image: {base}
    command: ["sleep", "infinity"]
    environment:
      DB_PASSWORD: ${{DB_PASSWORD:?set DB_PASSWORD in .env.dev}}
      NESTED: "${{OPTIONAL:-${{API_TOKEN:?set API_TOKEN}}}}"
      LITERAL: "$${{NOT_A_VARIABLE:?escaped}}"
    ports:
      - "127.0.0.1:${{WEB_PORT:-1}}:8000"
      - "127.0.0.1:${{OTHER_PORT:-2}}:8001"
    volumes:
      - ./missing-dir:/data
      - type: bind
        source: ./missing-file.conf
        target: /etc/app.conf
        bind:
          create_host_path: false
      - data:/var/data
    networks: [default, shared]
    secrets: [token]
    configs: [appconf]
  builder:
    build:
      context: ./nope
  builder2:
    build:
      context: ./app
  ghost:
    image: registry.invalid/devenv/ghost:1
networks:
  shared:
    external: true
    name: ${{EXT_NET:-devenv-doctor-unset-net}}
volumes:
  data:
    external: true
    name: ${{EXT_VOL:-devenv-doctor-unset-vol}}
secrets:
  token:
    file: ./secrets/token.txt
configs:
  appconf:
    file: ./configs/app.ini
"""

BROKEN_DEV_OVERLAY = """\
services:
  web:
    environment:
      CACHE_URL: ${REDIS_URL?set REDIS_URL}
"""


def broken_project(path: Path, name: str) -> Path:
    """Every problem at once; the profile to check is ``dev`` (the default)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "devenv.toml").write_text(
        f'[project]\nname = "{name}"\ncompose_files = ["compose.yml"]\nenv_files = [".env"]\n'
        'default_profile = "dev"\nbogus_key = 1\n'
    )
    (path / "profiles").mkdir()
    (path / "profiles" / "dev.toml").write_text(
        'compose_files = ["compose.dev.yml"]\nenv_files = [".env.dev"]\n\n[readiness]\ntimout = 5\n'
    )
    (path / "profiles" / "staging.toml").write_text('compose_files = ["compose.dev.yml"\nprotected = true\n')
    (path / "compose.yml").write_text(BROKEN_COMPOSE.format(name=name, base=BASE_IMAGE))
    (path / "compose.dev.yml").write_text(BROKEN_DEV_OVERLAY)
    (path / ".env").write_text("# shared\nOPTIONAL=\nLOG_LEVEL=info\n")
    (path / ".env.example").write_text("LOG_LEVEL=info\nFEATURE_FLAGS=\n")
    (path / ".env.dev.example").write_text("# dev settings\nDB_PASSWORD=\nDEBUG=1\n")
    (path / ".env.template").write_text("LOG_LEVEL=debug\nTEMPLATE_ONLY=\n")  # other example names count too
    (path / "app").mkdir()
    (path / "app" / "main.py").write_text("print('no Dockerfile here')\n")
    return path


CLEAN_COMPOSE = """\
name: {name}
services:
  app:
    image: {base}
    command: ["sleep", "infinity"]
    environment:
      GREETING: ${{GREETING:?set GREETING}}
    ports:
      - "127.0.0.1:${{CLEAN_PORT:?set CLEAN_PORT}}:8000"
"""


def clean_project(path: Path, name: str) -> Path:
    """Nothing wrong: a zero-config project (compose.yml + .env + .env.example)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "compose.yml").write_text(CLEAN_COMPOSE.format(name=name, base=BASE_IMAGE))
    (path / ".env").write_text("GREETING=hello\n")
    (path / ".env.example").write_text("GREETING=\n")
    return path
