"""What a container's healthcheck test checks, when that is recognisable from the host.

:func:`recognise` maps a Docker healthcheck ``test`` (``["CMD", ...]``, ``["CMD-SHELL", "..."]``,
``["NONE"]``) to a :class:`HealthTest`: an equivalent check devenv can run from the host without
spawning a process in the container (``http``, ``tcp``, ``postgres``, ``mysql``), a file test the
Engine answers without a process either (``file``: a stat through the archive API), else ``exec``
(the test itself, as Docker runs it), or ``none``. Used by :mod:`devenv.core.fastcheck`.

Recognition is deliberately narrow: a command is recognised only when every word of it is
understood, it targets the container itself (``localhost``, ``127.0.0.1``, ``0.0.0.0``) and the
host-side check can only be *stricter* than the test (it may pass later, never earlier). Anything
else runs the test itself. Pure parsing: no Docker, no sockets.

=============================================  =========================================
healthcheck test                               host-side equivalent
=============================================  =========================================
``curl [-fsSI...] http://localhost:P/path``    HTTP request; ``-f``: status < 400, else any
``wget [-q] [--spider] [-O X] URL``            HTTP request; 2xx (wget follows redirects)
``python3 -c "...urlopen('URL'...)"``          HTTP GET; 2xx (urlopen follows redirects)
``nc -z localhost P``, bash ``</dev/tcp/H/P``  TCP connect
``pg_isready [-h local] [-p P] [-U u] ...``    PostgreSQL startup packet: any answer but
                                               "the database system is starting up" (57P03)
``mysqladmin ping [-h local] [-P P] ...``      MySQL server greeting (or any server packet)
``test -e|-f|-s|-d /abs/path``, ``[ ... ]``    the Engine's stat of that path in the container
                                               (``HEAD /containers/ID/archive``): no process
=============================================  =========================================
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, replace

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]"})
DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class HealthTest:
    """A recognised healthcheck test.

    ``kind``: ``http`` / ``tcp`` / ``postgres`` / ``mysql`` (checked from the host), ``file``
    (a stat by the Engine: ``path``, and the test's operator in ``accept``: ``e``/``f``/``s``/``d``),
    ``exec`` or ``none`` (no check at all). ``argv`` is the test as Docker runs it (the fallback of a host
    check that cannot reach the container).
    ``accept`` (http): ``any`` HTTP response, ``lt400`` (status < 400) or ``2xx``.
    """

    kind: str
    port: int = 0
    path: str = "/"
    method: str = "GET"
    accept: str = "2xx"
    argv: tuple[str, ...] = ()

    @property
    def from_host(self) -> bool:
        return self.kind in ("http", "tcp", "postgres", "mysql")


NONE = HealthTest("none")


def recognise(test: Sequence[str] | None, shell: Sequence[str] | None = None) -> HealthTest:
    """The check equivalent to a Docker healthcheck ``test``; ``shell`` is the container's
    ``Config.Shell`` (``CMD-SHELL`` runs under it, default ``/bin/sh -c``)."""
    test = list(test or [])
    if not test or test[0] == "NONE":
        return NONE
    if test[0] == "CMD":
        argv, words = tuple(test[1:]), list(test[1:])
    elif test[0] == "CMD-SHELL" and len(test) == 2:
        argv = (*(shell or DEFAULT_SHELL), test[1])
        words = _shell_words(test[1]) or []
    else:
        return NONE
    if not argv:
        return NONE
    found = _classify(words) if words else None
    return replace(found, argv=argv) if found is not None else HealthTest("exec", argv=argv)


# ----------------------------------------------------------------------------------- shell words
_FAIL_TAILS = (["||", "exit", "1"], ["||", "exit"], ["||", "false"])


def _shell_words(script: str) -> list[str] | None:
    """The words of a simple shell command (an optional ``|| exit 1`` tail dropped), else None."""
    if "`" in script or "$(" in script or "\n" in script:
        return None
    try:
        lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""  # sh starts a comment only at a word's start: `/tmp#x` is one word
        words = list(lexer)
    except ValueError:
        return None
    for tail in _FAIL_TAILS:
        if len(words) > len(tail) and words[-len(tail) :] == tail:
            words = words[: -len(tail)]
            break
    if any(w and all(c in "();<>|&" for c in w) for w in words):
        return None
    return words


def _classify(words: list[str]) -> HealthTest | None:
    prog = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if prog in ("sh", "bash") and len(args) == 2 and args[0] == "-c":
        if prog == "bash":
            tcp = _dev_tcp(args[1])
            if tcp is not None:
                return tcp
        inner = _shell_words(args[1])
        return _classify(inner) if inner else None
    handler = _HANDLERS.get(prog) or (_python if re.fullmatch(r"python3?(\.\d+)?", prog) else None)
    return handler(args) if handler is not None else None


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _url(text: str) -> tuple[int, str] | None:
    """(port, path) of an ``http://`` URL on the container itself."""
    if "$" in text:
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or (parts.hostname or "") not in LOCAL_HOSTS or parts.username:
        return None
    path = parts.path or "/"
    return port, path + (f"?{parts.query}" if parts.query else "")


def _split_long(arg: str) -> tuple[str, str | None]:
    name, eq, value = arg.partition("=")
    return (name, value) if eq and arg.startswith("--") else (arg, None)


# ------------------------------------------------------------------------------------ recognisers
def _curl(args: list[str]) -> HealthTest | None:
    fail = follow = head = False
    url = None
    it = iter(args)
    for arg in it:
        name, value = _split_long(arg)
        if name in ("--fail", "--fail-with-body"):
            fail = True
        elif name in ("--silent", "--show-error", "--no-progress-meter"):
            pass
        elif name == "--location":
            follow = True
        elif name == "--head":
            head = True
        elif name in ("--max-time", "--connect-timeout", "--retry", "--output") or name in ("-m", "-o"):
            if value is None and next(it, None) is None:
                return None
        elif re.fullmatch(r"-[fsSLI]+", arg):
            fail |= "f" in arg
            follow |= "L" in arg
            head |= "I" in arg
        elif not arg.startswith("-") and url is None:
            url = arg
        else:
            return None
    target = _url(url) if url else None
    if target is None:
        return None
    # curl exits 0 on any response unless --fail; with --location a 3xx is not its final answer.
    accept = "2xx" if follow else ("lt400" if fail else "any")
    return HealthTest("http", port=target[0], path=target[1], method="HEAD" if head else "GET", accept=accept)


def _wget(args: list[str]) -> HealthTest | None:
    spider = False
    url = None
    it = iter(args)
    for arg in it:
        name, value = _split_long(arg)
        if name in ("-q", "--quiet", "-nv", "--no-verbose", "--tries", "--timeout", "-O-", "-qO-"):
            pass
        elif name == "--spider":
            spider = True
        elif name in ("-O", "-qO", "--output-document", "-t", "-T", "-Y"):
            if value is None and next(it, None) is None:
                return None
        elif re.fullmatch(r"-q?O/dev/null", arg):
            pass
        elif not arg.startswith("-") and url is None:
            url = arg
        else:
            return None
    target = _url(url) if url else None
    if target is None:
        return None
    return HealthTest("http", port=target[0], path=target[1], method="HEAD" if spider else "GET", accept="2xx")


def _nc(args: list[str]) -> HealthTest | None:
    positional: list[str] = []
    zero = False
    it = iter(args)
    for arg in it:
        if re.fullmatch(r"-[zvn]+", arg):
            zero |= "z" in arg
        elif arg == "-w":
            if next(it, None) is None:
                return None
        elif re.fullmatch(r"-w\d+", arg):
            pass
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
    if not zero or len(positional) != 2 or positional[0] not in LOCAL_HOSTS:
        return None
    port = _port(positional[1])
    return HealthTest("tcp", port=port) if port else None


_DEV_TCP = re.compile(r"\s*(?:exec\s+\d*|cat\s*|:\s*|true\s*)?<\s*/dev/tcp/([^/\s]+)/(\d+)\s*(?:\|\|\s*exit\s*1\s*)?")


def _dev_tcp(script: str) -> HealthTest | None:
    m = _DEV_TCP.fullmatch(script)
    if not m or m.group(1) not in LOCAL_HOSTS:
        return None
    port = _port(m.group(2))
    return HealthTest("tcp", port=port) if port else None


def _options(args: list[str], with_value: dict[str, str], flags: set[str]) -> tuple[dict[str, str], list[str]] | None:
    """Options with values (short or ``--long[=value]``, keyed by canonical name), and the other words."""
    found: dict[str, str] = {}
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        name, value = _split_long(arg)
        if name in with_value:
            if value is None:
                if len(name) == 2 or arg.startswith("--"):
                    value = next(it, None)
                if value is None:
                    return None
            found[with_value[name]] = value
        elif arg[:2] in with_value and len(arg) > 2 and not arg.startswith("--"):
            found[with_value[arg[:2]]] = arg[2:]  # -p5432
        elif arg in flags:
            pass
        elif arg.startswith("-"):
            return None
        else:
            rest.append(arg)
    return found, rest


def _local_port(opts: dict[str, str], default: int) -> int | None:
    host = opts.get("host", "localhost")
    if host not in LOCAL_HOSTS and not host.startswith("/"):  # a socket directory is local too
        return None
    return _port(opts["port"]) if "port" in opts else default


def _pg_isready(args: list[str]) -> HealthTest | None:
    names = {"-h": "host", "--host": "host", "-p": "port", "--port": "port", "-U": "user", "--username": "user"}
    names |= {"-d": "db", "--dbname": "db", "-t": "timeout", "--timeout": "timeout"}
    parsed = _options(args, names, {"-q", "--quiet"})
    if parsed is None or parsed[1]:
        return None
    port = _local_port(parsed[0], 5432)
    return HealthTest("postgres", port=port) if port else None


def _mysqladmin(args: list[str]) -> HealthTest | None:
    names = {"-h": "host", "--host": "host", "-P": "port", "--port": "port", "-u": "user", "--user": "user"}
    names |= {"--connect-timeout": "timeout", "--protocol": "protocol"}
    flags = {"-s", "--silent", "--no-beep"}
    cleaned = [a for a in args if not (a.startswith("--password") or (a.startswith("-p") and a != "-P"))]
    parsed = _options(cleaned, names, flags)
    if parsed is None or parsed[1] != ["ping"]:
        return None
    port = _local_port(parsed[0], 3306)
    return HealthTest("mysql", port=port) if port else None


_FILE_OPS = frozenset({"-e", "-f", "-s", "-d"})
_PLAIN_PATH = re.compile(r"/[\w./@+-]*")


def _test(args: list[str]) -> HealthTest | None:
    """``test -f /path`` (also ``-e``, ``-s``, ``-d``): an absolute path without expansions."""
    if len(args) != 2 or args[0] not in _FILE_OPS or not _PLAIN_PATH.fullmatch(args[1]):
        return None
    if any(part == ".." for part in args[1].split("/")):
        return None
    return HealthTest("file", path=args[1], accept=args[0][1])


def _bracket(args: list[str]) -> HealthTest | None:
    return _test(args[:-1]) if args and args[-1] == "]" else None


_URLOPEN = re.compile(
    r"\s*import urllib\.request(?: as (\w+))?\s*;\s*(\w+(?:\.request)?)\.urlopen\(\s*(['\"])([^'\"]+)\3"
    r"\s*(?:,\s*timeout\s*=\s*[\d.]+\s*)?\)\s*;?\s*"
)


def _python(args: list[str]) -> HealthTest | None:
    if len(args) != 2 or args[0] != "-c":
        return None
    m = _URLOPEN.fullmatch(args[1])
    if not m or m.group(2) != (m.group(1) or "urllib.request"):
        return None
    target = _url(m.group(4))
    return HealthTest("http", port=target[0], path=target[1], accept="2xx") if target else None


_HANDLERS = {
    "curl": _curl,
    "wget": _wget,
    "nc": _nc,
    "ncat": _nc,
    "netcat": _nc,
    "pg_isready": _pg_isready,
    "mysqladmin": _mysqladmin,
    "mariadb-admin": _mysqladmin,
    "test": _test,
    "[": _bracket,
}


def describe(test: HealthTest) -> str:
    """A short label for progress output: ``http :8000/health``, ``postgres :5432``, ``exec``."""
    if test.kind == "http":
        return f"http :{test.port}{test.path}"
    if test.from_host:
        return f"{test.kind} :{test.port}"
    if test.kind == "file":
        return f"file -{test.accept} {test.path}"
    return test.kind
