"""A second Docker daemon on this machine, a stand-in for a remote build box: its own socket, bridge,
data root, exec root and containerd namespace (see shared/DOCKER-ON-THESE-MACHINES.md, "A second
engine on the same machine").

Needs root (it creates a bridge and runs dockerd). :func:`start` raises when the daemon cannot be
started; :meth:`SecondEngine.stop` ends it and removes its bridge, data and exec roots, and is safe
to call after a failed or partial start.

Never ``--bridge=none`` (that daemon deletes the host's ``docker0``); ``--config-file`` points at an
empty JSON file (the machine's daemon.json sets ``data-root``, which would conflict).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class SecondEngine:
    tag: str  # short and unique: the bridge (<= 15 characters) and the containerd namespace
    root: Path  # holds config, data root, log
    exec_root: Path
    socket: Path
    pidfile: Path
    bridge: str
    bridge_cidr: str
    pool: str
    proc: subprocess.Popen[bytes] | None = None
    bridge_made: bool = False
    loaded: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def docker(self, *args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this daemon only."""
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
        proc = subprocess.run(
            ["docker", "-H", self.host, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker -H {self.host} {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def load(self, *images: str) -> None:
        """``docker save IMAGES | docker -H S load``: the images this engine needs (it cannot pull)."""
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert save.stdout is not None
        load = subprocess.run(
            ["docker", "-H", self.host, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            timeout=600,
        )
        save.stdout.close()
        save_err = save.communicate(timeout=600)[1]
        if save.returncode != 0 or load.returncode != 0:
            raise RuntimeError(
                f"loading {' '.join(images)} into {self.host} failed: "
                f"{save_err.decode(errors='replace').strip()} {load.stderr.decode(errors='replace').strip()}"
            )
        self.loaded += images

    def _tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"

    def stop(self) -> list[str]:
        """End the daemon, remove its bridge, data and exec roots; the problems met (none: all clean)."""
        problems: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):  # containers first: a clean shutdown is faster
                ids = self.docker("ps", "-aq", timeout=30).stdout.split()
                if ids:
                    self.docker("rm", "-f", "-v", *ids, timeout=60)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("dockerd did not stop on SIGTERM: killed")
                self.proc.kill()
                self.proc.wait(timeout=10)
        _end_leftovers(self.exec_root)
        _unmount_under(self.root)
        _unmount_under(self.exec_root)
        if self.bridge_made:
            done = subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, text=True)
            if done.returncode != 0 and "Cannot find device" not in done.stderr:
                problems.append(f"ip link del {self.bridge}: {done.stderr.strip()}")
        for path in (self.root, self.exec_root):
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                problems.append(f"{path} could not be removed")
        for path in (self.socket, self.pidfile):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return problems


def _end_leftovers(exec_root: Path) -> None:
    """SIGKILL any process still running from this daemon's exec root (its containerd, shims)."""
    marker = str(exec_root).encode()
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            cmdline = (pid_dir / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid_dir.name), signal.SIGKILL)


def _unmount_under(path: Path) -> None:
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(path)
    points = [ln.split()[1] for ln in lines if len(ln.split()) > 1 and ln.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _free_subnets() -> tuple[str, str]:
    """A /24 for the bridge and a /16 pool for Compose networks, both unused by any route here."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    taken = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            taken.append(ipaddress.ip_network(word if "/" in word else f"{word}/32", strict=False))
    for second in range(201, 250):
        whole = ipaddress.ip_network(f"10.{second}.0.0/16")  # bridge 10.N.0.0/24, pool 10.N.128.0/17
        if not any(whole.overlaps(t) for t in taken if t.prefixlen > 0):
            return f"10.{second}.0.1/24", f"10.{second}.128.0/17"
    raise RuntimeError("no free private subnet for the second engine's bridge")


def start() -> SecondEngine:
    """Start a second dockerd (root only); raises RuntimeError with its log when it does not come up."""
    if os.geteuid() != 0:
        raise RuntimeError("the second Docker engine needs root (a bridge and dockerd); CI runs as root")
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed (scripts/provision.sh installs docker.io)")
    tag = "dv2" + uuid.uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir="/var/tmp"))
    exec_root = Path(f"/run/{tag}")  # short: containerd's socket paths live under it
    bridge_cidr, pool = _free_subnets()
    engine = SecondEngine(
        tag=tag,
        root=root,
        exec_root=exec_root,
        socket=Path(f"/run/{tag}.sock"),
        pidfile=Path(f"/run/{tag}.pid"),
        bridge=f"br-{tag}",
        bridge_cidr=bridge_cidr,
        pool=pool,
    )
    try:
        for argv in (
            ["ip", "link", "add", engine.bridge, "type", "bridge"],
            ["ip", "addr", "add", bridge_cidr, "dev", engine.bridge],
            ["ip", "link", "set", engine.bridge, "up"],
        ):
            done = subprocess.run(argv, capture_output=True, text=True)
            engine.bridge_made = True
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        config = root / "daemon.json"
        config.write_text("{}\n")
        argv = [
            "dockerd",
            "--config-file",
            str(config),
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(exec_root),
            "-H",
            engine.host,
            "--pidfile",
            str(engine.pidfile),
            "--containerd-namespace",
            tag,
            "--containerd-plugins-namespace",
            f"{tag}-plugins",
            f"--bridge={engine.bridge}",
            "--iptables=false",
            "--ip-masq=false",
            "--default-address-pool",
            f"base={pool},size=24",
        ]
        with engine.log.open("wb") as log:
            engine.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if engine.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {engine.proc.returncode}:\n{engine._tail()}")
            if (
                engine.socket.exists()
                and engine.docker("version", "-f", "{{.Server.Version}}", timeout=10).returncode == 0
            ):
                return engine
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dockerd did not answer on {engine.host} within {START_TIMEOUT:.0f}s:\n{engine._tail()}"
                )
            time.sleep(0.3)
    except BaseException:
        engine.stop()
        raise
