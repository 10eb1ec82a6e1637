"""``scripts/apt_mirror.sh``: the debootstrap mirror comes from the machine's apt sources, never the repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "apt_mirror.sh"


def mirror(apt: Path, suite: str = "bookworm") -> str:
    proc = subprocess.run(["bash", str(SCRIPT), suite, str(apt)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture()
def apt(tmp_path: Path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    return tmp_path


DEB822 = """Types: deb
# a comment
URIs: http://security.mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.mirror.example/debian
Suites: bookworm

Types: deb
URIs: http://off.mirror.example/debian
Suites: bookworm
Enabled: no

Types: deb deb-src
URIs: http://main.mirror.example/debian http://second.mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
"""


def test_deb822_stanza_of_the_suite(apt: Path) -> None:
    (apt / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert mirror(apt) == "http://main.mirror.example/debian"
    assert mirror(apt, "trixie") == ""


def test_classic_lines_with_and_without_options(apt: Path) -> None:
    (apt / "sources.list").write_text(
        "# deb http://commented.mirror.example/debian bookworm main\n"
        "deb-src http://src.mirror.example/debian bookworm main\n"
        "deb http://security.mirror.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://classic.mirror.example/debian bookworm main\n"
    )
    assert mirror(apt) == "http://classic.mirror.example/debian"
    (apt / "sources.list").write_text("deb http://plain.mirror.example/debian bookworm main contrib\n")
    assert mirror(apt) == "http://plain.mirror.example/debian"


def test_deb822_first_then_list_files(apt: Path) -> None:
    (apt / "sources.list.d" / "extra.list").write_text("deb http://list.mirror.example/debian bookworm main\n")
    assert mirror(apt) == "http://list.mirror.example/debian"
    (apt / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert mirror(apt) == "http://main.mirror.example/debian"


def test_nothing_known_prints_nothing(apt: Path) -> None:
    assert mirror(apt) == ""  # provision.sh then calls debootstrap without a mirror: its own default


def test_no_package_mirror_host_is_hard_coded_in_the_repo() -> None:
    root = SCRIPT.parents[1]
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, timeout=30)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    # Spelled in parts, so that this file does not name them either.
    parts = [("deb", "debian", "org"), ("security", "debian", "org"), ("pypi", "org"), ("files", "pythonhosted", "org")]
    hosts = [".".join(p) for p in parts]
    found = []
    for name in listed.stdout.splitlines():
        path = root / name
        if not path.is_file() or path.suffix in (".png", ".gz", ".dump"):
            continue
        text = path.read_text(errors="replace").lower()
        found += [f"{name}: {host}" for host in hosts if host in text]
    assert found == []
