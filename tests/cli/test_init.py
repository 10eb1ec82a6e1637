"""``devenv init`` through the real console script and the real Compose: on each fixture layout
(tests/fixtures/init), the written files give exactly the zero-config profiles (``devenv profiles
--json``) and the same merged config for every profile (``devenv config --json``, before and after);
it refuses to overwrite, ``--force`` replaces, ``--dry-run`` writes nothing; an init'ed project comes
up on the real engine."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import cleanup_project, free_ports, run_devenv, unique_name

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "init"


def _copy(tmp_path: Path, layout: str) -> Path:
    dest = tmp_path / unique_name()
    shutil.copytree(FIXTURES / layout, dest)
    return dest


def _profiles(root: Path) -> dict[str, dict[str, Any]]:
    res = run_devenv(["profiles", "--json"], root)
    assert res.returncode == 0, res.dump()
    return {p["name"]: {k: v for k, v in p.items() if k != "source"} for p in res.json()["profiles"]}


def _configs(root: Path, names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        res = run_devenv(["config", "--profile", name, "--json"], root)
        assert res.returncode == 0, res.dump()
        out[name] = res.stdout
    return out


@pytest.mark.parametrize("layout", ["overlays", "override", "minimal"])
def test_init_reproduces_the_zero_config_profiles(tmp_path: Path, layout: str) -> None:
    root = _copy(tmp_path, layout)
    before = _profiles(root)
    configs = _configs(root, list(before))
    res = run_devenv(["init"], root)
    assert res.returncode == 0, res.dump()
    assert (root / "devenv.toml").is_file()
    assert sorted(p.name for p in (root / "profiles").iterdir()) == sorted(f"{n}.toml" for n in before)
    assert "✔ wrote devenv.toml" in res.stderr
    after = _profiles(root)
    assert after == before
    assert _configs(root, list(after)) == configs  # `devenv config` passes for every profile, unchanged


def test_init_says_what_it_found_and_why(tmp_path: Path) -> None:
    root = _copy(tmp_path, "overlays")
    res = run_devenv(["init"], root)
    assert res.returncode == 0, res.dump()
    err = res.stderr
    assert "profile dev: compose.dev.yml, .env.dev, .env.development" in err
    assert "profile prod, protected" in err and "prod is protected by default" in err
    assert "database: service db, postgres  (image devenv-test/postgres:latest)" in err
    assert "migrations: alembic in service api  (api/alembic.ini is in the bind mount of service api)" in err
    assert "no healthcheck: api  (publishes port 18080" in err
    assert "env file .env.local is not loaded by any profile" in err
    text = (root / "devenv.toml").read_text()
    assert '[database]\n# found: image devenv-test/postgres:latest\nservice = "db"' in text
    assert "protected = true" in (root / "profiles" / "prod.toml").read_text()


def test_init_refuses_to_overwrite_and_force_replaces(tmp_path: Path) -> None:
    root = _copy(tmp_path, "minimal")
    (root / "devenv.toml").write_text("# mine\n")
    res = run_devenv(["init"], root)
    assert res.returncode == 2, res.dump()
    assert "devenv.toml already exists" in res.stderr and "nothing was written" in res.stderr
    assert "--force" in res.stderr
    assert (root / "devenv.toml").read_text() == "# mine\n" and not (root / "profiles").exists()
    forced = run_devenv(["init", "--force"], root)
    assert forced.returncode == 0, forced.dump()
    assert "[project]" in (root / "devenv.toml").read_text()
    assert (root / "profiles" / "default.toml").is_file()
    assert run_devenv(["config"], root).returncode == 0


def test_dry_run_prints_the_files_and_writes_nothing(tmp_path: Path) -> None:
    root = _copy(tmp_path, "override")
    res = run_devenv(["init", "--dry-run"], root)
    assert res.returncode == 0, res.dump()
    assert "# ---- devenv.toml ----" in res.stdout and "# ---- profiles/prod.toml ----" in res.stdout
    assert 'name = "blogsite"' in res.stdout and 'tool = "django"' in res.stdout
    assert not (root / "devenv.toml").exists() and not (root / "profiles").exists()
    assert "nothing was written" in res.stderr


def test_init_without_a_compose_file(tmp_path: Path) -> None:
    res = run_devenv(["init"], tmp_path)
    assert res.returncode == 2, res.dump()
    assert "no compose file" in res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def init_project(tmp_path: Path) -> Iterator[Path]:
    root = _copy(tmp_path, "overlays")
    yield root
    cleanup_project(root.name)


def test_an_initialised_project_comes_up(init_project: Path) -> None:
    root = init_project
    assert run_devenv(["init"], root).returncode == 0
    api, pg = free_ports(2)
    env = {"API_PORT": str(api), "POSTGRES_PORT": str(pg)}
    up = run_devenv(["up", "--profile", "dev", "--json"], root, env=env, timeout=240)
    assert up.returncode == 0, up.dump()
    doc = up.json()
    assert doc["profile"] == "dev" and doc["project"] == root.name
    assert {s["service"] for s in doc["services"] if s["ready"]} == {"db", "api", "worker"}
    status = run_devenv(["status", "--json"], root, env=env)  # default_profile unset: dev exists
    assert status.returncode == 0 and status.json()["profile"] == "dev", status.dump()
    down = run_devenv(["down", "--volumes"], root, env=env)
    assert down.returncode == 0, down.dump()
