"""A debugpy copy for a container's Python, without changing the image.

debugpy is fetched once per Python version and platform with the host's ``pip download`` (from
the package sources pip is configured with: index, mirror, proxy, ``pip.conf``), as a binary
wheel for the container's interpreter, and unpacked under
``~/.cache/devenv/debugpy/<X.Y>-<arch>[-musl]/`` (``$XDG_CACHE_HOME`` respected). The folder is
then bind-mounted read-only into the container and added to ``PYTHONPATH``, as Skaffold's debug
support does. A complete folder carries a marker file; a half-made one is never used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import DevenvError

MARKER = ".devenv-debugpy.json"
MIN_PYTHON = (3, 7)  # debugpy 1.7 is the last release for 3.7; 1.8 needs 3.8
PIP_TIMEOUT = 300.0


class DebugpyUnavailableError(DevenvError):
    """No debugpy could be had for the container's Python (exit 1)."""


@dataclass(frozen=True)
class PythonInfo:
    """The container's interpreter, as it reports itself."""

    version: tuple[int, int]
    implementation: str  # "cpython", "pypy"
    machine: str  # "x86_64", "aarch64"
    libc: str  # "glibc" or "musl" (or "" when unknown)
    libc_version: tuple[int, int]  # (2, 36) for glibc 2.36
    executable: str
    debugpy: str = ""  # where the image's own debugpy is, "" when it has none

    @property
    def tag(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def cache_key(self) -> str:
        return f"{self.tag}-{self.machine}" + ("-musl" if self.libc == "musl" else "")


# Run by the container's interpreter: one JSON line describing it.
INFO_SCRIPT = r"""
import sys, os, json, platform, glob
try:
    import importlib.util as u
    spec = u.find_spec("debugpy")
    dbg = (spec.origin or "") if spec else ""
except Exception:
    dbg = ""
lib, ver = platform.libc_ver()
if not lib and glob.glob("/lib/ld-musl-*"):
    lib = "musl"
print(json.dumps({"version": list(sys.version_info[:2]), "implementation": sys.implementation.name,
                  "machine": platform.machine(), "libc": lib, "libc_version": ver,
                  "executable": sys.executable, "debugpy": dbg}))
"""


def parse_info(text: str) -> PythonInfo:
    """The :data:`INFO_SCRIPT` line (the last line that is JSON) as a :class:`PythonInfo`."""
    for line in reversed(text.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "version" in data:
            parts = [int(p) for p in str(data.get("libc_version") or "").split(".")[:2] if p.isdigit()]
            libc_version = [*parts, 0, 0][:2]
            return PythonInfo(
                version=(int(data["version"][0]), int(data["version"][1])),
                implementation=str(data.get("implementation") or ""),
                machine=str(data.get("machine") or ""),
                libc="glibc" if data.get("libc") == "glibc" else str(data.get("libc") or ""),
                libc_version=(libc_version[0], libc_version[1]),
                executable=str(data.get("executable") or ""),
                debugpy=str(data.get("debugpy") or ""),
            )
    raise ValueError(f"no interpreter description in {text[-200:]!r}")


def check_supported(info: PythonInfo, where: str) -> None:
    """Refuse an interpreter debugpy cannot debug, with the reason."""
    if info.implementation != "cpython":
        raise DebugpyUnavailableError(
            f"{where} runs {info.implementation} {info.tag}; debugpy supports CPython only.",
            hint="Run the service on CPython to debug it with devenv.",
        )
    if info.version < MIN_PYTHON:
        raise DebugpyUnavailableError(
            f"{where} runs Python {info.tag}; debugpy needs Python 3.7 or later (3.8 or later for current releases).",
            hint="Upgrade the image's Python to debug the service.",
        )


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "devenv" / "debugpy"


def cached(info: PythonInfo) -> Path | None:
    """The complete cached copy for ``info``, or None."""
    folder = cache_root() / info.cache_key
    return folder if (folder / MARKER).is_file() and (folder / "debugpy").is_dir() else None


def platforms(info: PythonInfo) -> list[str]:
    """pip ``--platform`` tags the container's Python can load, newest first."""
    arch = info.machine
    if info.libc == "musl":
        return [f"musllinux_1_{minor}_{arch}" for minor in (2, 1)]
    _major, minor = info.libc_version if info.libc_version[0] == 2 else (2, 17)
    tags = [f"manylinux_2_{m}_{arch}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def _pip() -> list[str] | None:
    """A pip command on the host: this interpreter's, else one on the PATH."""
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "pip", "--version"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL
        )
        if probe.returncode == 0:
            return [sys.executable, "-m", "pip"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def provision(info: PythonInfo) -> Path:
    """The host folder holding ``debugpy/`` for ``info`` (downloaded and unpacked on first use)."""
    ready = cached(info)
    if ready is not None:
        return ready
    pip = _pip()
    if pip is None:
        raise DebugpyUnavailableError(
            "Cannot fetch debugpy for the container: no pip on this machine.",
            hint=_manual_hint(info),
        )
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{info.cache_key}.", dir=root))
    try:
        wheels = work / "wheels"
        abi = f"cp{info.version[0]}{info.version[1]}"
        argv = [
            *pip,
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            info.tag,
            "--implementation",
            "cp",
            "--abi",
            abi,
            *[arg for tag in platforms(info) for arg in ("--platform", tag)],
            "-d",
            str(wheels),
            "debugpy",
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DebugpyUnavailableError(
                f"`pip download debugpy` for Python {info.tag} did not finish within {PIP_TIMEOUT:.0f}s.",
                hint=_manual_hint(info),
            ) from None
        found = sorted(wheels.glob("debugpy-*.whl")) if wheels.is_dir() else []
        if proc.returncode != 0 or not found:
            why = (proc.stderr or proc.stdout).strip().splitlines()
            raise DebugpyUnavailableError(
                f"No debugpy could be fetched for Python {info.tag} ({info.machine}, {info.libc or 'libc?'}): "
                + (why[-1] if why else f"pip exited with {proc.returncode}"),
                hint=_manual_hint(info),
            )
        unpacked = work / "debugpy-root"
        with zipfile.ZipFile(found[-1]) as wheel:
            wheel.extractall(unpacked)
        for dirpath, _dirnames, filenames in os.walk(unpacked):  # readable by any user in the container
            os.chmod(dirpath, 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                os.chmod(path, 0o755 if name.endswith(".so") else 0o644)
        version = found[-1].name.split("-")[1]
        (unpacked / MARKER).write_text(json.dumps({"wheel": found[-1].name, "version": version}))
        os.chmod(unpacked / MARKER, 0o644)
        final = root / info.cache_key
        try:
            os.rename(unpacked, final)
        except OSError:
            if cached(info) is None:  # another devenv won the race with a complete copy, or not
                shutil.rmtree(final, ignore_errors=True)
                os.rename(unpacked, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def debugpy_version(folder: Path) -> str:
    try:
        return str(json.loads((folder / MARKER).read_text()).get("version") or "")
    except (OSError, ValueError):
        return ""


def _manual_hint(info: PythonInfo) -> str:
    folder = cache_root() / info.cache_key
    return (
        f"Check that `pip download debugpy` works on this machine (pip's index or mirror settings), or unpack a "
        f"debugpy wheel for CPython {info.tag} on {info.machine} into {folder} and create {folder / MARKER} "
        "containing {}; or install debugpy in the image."
    )
