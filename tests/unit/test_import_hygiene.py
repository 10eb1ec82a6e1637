"""The CLI must stay fast to start: no Textual/Rich (the TUI's stack) on CLI paths, nothing heavy at import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "devenv"
UI_LIBRARIES = ("textual", "rich")

CLI_MODULES = (
    "devenv",
    "devenv.core.health",
    "devenv.core.stack",
    "devenv.core.logs",
    "devenv.core.secrets",
    "devenv.cli.main",
    "devenv.cli.stack_cmds",
    "devenv.cli.config_cmds",
    "devenv.config",
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVENV_", "COMPOSE_", "PYTHON"))}
    env["PYTHONPATH"] = str(REPO)
    env["NO_COLOR"] = "1"
    return env


def _python(args: list[str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _modules_loaded(code: str, cwd: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter; return every top-level module it left in sys.modules."""
    report = "import json, sys\nprint('MODULES=' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    script = f"{code}\n{report}\n"
    proc = _python(["-c", script], cwd)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("MODULES="))
    return list(json.loads(line.removeprefix("MODULES=")))


def _imported_by_importtime(stderr: str) -> set[str]:
    """Top-level package names from ``-X importtime`` lines ("import time: self | cumulative | name")."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name.split(".")[0])
    return names


@pytest.fixture
def zero_config_project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "compose.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n  api:\n    image: shop-api\n    depends_on: [db]\n",
        encoding="utf-8",
    )
    (root / "compose.prod.yml").write_text("services:\n  api:\n    restart: always\n", encoding="utf-8")
    return root


def test_importing_cli_and_core_modules_loads_no_ui_library(tmp_path: Path) -> None:
    loaded = _modules_loaded("import " + ", ".join(CLI_MODULES), tmp_path)
    assert "devenv" in loaded
    assert [m for m in UI_LIBRARIES if m in loaded] == []


def test_importing_cli_modules_defers_docker_clients(tmp_path: Path) -> None:
    # devenv/cli/main.py: "Heavy libraries (docker, python-on-whales) load inside commands."
    loaded = _modules_loaded("import " + ", ".join(CLI_MODULES), tmp_path)
    assert [m for m in ("docker", "python_on_whales", "requests", "urllib3") if m in loaded] == []


def test_core_sources_never_import_textual() -> None:
    pattern = re.compile(r"^\s*(import\s+textual\b|from\s+textual\b)", re.MULTILINE)
    sources = sorted((PACKAGE / "core").rglob("*.py"))
    assert len(sources) >= 5  # the scan really looked at the core package
    offenders = [str(p.relative_to(REPO)) for p in sources if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_status_help_does_not_import_textual(tmp_path: Path) -> None:
    proc = _python(["-X", "importtime", "-m", "devenv", "status", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: devenv status")
    imported = _imported_by_importtime(proc.stderr)
    assert "devenv" in imported  # importtime output was really parsed
    assert sorted(imported & set(UI_LIBRARIES)) == []


def test_profiles_command_does_not_import_textual(zero_config_project: Path) -> None:
    proc = _python(["-X", "importtime", "-m", "devenv", "profiles"], zero_config_project)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["PROFILE", "PROTECTED", "DESCRIPTION", "FILES"]
    assert [ln.split()[:2] for ln in lines[1:]] == [["*", "default"], ["prod", "yes"]]
    imported = _imported_by_importtime(proc.stderr)
    assert "devenv" in imported
    assert sorted(imported & set(UI_LIBRARIES)) == []


def test_profiles_via_main_leaves_no_ui_library_loaded(zero_config_project: Path) -> None:
    code = (
        "import sys\nfrom devenv.cli.main import main\nrc = main(['profiles', '--json'])\n"
        "assert rc == 0, rc\nsys.stdout.write('\\n')\n"
    )
    loaded = _modules_loaded(code, zero_config_project)
    assert "devenv" in loaded
    assert [m for m in UI_LIBRARIES if m in loaded] == []
