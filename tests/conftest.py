"""Shared fixtures for devenv's test suite.

Tests under ``tests/integration``, ``tests/cli`` and ``tests/tui/integration`` drive the real ``devenv`` console script
against a real Docker engine (Compose v2, local images built by ``scripts/provision.sh``). They
are marked ``docker`` automatically; the session fixture ``docker_ready`` FAILS them (it never
skips) with a pointer to ``scripts/provision.sh`` when the engine, Compose v2 or the test images
are missing.

Every Compose project a test creates is named ``dvt<hex>`` and torn down (``down -v``, then any
leftover container, volume or network labelled with the project) even when the test fails.
Helpers (run_devenv, Stack, docker inspect accessors, JSON contract checks) live in
``tests/integration/devenv_testlib.py``, importable from every test module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "integration"))

from devenv_testlib import (
    APP_IMAGE,
    DEVENV,
    PORT_VARS,
    POSTGRES_IMAGE,
    PYTHON_IMAGE,
    REPO,
    STACKS,
    TEST_IMAGES,
    TESTS,
    DevenvResult,
    Stack,
    cleanup_project,
    docker,
    free_port,
    free_ports,
    run_devenv,
    unique_name,
)


# ------------------------------------------------------------------------------------------ marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    docker_dirs = (TESTS / "integration", TESTS / "cli", TESTS / "tui" / "integration")
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if any(d in path.parents for d in docker_dirs):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problems: list[str] = []
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=30)
        if info.returncode != 0:
            problems.append(f"`docker info` failed: {info.stderr.strip()[:500]}")
        else:
            version = docker("compose", "version", timeout=30)
            if version.returncode != 0 or ("v2" not in version.stdout and " 2." not in version.stdout):
                problems.append(f"`docker compose version` failed: {(version.stdout + version.stderr).strip()[:500]}")
            for image in TEST_IMAGES:
                if docker("image", "inspect", image, timeout=30).returncode != 0:
                    problems.append(f"test image {image} is missing")
    except FileNotFoundError:
        problems.append("the docker CLI is not installed")
    except subprocess.TimeoutExpired as exc:
        problems.append(f"`{' '.join(map(str, exc.cmd))}` timed out")
    if not DEVENV.exists():
        problems.append(f"the devenv console script is not installed at {DEVENV} (pip install -e '.[test]')")
    if problems:
        pytest.fail(
            "Docker-backed tests cannot run:\n  - "
            + "\n  - ".join(problems)
            + "\nRun scripts/provision.sh (as root) to start dockerd, install Compose v2 and build the test images.",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _docker_marker_requires_engine(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_ready")


@pytest.fixture()
def app_image_ready(docker_ready: None) -> str:
    if docker("image", "inspect", APP_IMAGE, timeout=30).returncode != 0:
        pytest.fail(f"test image {APP_IMAGE} is missing: run scripts/provision.sh", pytrace=False)
    return APP_IMAGE


@pytest.fixture()
def free_port_factory() -> Callable[[], int]:
    """Returns a function giving a currently free TCP port on 127.0.0.1."""
    return free_port


@pytest.fixture()
def devenv_runner() -> Callable[..., DevenvResult]:
    return run_devenv


@pytest.fixture()
def stack(tmp_path: Path, docker_ready: None) -> Iterator[Callable[..., Stack]]:
    """Factory: ``stack("healthy")`` copies tests/integration/stacks/healthy into a unique folder."""
    created: list[Stack] = []

    def make(name: str, *, env: Mapping[str, str] | None = None) -> Stack:
        src = STACKS / name
        assert src.is_dir(), f"no fixture stack {src}"
        project = unique_name()
        dest = tmp_path / project
        shutil.copytree(src, dest)
        ports = free_ports(len(PORT_VARS))
        st = Stack(path=dest, name=project, env={k: str(p) for k, p in zip(PORT_VARS, ports, strict=True)})
        st.projects.append(project)
        if env:
            st.env.update(env)
        created.append(st)
        return st

    yield make

    for st in created:
        for project in st.projects:
            cleanup_project(project)


EXAMPLE_PARTS = ("compose", "profiles", "devenv.toml")


@pytest.fixture()
def example_stack(tmp_path: Path, app_image_ready: str) -> Iterator[Callable[[], Stack]]:
    """Factory: a copy of the repo's example stack (compose/, profiles/, devenv.toml) with a
    unique project name, local images and free ports."""
    created: list[Stack] = []

    def make() -> Stack:
        project = unique_name()
        dest = tmp_path / f"example-{project}"
        dest.mkdir()
        for part in EXAMPLE_PARTS:
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dest / part)
        toml = dest / "devenv.toml"
        text = toml.read_text()
        new_text, count = re.subn(r'(?m)^(\s*name\s*=\s*)"[^"]*"', rf'\g<1>"{project}"', text, count=1)
        assert count == 1, f"could not find [project] name in {toml}:\n{text}"
        toml.write_text(new_text)
        # Also rename the compose file's `name:` so that even a devenv that wrongly used it
        # would create a project this fixture cleans up.
        compose_project = f"{project}c"
        for compose_file in (dest / "compose").glob("compose*.y*ml"):
            ctext = compose_file.read_text()
            ctext = re.sub(r"(?m)^name:\s*\S+", f"name: {compose_project}", ctext)
            compose_file.write_text(ctext)
        api, pg, dbg = free_ports(3)
        st = Stack(
            path=dest,
            name=project,
            env={
                "POSTGRES_IMAGE": POSTGRES_IMAGE,
                "APP_IMAGE": APP_IMAGE,
                "APP_BASE_IMAGE": PYTHON_IMAGE,
                "API_PORT": str(api),
                "POSTGRES_PORT": str(pg),
                "DEBUG_PORT": str(dbg),
            },
        )
        st.projects += [project, compose_project]
        created.append(st)
        return st

    yield make

    for st in created:
        for project in st.projects:
            cleanup_project(project)
