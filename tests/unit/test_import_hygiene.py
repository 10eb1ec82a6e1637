"""The CLI must stay fast to start: no Textual/Rich (the TUI's stack) on CLI paths, nothing heavy at import.

And the package keeps its shape: no import cycles (function-level imports included), no module
over ~500 lines.
"""

from __future__ import annotations

import ast
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
    "devenv.core.events",
    "devenv.core.health",
    "devenv.core.waiter",
    "devenv.core.compose",
    "devenv.core.stack",
    "devenv.core.actions",
    "devenv.core.db",
    "devenv.core.migrations",
    "devenv.core.logs",
    "devenv.core.secrets",
    "devenv.cli.main",
    "devenv.cli.stack_cmds",
    "devenv.cli.action_cmds",
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


# ------------------------------------------------------------------------------ package structure
MAX_MODULE_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of a module (top level, in functions, in classes), and whether it
    sits under ``if TYPE_CHECKING:`` (never executed)."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, typing_only))
            visit(child, typing_only or _type_checking_block(child))

    visit(tree, False)
    return found


def import_graph() -> dict[str, set[str]]:
    """``module -> the devenv modules it imports``, from the sources (function-level imports included).

    An executed import of ``a.b.c`` also runs the ``__init__`` of ``a.b`` (and ``a``): those count,
    except the importer's own parent packages, which are already being imported when it runs.
    """
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        own_parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1 + is_package)}
        targets: set[str] = set()
        for node, typing_only in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` the module.
                wanted = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for target in wanted:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if not target or target == name:
                    continue
                targets.add(target)
                if not typing_only:
                    parts = target.split(".")
                    targets |= {".".join(parts[:i]) for i in range(1, len(parts))} - own_parents - {name}
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_import_graph_is_really_built() -> None:
    graph = import_graph()
    assert "devenv.core.stack" in graph["devenv.cli.stack_cmds"]  # a function-level import
    assert "devenv.core.compose.model" in graph["devenv.core.stack"]
    assert "devenv.core.db" not in graph["devenv.core.events"]  # the parent of a TYPE_CHECKING import: not run
    assert "devenv.core.db.snapshot_files" in graph["devenv.core.events"]


def test_no_import_cycles() -> None:
    # Also through function-level and TYPE_CHECKING imports: no two modules import each other.
    assert _cycles(import_graph()) == []


def test_no_module_is_too_long() -> None:
    sizes = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) >= 30
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_the_status_path_does_not_load_the_event_classes() -> None:
    """~50 frozen dataclasses cost ~10 ms to import: `devenv status` must not pay for them."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom devenv.cli.main import build_parser\nbuild_parser()\n"
        "import devenv.cli.stack_cmds, devenv.core.stack, devenv.core.running, devenv.core.compose.files\n"
        "print('devenv.core.events' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
