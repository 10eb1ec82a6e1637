"""Has the debuggee connected to its debugpy adapter yet? Asked inside the container, never on the port.

``python -m debugpy --listen`` starts an adapter process that listens for clients (the published
port) and, on 127.0.0.1, for the debuggee's own connection; pydevd connects a moment later. In
that moment the port already answers DAP ``initialize``, but any client session that ends then
(devenv's readiness probe, an IDE giving up, even a bare TCP connect) makes the adapter exit for
good, because it finds no debuggee connected (debugpy 1.8: ``Session._finalize`` unblocks
``servers.wait_until_disconnected``). The debuggee then dies too. So no client may touch the port
before the debuggee is connected.

This module reads that from ``/proc`` inside the container, with the container's own Python: the
adapter process (its command line has ``debugpy/adapter`` and ``--for-server``) listens on the
client port and holds an established connection accepted on its other listening port: the
debuggee's. That is devenv's readiness: the port serves clients and a client's ``attach`` finds
the program (an ``attach`` also waits for it, so only a session that *ends* early is harmful).
devenv opens no DAP session to decide it: even right after the TCP connection the adapter is still
registering the debuggee (two requests to it), and a probe session ending then would kill it.
"""

from __future__ import annotations

from typing import Any

# Prints "connected", "waiting" (no adapter yet, or no debuggee connection yet) or "unknown"
# (``/proc`` does not show what is needed: hidden processes, sockets of another user).
SCRIPT = r"""
import os, sys
client = sys.argv[1]
def rows():
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                out += [r.split() for r in f.read().splitlines()[1:]]
        except OSError:
            pass
    return out
adapters = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        continue
    if b"--for-server" in argv and any(a.rstrip(b"/").endswith(b"adapter") for a in argv):
        adapters.append(pid)
if not adapters:
    print("waiting"); sys.exit(0)
table = rows()
for pid in adapters:
    inodes = set()
    try:
        for fd in os.listdir("/proc/%s/fd" % pid):
            try:
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        print("unknown"); sys.exit(0)
    mine = [r for r in table if len(r) > 9 and r[9] in inodes]
    listening = {r[1].rsplit(":", 1)[1] for r in mine if r[3] == "0A"}
    servers = listening - {client}
    if client in listening and any(r[3] == "01" and r[1].rsplit(":", 1)[1] in servers for r in mine):
        print("connected"); sys.exit(0)
print("waiting")
"""


def debuggee_connected(api: Any, container: str, python: str, client_port: int) -> bool | None:
    """True once a debuggee is connected to the debugpy adapter in ``container``, False while it is
    not (yet), None when the container cannot tell (no usable Python, ``/proc`` hidden).

    ``client_port`` is the adapter's client port inside the container (5678 by default).
    """
    from devenv.core.engine.execio import exec_in

    try:
        result = exec_in(api, container, [python, "-c", SCRIPT, f"{client_port:04X}"])
    except Exception:  # the check is an aid: when it cannot run, the caller probes as before
        return None
    answer = result.stdout.decode(errors="replace").strip()
    if result.exit_code != 0 or answer not in ("connected", "waiting"):
        return None
    return answer == "connected"
