"""The cache of declared service names (``devenv.core.servicenames``): right answers, no stale ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devenv.core.servicenames import CACHE_FILE, service_names
from devenv.core.stack import declared_services
from devenv.errors import ComposeFileError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".devenv").mkdir()
    (tmp_path / "compose.yml").write_text("services:\n  db:\n    image: x\n  api:\n    image: y\n")
    (tmp_path / "compose.dev.yml").write_text("services:\n  tools:\n    image: z\n    profiles: [debug]\n")
    return tmp_path


def _names(root: Path, calls: list[int]) -> list[str]:
    files = [root / "compose.yml", root / "compose.dev.yml"]

    def parse() -> list[str]:
        calls.append(1)
        return declared_services(files, strict=True, root=root)

    return service_names(files, root, parse)


def test_parsed_once_then_served_from_the_cache(project: Path) -> None:
    calls: list[int] = []
    assert _names(project, calls) == ["db", "api"]
    assert _names(project, calls) == ["db", "api"]
    assert len(calls) == 1
    cache = project / ".devenv" / CACHE_FILE
    assert json.loads(cache.read_text())["services"] == ["db", "api"]
    assert cache.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (project / ".devenv").iterdir() if p.name.endswith(".partial")] == []


def test_any_change_to_a_file_or_compose_profiles_parses_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    _names(project, calls)
    (project / "compose.yml").write_text("services:\n  db:\n    image: x\n  web:\n    image: y\n")
    assert _names(project, calls) == ["db", "web"]
    monkeypatch.setenv("COMPOSE_PROFILES", "debug")
    assert _names(project, calls) == ["db", "web", "tools"]
    assert len(calls) == 3
    # Same size, same mtime (e.g. restored by a tool that keeps times): the ctime still changes.
    st = (project / "compose.yml").stat()
    (project / "compose.yml").write_text("services:\n  db:\n    image: x\n  wob:\n    image: y\n")
    os.utime(project / "compose.yml", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _names(project, calls) == ["db", "wob", "tools"]


def test_a_file_broken_after_caching_still_fails(project: Path) -> None:
    calls: list[int] = []
    _names(project, calls)
    (project / "compose.yml").write_text("services:\n  db: [\n")
    with pytest.raises(ComposeFileError, match=r"invalid compose file compose\.yml"):
        _names(project, calls)
    (project / "compose.yml").unlink()
    with pytest.raises(OSError):
        _names(project, calls)


def test_no_state_folder_no_cache_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  db:\n    image: x\n")
    (tmp_path / "compose.dev.yml").write_text("services: {}\n")
    calls: list[int] = []
    assert _names(tmp_path, calls) == ["db"] == _names(tmp_path, calls)
    assert len(calls) == 2
    assert not (tmp_path / ".devenv").exists()


def test_a_corrupt_cache_is_ignored(project: Path) -> None:
    (project / ".devenv" / CACHE_FILE).write_text("{not json")
    calls: list[int] = []
    assert _names(project, calls) == ["db", "api"]
    assert len(calls) == 1


def test_status_with_a_warm_cache_does_not_import_yaml(project: Path) -> None:
    """The point of the cache: PyYAML's import costs more than the Engine calls of a status."""
    code = (
        "import sys\nfrom devenv.config import load_project\nfrom devenv.core.stack import Stack\n"
        "p = load_project(sys.argv[1])\ns = Stack(p, p.resolve_profile(None))\n"
        "print(s.service_names(), 'yaml' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVENV_", "COMPOSE_"))}
    env["PYTHONPATH"] = str(REPO)
    runs = [
        subprocess.run([sys.executable, "-c", code, str(project)], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert [r.stdout.strip() for r in runs] == ["['db', 'api'] True", "['db', 'api'] False"]
