"""``devenv init``'s detection and files on the fixture layouts (tests/fixtures/init), without Compose:
the compose config comes from the YAML files (the fallback detection uses when Compose fails)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devenv.config import load_project
from devenv.core.scaffold import detect, render, verify
from devenv.core.scaffold.detect import InitPlan
from devenv.core.scaffold.probes import Published, ports
from devenv.core.scaffold.yamlmodel import yaml_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "init"


def _yaml_reader(project: Any, profile: Any) -> Mapping[str, Any]:
    return yaml_config(profile.compose_files)


def _copy(tmp_path: Path, layout: str, name: str | None = None) -> Path:
    dest = tmp_path / (name or layout)
    shutil.copytree(FIXTURES / layout, dest)
    return dest


def _plan(root: Path, environ: Mapping[str, str] | None = None) -> InitPlan:
    return detect(root, environ or {}, reader=_yaml_reader)


def _write(plan: InitPlan) -> dict[str, str]:
    files = render(plan)
    for rel, text in files.items():
        (plan.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (plan.root / rel).write_text(text)
    return files


def test_overlays_layout(tmp_path: Path) -> None:
    plan = _plan(_copy(tmp_path, "overlays", "shop"))
    assert (plan.name, plan.name_pinned) == ("shop", False)
    assert plan.base_files == ("compose.yml",) and plan.common_env == (".env",)
    by_name = {p.name: p for p in plan.profiles}
    assert list(by_name) == ["default", "dev", "prod", "staging"]
    assert by_name["default"].overlays == () and by_name["default"].env_files == ()
    assert by_name["dev"].overlays == ("compose.dev.yml",)
    assert by_name["dev"].env_files == (".env.dev", ".env.development")  # short, then long form
    assert by_name["prod"].env_files == (".env.prod", ".env.production") and by_name["prod"].protected
    assert by_name["staging"].overlays == ("compose.staging.yaml",) and by_name["staging"].env_files == ()
    assert not by_name["staging"].protected and "no .env.staging" in by_name["staging"].why
    assert plan.database is not None and (plan.database.service, plan.database.engine) == ("db", "postgres")
    assert plan.migrations is not None and (plan.migrations.service, plan.migrations.tool) == ("api", "alembic")
    assert plan.migrations.why == "api/alembic.ini is in the bind mount of service api"
    hints = {h.service: h for h in plan.probes}
    assert sorted(hints) == ["api", "worker"]  # db has a healthcheck
    assert 'http = "http://127.0.0.1:18080/"' in hints["api"].toml
    assert "no port" in hints["worker"].reason
    assert plan.unused_env_files == (".env.local",)  # .env.example is a template, not a forgotten file


def test_override_layout_with_django_and_a_pinned_name(tmp_path: Path) -> None:
    plan = _plan(_copy(tmp_path, "override", "blog"))
    assert (plan.name, plan.name_pinned) == ("blogsite", True)  # COMPOSE_PROJECT_NAME in .env
    assert plan.base_files == ("docker-compose.yml",)
    by_name = {p.name: p for p in plan.profiles}
    assert list(by_name) == ["default", "prod"]
    assert by_name["default"].overlays == ("docker-compose.override.yml",)
    assert by_name["prod"].overlays == ("docker-compose.prod.yml",)  # without the override, as `-f` does
    assert by_name["prod"].env_files == (".env.production",) and by_name["prod"].protected
    assert plan.database is not None and (plan.database.service, plan.database.engine) == ("mariadb", "mariadb")
    assert plan.migrations is not None and (plan.migrations.service, plan.migrations.tool) == ("web", "django")
    assert "build context" in plan.migrations.why
    hints = {h.service: h for h in plan.probes}
    assert 'cmd = ["redis-cli", "ping"]' in hints["cache"].toml
    assert any("mariadb-admin" in line for line in hints["mariadb"].compose)
    assert 'http = "http://127.0.0.1:8000/"' in hints["web"].toml  # "8000:8000" binds every address


def test_minimal_layout(tmp_path: Path) -> None:
    plan = _plan(_copy(tmp_path, "minimal"))
    assert plan.name == "tiny" and not plan.name_pinned and "name:" in plan.name_why
    assert [p.name for p in plan.profiles] == ["default"] and plan.common_env == ()
    assert plan.database is None and plan.migrations is None
    (hint,) = plan.probes
    assert hint.service == "hello" and "tcp = 9000" in hint.toml


@pytest.mark.parametrize("layout", ["overlays", "override", "minimal"])
def test_written_files_give_the_zero_config_profiles(tmp_path: Path, layout: str) -> None:
    root = _copy(tmp_path, layout)
    zero = load_project(root, environ={})
    plan = _plan(root)
    files = _write(plan)
    assert set(files) == {"devenv.toml", *(f"profiles/{n}.toml" for n in zero.profiles)}
    for text in files.values():
        tomllib.loads(text)  # valid TOML
    assert verify(plan, root) == []
    written = load_project(root, environ={})
    assert not written.zero_config and written.name == zero.name
    for name, want in zero.profiles.items():
        got = written.profiles[name]
        assert (got.compose_files, got.env_files, got.protected, got.description) == (
            want.compose_files,
            want.env_files,
            want.protected,
            want.description,
        )
    if plan.database is not None:
        assert written.profiles["default"].database.service == plan.database.service
    if plan.migrations is not None:
        assert written.profiles["default"].migrations.tool == plan.migrations.tool


def test_the_suggested_probes_are_valid_config_once_uncommented(tmp_path: Path) -> None:
    root = _copy(tmp_path, "override")
    plan = _plan(root)
    files = _write(plan)
    lines = files["devenv.toml"].splitlines()
    uncommented: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("# [probes."):
            uncommented.append(line[2:])
            for follow in lines[i + 1 :]:
                if not follow.startswith("# ") or follow.startswith(("# [", "#   ")) or follow == "#":
                    break
                uncommented.append(follow[2:])
    assert len([u for u in uncommented if u.startswith("[probes.")]) == 3
    (root / "devenv.toml").write_text(files["devenv.toml"] + "\n" + "\n".join(uncommented) + "\n")
    probes = load_project(root, environ={}).profiles["default"].probes
    assert probes["web"].http == "http://127.0.0.1:8000/"
    assert probes["cache"].cmd == ("redis-cli", "ping")


def test_a_shell_compose_project_name_is_not_written(tmp_path: Path) -> None:
    plan = _plan(_copy(tmp_path, "minimal"), {"COMPOSE_PROJECT_NAME": "fromshell"})
    assert plan.name == "tiny" and not plan.name_pinned
    assert any("COMPOSE_PROJECT_NAME=fromshell" in n for n in plan.notes)


def test_several_databases_are_not_guessed(tmp_path: Path) -> None:
    root = tmp_path / "two"
    root.mkdir()
    (root / "compose.yml").write_text(
        "services:\n  a:\n    image: postgres:16\n  b:\n    image: mysql:8\n    environment:\n      MYSQL_DATABASE: x\n"
    )
    plan = _plan(root)
    assert plan.database is None
    assert any("several services look like databases (a, b)" in n for n in plan.notes)
    assert "# [database]" in render(plan)["devenv.toml"]


def test_a_database_only_in_one_profile_goes_to_that_profile(tmp_path: Path) -> None:
    root = tmp_path / "split"
    root.mkdir()
    (root / "compose.yml").write_text("services:\n  app:\n    image: busybox\n")
    (root / "compose.dev.yml").write_text("services:\n  pg:\n    image: postgres:16\n")
    plan = _plan(root)
    assert plan.database is None
    dev = next(p for p in plan.profiles if p.name == "dev")
    assert dev.database is not None and dev.database.service == "pg"
    files = _write(plan)
    assert 'service = "pg"' in files["profiles/dev.toml"]
    assert load_project(root, environ={}).profiles["dev"].database.service == "pg"
    assert load_project(root, environ={}).profiles["default"].database.service is None


def test_the_compose_failure_note_is_reported(tmp_path: Path) -> None:
    root = _copy(tmp_path, "minimal")

    def failing(project: Any, profile: Any) -> Mapping[str, Any]:
        return yaml_config(profile.compose_files, note="`docker compose config` failed (boom)")

    plan = detect(root, {}, reader=failing)
    assert any("failed (boom)" in n and "read the YAML files themselves" in n for n in plan.notes)
    assert plan.probes  # detection still ran, on the YAML


def test_no_compose_file_is_a_config_error(tmp_path: Path) -> None:
    from devenv.errors import ConfigError

    with pytest.raises(ConfigError, match="no compose file"):
        detect(tmp_path, {}, reader=_yaml_reader)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("127.0.0.1:8080:80", Published("127.0.0.1", 8080, 80, "tcp")),
        ("8080:80/udp", Published("", 8080, 80, "udp")),
        ("80", Published("", None, 80, "tcp")),
        ("[::1]:8080:80", Published("::1", 8080, 80, "tcp")),
        ({"target": 80, "published": "8080", "host_ip": "0.0.0.0"}, Published("0.0.0.0", 8080, 80, "tcp")),
    ],
)
def test_ports_in_both_forms(item: object, expected: Published) -> None:
    assert ports({"ports": [item]}) == [expected]


def test_yaml_fallback_resolves_paths_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        "services:\n  api:\n    image: ${IMG:-python:3}\n    build: ./api\n    volumes:\n      - ./src:/srv\n"
        "      - data:/data\n    depends_on: [db]\n"
    )
    raw = yaml_config([tmp_path / "compose.yml"])
    api = raw["services"]["api"]
    assert api["image"] == "python:3"
    assert api["build"]["context"] == str(tmp_path / "api")
    assert api["volumes"][0] == {"type": "bind", "source": str(tmp_path / "src"), "target": "/srv"}
    assert api["volumes"][1]["type"] == "volume"
    assert api["depends_on"] == {"db": {"condition": "service_started"}}
