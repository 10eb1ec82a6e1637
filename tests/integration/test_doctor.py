"""``devenv doctor`` on the real engine: a project with every problem at once, ``--fix``, ``--json``,
a clean project (also while its own stack runs), and ``devenv up`` naming every missing variable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from devenv_testlib import BASE_IMAGE, cleanup_project, docker, free_ports, run_devenv, unique_name, wait_for
from doctor_fixtures import broken_project, clean_project


@dataclass
class Seeded:
    root: Path
    name: str
    env: dict[str, str]
    http_pid: int
    holder: str  # the other project's container

    def doctor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_devenv(["doctor", *args], self.root, env=self.env, timeout=120)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    name = unique_name()
    other = unique_name()
    web_port, other_port = free_ports(2)
    env = {"EXT_NET": f"{name}-net", "EXT_VOL": f"{name}-vol", "WEB_PORT": str(web_port), "OTHER_PORT": str(other_port)}
    root = broken_project(tmp_path / name, name)
    http = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(web_port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    holder = f"{other}-holder"
    try:
        docker(
            "run", "-d", "--name", holder,
            "--label", f"com.docker.compose.project={other}", "--label", "com.docker.compose.service=holder",
            "-p", f"127.0.0.1:{other_port}:80", BASE_IMAGE, "sleep", "600",
            check=True,
        )  # fmt: skip
        wait_for(lambda: _listening(web_port), 20, "the http.server to listen")
        yield Seeded(root, name, env, http.pid, holder)
    finally:
        http.terminate()
        http.wait(timeout=10)
        cleanup_project(other)
        docker("network", "rm", env["EXT_NET"])
        docker("volume", "rm", env["EXT_VOL"])


def findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    document = json.loads(result.stdout)
    assert set(document) >= {"ok", "findings"}
    for finding in document["findings"]:
        assert set(finding) == {"check", "severity", "message", "where", "fix"}, finding
        assert finding["severity"] in ("error", "warning", "ok")
    return list(document["findings"])


def one(found: list[dict[str, str]], check: str, text: str) -> dict[str, str]:
    hits = [f for f in found if f["check"] == check and text in f["message"]]
    assert len(hits) == 1, f"{check} / {text!r}: {hits or [f for f in found if f['check'] == check]}"
    return hits[0]


def test_every_seeded_problem_is_named_at_once_with_where_and_fix(seeded: Seeded) -> None:
    result = seeded.doctor("--json")
    assert result.returncode == 1, result.stderr
    found = findings(result)
    assert json.loads(result.stdout)["ok"] is False
    for check in ("engine", "compose", "context", "disk"):
        assert any(f["check"] == check and f["severity"] == "ok" for f in found), check
    # configuration: every problem, not the first
    assert one(found, "config", "bogus_key")["where"] == "devenv.toml:6"
    assert one(found, "config", "readiness.timout")["where"] == "profiles/dev.toml:5"
    assert one(found, "config", "Unclosed array")["where"].startswith("profiles/staging.toml:")
    # required variables in two files, one nested in a default
    assert one(found, "variables", "DB_PASSWORD")["where"] == "compose.yml:8"
    assert one(found, "variables", "API_TOKEN")["where"] == "compose.yml:9"
    assert one(found, "variables", "REDIS_URL")["where"] == "compose.dev.yml:4"
    # which env files were read (Compose names one variable per try, and not where it looked)
    assert "(read: .env, then the environment)" in one(found, "variables", "DB_PASSWORD")["message"]
    assert not [f for f in found if "IN_A_COMMENT" in f["message"] or "NOT_A_VARIABLE" in f["message"]]
    # env files and examples
    env_file = one(found, "env-file", ".env.dev does not exist")
    assert env_file["severity"] == "error" and "cp .env.dev.example .env.dev" in env_file["fix"]
    assert one(found, "env-example", "FEATURE_FLAGS")["where"] == ".env.example:2"
    assert one(found, "env-example", "TEMPLATE_ONLY")["where"] == ".env.template:2"
    # ports: a host process and another project's container
    http = one(found, "ports", f"127.0.0.1:{seeded.env['WEB_PORT']}")
    assert f"process {seeded.http_pid} (" in http["message"] and "http.server" in http["message"]
    held = one(found, "ports", f"127.0.0.1:{seeded.env['OTHER_PORT']}")
    assert f"container {seeded.holder}" in held["message"] and "service 'holder'" in held["message"]
    # engine resources
    network = one(found, "network", seeded.env["EXT_NET"])
    assert network["severity"] == "error" and network["fix"].startswith(
        f"docker network create {seeded.env['EXT_NET']}"
    )
    volume = one(found, "volume", seeded.env["EXT_VOL"])
    assert volume["severity"] == "error" and volume["fix"] == f"docker volume create {seeded.env['EXT_VOL']}"
    # files, builds, images
    assert one(found, "secret", "secrets/token.txt")["severity"] == "error"
    assert one(found, "bind-mount", "missing-file.conf")["severity"] == "error"
    assert one(found, "bind-mount", "missing-dir")["severity"] == "warning"
    assert one(found, "build", "build context nope")["severity"] == "error"
    assert one(found, "build", "Dockerfile app/Dockerfile")["severity"] == "error"
    ghost = one(found, "image", "registry.invalid/devenv/ghost:1")
    assert ghost["severity"] == "error" and ghost["where"] == "compose.yml:32"
    assert one(found, "config-source", "configs/app.ini")["severity"] == "error"
    # nothing was started or created
    assert docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={seeded.name}").stdout.strip() == ""
    assert docker("network", "inspect", seeded.env["EXT_NET"]).returncode != 0


def test_text_output_one_line_per_finding_and_exit_code(seeded: Seeded) -> None:
    result = seeded.doctor()
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"devenv doctor: project {seeded.name}, profile dev")
    body = lines[1:-1]
    assert all(line.split()[0] in ("ok", "warning", "error") for line in body), body
    assert any(line.startswith("error   variables") and "[compose.dev.yml:4]" in line for line in body)
    assert "`devenv doctor --fix` can fix 2" in lines[-1]


def test_fix_creates_the_network_copies_the_env_file_and_overwrites_nothing(seeded: Seeded) -> None:
    shared = (seeded.root / ".env").read_text()
    result = seeded.doctor("--fix", "--json")
    document = json.loads(result.stdout)
    done = {(f["fix"], f["done"]) for f in document["fixed"]}
    assert done == {("network", True), ("env-file", True)}, document["fixed"]
    assert f"fixed: created network {seeded.env['EXT_NET']}" in result.stderr
    assert "fixed: wrote .env.dev from .env.dev.example; fill in: DB_PASSWORD, API_TOKEN, REDIS_URL" in result.stderr
    assert docker("network", "inspect", seeded.env["EXT_NET"]).returncode == 0
    assert (seeded.root / ".env").read_text() == shared
    written = (seeded.root / ".env.dev").read_text()
    assert "DB_PASSWORD=\nDEBUG=1\n" in written and "API_TOKEN=\nREDIS_URL=\n" in written
    after = findings(result)  # the report after the fixes
    assert one(after, "network", seeded.env["EXT_NET"])["severity"] == "ok"
    assert not [f for f in after if f["check"] == "env-file"]
    assert docker("volume", "inspect", seeded.env["EXT_VOL"]).returncode != 0  # volumes are not "safe"
    (seeded.root / ".env.dev").write_text("DB_PASSWORD=mine\n")
    again = seeded.doctor("--fix")
    assert "nothing to fix automatically" in again.stderr
    assert (seeded.root / ".env.dev").read_text() == "DB_PASSWORD=mine\n"


@pytest.fixture()
def clean(tmp_path: Path) -> Iterator[tuple[Path, str, dict[str, str]]]:
    name = unique_name()
    root = clean_project(tmp_path / name, name)
    env = {"CLEAN_PORT": str(free_ports(1)[0])}
    try:
        yield root, name, env
    finally:
        cleanup_project(name)


def test_a_clean_project_has_no_errors_even_while_its_own_stack_holds_its_ports(
    clean: tuple[Path, str, dict[str, str]],
) -> None:
    root, _name, env = clean
    before = run_devenv(["doctor", "--json"], root, env=env, timeout=120)
    assert before.returncode == 0, before.stdout
    assert [f for f in findings(before) if f["severity"] == "error"] == []
    assert json.loads(before.stdout)["ok"] is True
    up = run_devenv(["up", "--timeout", "60"], root, env=env, timeout=120)
    assert up.returncode == 0, up.stderr
    wait_for(lambda: _listening(int(env["CLEAN_PORT"])), 10, "the stack's own container to hold its port")
    during = run_devenv(["doctor", "--json"], root, env=env, timeout=120)
    assert during.returncode == 0, during.stdout
    assert one(findings(during), "ports", "every published port is free")["severity"] == "ok"


def test_up_names_every_missing_variable_at_once(tmp_path: Path) -> None:
    name = unique_name()
    root = tmp_path / name
    root.mkdir()
    (root / "compose.yml").write_text(
        f"name: {name}\nservices:\n  a:\n    image: {BASE_IMAGE}\n    command: [sleep, infinity]\n"
        "    environment:\n      X: ${FIRST_VAR:?set FIRST_VAR}\n      Y: ${OK:-${SECOND_VAR:?nested}}\n"
    )
    (root / "compose.extra.yml").write_text("services:\n  a:\n    environment:\n      Z: ${THIRD_VAR?third}\n")
    (root / ".env").write_text("OK=1\n")
    try:
        for args in (["up"], ["config"], ["down"]):
            result = run_devenv([*args, "--profile", "extra"], root, timeout=120)
            assert result.returncode == 2, result.stderr
            assert "3 required variables of profile 'extra' are not set (env files read: .env;" in result.stderr
            for line in ("FIRST_VAR  required at compose.yml:7", "SECOND_VAR  required at compose.yml:8",
                         "THIRD_VAR  required at compose.extra.yml:4: third"):  # fmt: skip
                assert line in result.stderr, (args, result.stderr)
        as_json = run_devenv(["up", "--profile", "extra", "--json"], root, timeout=120)
        assert as_json.returncode == 2
        error = json.loads(as_json.stdout)["error"]
        assert error["kind"] == "ComposeFileError" and "SECOND_VAR" in error["message"]
    finally:
        cleanup_project(name)
