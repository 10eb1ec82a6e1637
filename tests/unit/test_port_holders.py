"""Who holds a host port: /proc/net/tcp{,6} listening sockets, their inodes, the process behind each."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from devenv.core.ports import Listener, command_line, listeners, overlaps, parse_proc_net_tcp, socket_owners

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11111 1 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22222 1 0
   2: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 33333 1 0
"""

_ZERO6 = "0" * 32
_REST = " 0A 00000000:00000000 00:00000000 00000000     0        0"
PROC_NET_TCP6 = (
    "  sl  local_address  remote_address  st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    f"   0: {_ZERO6}:1F90 {_ZERO6}:0000{_REST} 44444 1 0\n"
    f"   1: {'0' * 24}01000000:1F91 {_ZERO6}:0000{_REST} 55555 1 0\n"
)


def test_parse_listening_sockets_ipv4_and_ipv6_skipping_connections() -> None:
    assert parse_proc_net_tcp(PROC_NET_TCP) == [("127.0.0.1", 8000, 11111), ("0.0.0.0", 22, 22222)]
    assert parse_proc_net_tcp(PROC_NET_TCP6) == [("::", 8080, 44444), ("::1", 8081, 55555)]


def test_socket_owners_and_command_lines_from_a_proc_tree(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, inode, argv in ((101, 11111, [b"python3", b"-m", b"http.server"]), (202, 99, [b"other"])):
        fd = proc / str(pid) / "fd"
        fd.mkdir(parents=True)
        os.symlink("/dev/null", fd / "0")
        os.symlink(f"socket:[{inode}]", fd / "3")
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(argv) + b"\0")
    (proc / "self").mkdir()  # not a pid: ignored
    (proc / "net").mkdir()
    (proc / "net" / "tcp").write_text(PROC_NET_TCP)
    assert socket_owners({11111, 22222}, str(proc)) == {11111: 101}
    assert command_line(101, str(proc)) == "python3 -m http.server"
    assert command_line(999, str(proc)) == ""
    found = listeners(8000, str(proc))
    assert found == [Listener("127.0.0.1", 8000, 11111, 101, "python3 -m http.server")]
    assert [(lst.port, lst.pid) for lst in listeners(None, str(proc))] == [(8000, 101), (22, None)]


def test_a_real_listener_of_this_process_is_found_with_its_command() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        found = [lst for lst in listeners(port) if lst.address == "127.0.0.1"]
        assert found and found[0].pid == os.getpid()
        assert "python" in found[0].command.lower() or "pytest" in found[0].command


def test_docker_proxy_is_recognised() -> None:
    proxy = Listener("127.0.0.1", 5432, 1, 7, "/usr/sbin/docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port 5432")
    assert proxy.is_docker_proxy
    assert not Listener("127.0.0.1", 5432, 1, 7, "python3 -m docker_proxy").is_docker_proxy


def test_which_addresses_collide() -> None:
    assert overlaps("127.0.0.1", "127.0.0.1")
    assert overlaps("127.0.0.1", "0.0.0.0")
    assert overlaps("", "127.0.0.1")
    assert overlaps("0.0.0.0", "::1")
    assert overlaps("127.0.0.1", "::")
    assert not overlaps("127.0.0.1", "127.0.0.2")
