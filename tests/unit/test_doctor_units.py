"""``devenv doctor`` where there is no engine and no docker CLI (that is when people run it), and the
configuration reading that collects every problem instead of stopping at the first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from devenv_testlib import run_devenv, unique_name
from doctor_fixtures import broken_project, clean_project

from devenv.config import load_project
from devenv.core.doctor.project import key_line
from devenv.errors import ConfigError

NO_ENGINE = {
    "DOCKER_HOST": "unix:///nonexistent/devenv-test-no-engine.sock",
    "PATH": str(Path(sys.executable).parent),
}


def doctor(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = run_devenv(["doctor", *args], cwd, env={**NO_ENGINE, **(env or {})}, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_config_reading_collects_every_problem_and_strict_reading_still_stops(tmp_path: Path) -> None:
    root = broken_project(tmp_path / "p", unique_name())
    with pytest.raises(ConfigError):
        load_project(root)
    problems: list[ConfigError] = []
    project = load_project(root, problems=problems)
    texts = [p.message for p in problems]
    assert any("bogus_key" in t for t in texts)
    assert any("timout" in t and "did you mean" in t for t in texts)
    assert any(".env.dev" in t and "does not exist" in t for t in texts)
    assert any("staging.toml" in t for t in texts)  # broken TOML: that profile is left out
    assert "staging" not in project.profiles and "dev" in project.profiles
    assert project.profiles["dev"].env_files == (root / ".env",)


def test_key_line_finds_tables_keys_and_inline_tables(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text('[project]\nname = "a"\nbogus = 1\n\n[readiness]\ntimout = 5\n[probes.api]\ntcp = 1\n')
    assert key_line(f, "project.bogus") == 3
    assert key_line(f, "readiness.timout") == 6
    assert key_line(f, "probes.api") == 7
    assert key_line(f, None) is None


def test_doctor_without_engine_or_docker_cli_reports_everything_it_can(tmp_path: Path) -> None:
    root = broken_project(tmp_path / "p", unique_name())
    code, out, err = doctor(root)
    assert code == 1, out + err
    assert "error   engine" in out and "error   compose" in out
    assert 'unknown key "project.bogus_key"' in out and "[devenv.toml:6]" in out
    assert '"readiness.timout"' in out and "[profiles/dev.toml:5]" in out
    assert "[profiles/staging.toml:" in out
    for name, where in (
        ("DB_PASSWORD", "compose.yml:8"),
        ("API_TOKEN", "compose.yml:9"),
        ("REDIS_URL", "compose.dev.yml:4"),
    ):
        assert f"required variable {name} is not set" in out and f"[{where}]" in out, name
    assert "IN_A_COMMENT" not in out and "NOT_A_VARIABLE" not in out
    assert "env file .env.dev does not exist" in out and "cp .env.dev.example .env.dev" in out
    assert "FEATURE_FLAGS is in .env.example" in out
    assert "were not checked: they need Compose v2" in out
    assert "TEMPLATE_ONLY is in .env.template" in out
    assert out.rstrip().splitlines()[-1].startswith("9 errors, 4 warnings")


def test_doctor_json_shape(tmp_path: Path) -> None:
    root = broken_project(tmp_path / "p", unique_name())
    code, out, _err = doctor(root, "--json")
    assert code == 1
    document = json.loads(out)
    assert document["ok"] is False and isinstance(document["findings"], list)
    for finding in document["findings"]:
        assert set(finding) == {"check", "severity", "message", "where", "fix"}
        assert finding["severity"] in ("error", "warning", "ok")
        assert isinstance(finding["check"], str) and isinstance(finding["message"], str)
    assert {"variables", "config", "env-file", "env-example", "engine", "compose"} <= {
        f["check"] for f in document["findings"]
    }


def test_fix_writes_the_missing_env_file_from_its_example_and_never_overwrites(tmp_path: Path) -> None:
    root = broken_project(tmp_path / "p", unique_name())
    shared = (root / ".env").read_text()
    code, out, err = doctor(root, "--fix")
    assert code == 1  # the rest is still broken
    assert "fixed: wrote .env.dev from .env.dev.example; fill in: DB_PASSWORD, API_TOKEN, REDIS_URL" in err
    written = (root / ".env.dev").read_text()
    assert written.startswith("# dev settings\nDB_PASSWORD=\nDEBUG=1\n")
    assert "API_TOKEN=\nREDIS_URL=\n" in written
    assert (root / ".env").read_text() == shared
    assert "env file .env.dev does not exist" not in out
    (root / ".env.dev").write_text("DB_PASSWORD=mine\n")
    code, _out, err = doctor(root, "--fix")
    assert (root / ".env.dev").read_text() == "DB_PASSWORD=mine\n"
    assert "wrote" not in err


def test_doctor_outside_any_project(tmp_path: Path) -> None:
    code, out, _err = doctor(tmp_path)
    assert code == 1
    assert "error   config" in out and "no devenv.toml or compose file" in out


def test_a_clean_project_has_no_configuration_findings_without_an_engine(tmp_path: Path) -> None:
    root = clean_project(tmp_path / "c", unique_name())
    code, out, _err = doctor(root, "--json", "--profile", "default", env={"CLEAN_PORT": "18123"})
    document = json.loads(out)
    errors = [f for f in document["findings"] if f["severity"] == "error"]
    assert {f["check"] for f in errors} == {"engine", "compose"}, errors
    assert code == 1


def test_zero_config_missing_dot_env_next_to_its_example_is_named_and_fixed(tmp_path: Path) -> None:
    # compose.yml + compose.dev.yml + .env.development, and a .env.example nobody copied yet: the dev
    # profile loads .env first when it exists, so doctor names it and --fix copies the example.
    root = tmp_path / unique_name()
    root.mkdir()
    (root / "compose.yml").write_text("services:\n  api:\n    image: x\n    environment:\n      T: ${API_TOKEN}\n")
    (root / "compose.dev.yml").write_text("services:\n  api:\n    environment:\n      DEBUG: '1'\n")
    (root / ".env.development").write_text("DEBUG=1\n")
    (root / ".env.example").write_text("# shared settings\nAPI_TOKEN=\nLOG_LEVEL=info\n")
    _code, out, _err = doctor(root, "--profile", "dev")
    assert "warning env-file" in out and "env file .env does not exist (every profile loads it first" in out, out
    assert "cp .env.example .env" in out
    assert "API_TOKEN is in .env.example" not in out  # one finding for the file, not one per key
    _code, _out, err = doctor(root, "--profile", "dev", "--fix")
    assert "fixed: wrote .env from .env.example" in err, err
    assert (root / ".env").read_text().startswith("# shared settings\nAPI_TOKEN=\nLOG_LEVEL=info\n")
    assert load_project(root).profiles["dev"].env_files[0] == root / ".env"  # now loaded by the profile
    _code, out, _err = doctor(root, "--profile", "dev")
    assert "env file .env does not exist" not in out


def test_compose_v1_alone_is_named_with_the_fix(tmp_path: Path) -> None:
    root = clean_project(tmp_path / "p", unique_name())
    fake = tmp_path / "bin"
    fake.mkdir()
    v1 = fake / "docker-compose"
    v1.write_text('#!/bin/sh\nif [ "$1 $2" = "version --short" ]; then echo 1.29.2; exit 0; fi\nexit 1\n')
    v1.chmod(0o755)
    _code, out, _err = doctor(root, env={"PATH": f"{fake}:{Path(sys.executable).parent}"})
    line = next(x for x in out.splitlines() if x.startswith("error   compose"))
    assert "only Compose v1 (docker-compose 1.29.2) is installed; devenv needs v2" in line, out
    assert "Install the Compose v2 CLI plugin" in out
