"""Published ports: which port an Engine start error is about, and who holds a host port."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker


def parse_port_conflict(message: str) -> tuple[str, int] | None:
    """(host_ip, port) from an Engine start error about a published port, else None."""
    if "port is already allocated" not in message and "address already in use" not in message:
        return None
    m = re.search(r"(?:Bind for |listen tcp[46]? )\[?([0-9a-fA-F.:]*?)\]?:(\d+)(?: failed|: bind)", message)
    if not m:
        m = re.search(r"([0-9.]+):(\d+)", message)
    if not m:
        return None
    return m.group(1) or "0.0.0.0", int(m.group(2))


def describe_port_holder(port: int, api: docker.APIClient | None = None) -> str | None:
    """A short description of what listens on ``port`` on this host, or None if unknown."""
    container = _container_holding(port, api) if api is not None else None
    if container:
        return container
    return _process_holding(port)


def _container_holding(port: int, api: docker.APIClient) -> str | None:
    try:
        for item in api.containers():
            for p in item.get("Ports") or ():
                if int(p.get("PublicPort") or 0) == port:
                    labels = item.get("Labels") or {}
                    name = (item.get("Names") or ["?"])[0].lstrip("/")
                    proj = labels.get("com.docker.compose.project")
                    where = f" (compose project {proj!r}, service {labels.get('com.docker.compose.service')!r})"
                    return f"container {name}" + (where if proj else "")
    except Exception:
        return None
    return None


def _process_holding(port: int) -> str | None:
    for listener in listeners(port):
        if listener.pid is None:
            continue
        if listener.is_docker_proxy:
            continue  # a container's published port: reported by _container_holding
        return f"process {listener.pid} ({listener.command or '?'})"
    return None


# ------------------------------------------------------------------ who listens on a host port (/proc)
@dataclass(frozen=True)
class Listener:
    """A listening TCP socket of this host: address, port, and the process holding it (when visible)."""

    address: str  # "0.0.0.0", "127.0.0.1", "::", "::1", ...
    port: int
    inode: int
    pid: int | None = None
    command: str = ""  # the process's command line on one line (at most 160 characters)

    @property
    def is_docker_proxy(self) -> bool:
        return self.command.split(" ", 1)[0].rsplit("/", 1)[-1] == "docker-proxy"


_TCP_LISTEN = "0A"


def _address(hex_addr: str) -> str:
    """An address of ``/proc/net/tcp{,6}`` (little-endian 32-bit words in hex) as text."""
    import ipaddress

    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def parse_proc_net_tcp(text: str) -> list[tuple[str, int, int]]:
    """``(address, port, inode)`` of every listening socket in a ``/proc/net/tcp`` or ``tcp6`` text."""
    out: list[tuple[str, int, int]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _TCP_LISTEN:
            continue
        hex_addr, _, hex_port = fields[1].partition(":")
        try:
            out.append((_address(hex_addr), int(hex_port, 16), int(fields[9])))
        except ValueError:
            continue
    return out


def socket_owners(inodes: set[int], proc: str = "/proc") -> dict[int, int]:
    """``inode -> pid`` for the sockets in ``inodes``, from every process's ``fd`` links that we may read."""
    import os

    found: dict[int, int] = {}
    if not inodes:
        return found
    try:
        pids = [name for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return found
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    for pid in pids:
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            inode = wanted.get(target)
            if inode is not None and inode not in found:
                found[inode] = int(pid)
                if len(found) == len(wanted):
                    return found
    return found


def command_line(pid: int, proc: str = "/proc") -> str:
    """A process's command line on one line (arguments joined by spaces, at most 160 characters)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return ""
    text = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    if not text:
        try:
            with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as fh:
                text = f"[{fh.read().strip()}]"
        except OSError:
            return ""
    text = " ".join(text.split())
    return text[:157] + "..." if len(text) > 160 else text


def listeners(port: int | None = None, proc: str = "/proc") -> list[Listener]:
    """The listening TCP sockets of this host's network namespace (all, or on ``port``), with their
    processes: ``/proc/net/tcp`` and ``tcp6`` give the socket inodes, ``/proc/*/fd`` who holds them."""
    found: list[tuple[str, int, int]] = []
    for name in ("tcp", "tcp6"):
        try:
            with open(f"{proc}/net/{name}", encoding="ascii", errors="replace") as fh:
                found += [entry for entry in parse_proc_net_tcp(fh.read()) if port is None or entry[1] == port]
        except OSError:
            continue
    owners = socket_owners({inode for _a, _p, inode in found}, proc)
    out = []
    for address, p, inode in found:
        pid = owners.get(inode)
        out.append(Listener(address, p, inode, pid, command_line(pid, proc) if pid is not None else ""))
    return out


def overlaps(published_ip: str, listener_ip: str) -> bool:
    """Whether a port published on ``published_ip`` ("" or 0.0.0.0: every address) collides with a
    listener on ``listener_ip`` (the wildcard addresses collide with everything)."""
    wild = ("", "0.0.0.0", "::")
    if published_ip in wild or listener_ip in wild:
        return True
    return published_ip == listener_ip
