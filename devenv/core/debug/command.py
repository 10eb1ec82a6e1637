"""How a service's command starts Python, and the same command under ``python -m debugpy``.

Pure functions, no Docker: :func:`analyze` reads an argv (the service's effective
``ENTRYPOINT + CMD``) and says how Python is started; what only the container knows (where a
console script lives and which interpreter its shebang names) comes from a ``resolve`` callback.
:func:`wrap` then builds the wrapped argv.

Forms understood:

- ``python [opts] -m module args``, ``python [opts] script.py args``, ``python -c code``;
- console and shebang scripts (``uvicorn``, ``gunicorn``, ``celery``, ``flask run``, a venv's
  ``bin/app``): run as ``<interpreter from the shebang> -m debugpy ... /path/to/script args``;
- wrappers kept in front: ``env VAR=x``, ``tini --``, ``dumb-init``, and an entrypoint shell
  script followed by a Python command (``docker-entrypoint.sh python app.py``: such scripts end
  with ``exec "$@"``);
- shell form (``sh -c "..."``, what a Dockerfile's ``CMD python app.py`` becomes): the last
  command of the script is rewritten to ``exec python -m debugpy ...``, the rest of the script
  (migrations before the server, ``cd``, variables) is kept as written.

A command that already runs debugpy is reported as such (:class:`OwnDebugpy`); anything else
raises :class:`NotPythonError` saying why and what to add to the code instead.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devenv.errors import UsageError

DEBUGPY_HINT = (
    'Start debugpy from the code instead: `import debugpy; debugpy.listen(("0.0.0.0", 5678))` early in the '
    "program (debugpy installed in the image), publish the port on 127.0.0.1, and `devenv debug` will find it."
)

_PYTHON = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?[a-z]?(-dbg)?$")
_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"}
_INITS = {"tini", "tini-static", "dumb-init", "catatonit"}
# Interpreter options that take the next word as their argument.
_OPTS_WITH_ARG = {"-W", "-X", "-Q"}
_LISTEN = re.compile(r"(?:^|[\s/])debugpy(?:\.py)?\b.*?--listen(?:\s+|=)(?:\[?[\w.:-]*?\]?:)?(\d+)\b", re.S)


class NotPythonError(UsageError):
    """The service's command does not start Python in a way devenv can wrap (exit 2)."""

    def __init__(self, message: str, *, hint: str | None = DEBUGPY_HINT) -> None:
        super().__init__(message, hint=hint)


@dataclass(frozen=True)
class Resolved:
    """What the container says about a program name: its path and the first line of the file.

    ``kind``: "python" (a shebang naming Python: ``interpreter`` and its ``options``), "shell"
    (a shell script), "binary" (anything else that exists), "missing" (not on the PATH).
    """

    name: str
    path: str = ""
    kind: str = "missing"
    interpreter: str = ""
    options: tuple[str, ...] = ()


Resolve = Callable[[str], Resolved]


def parse_shebang(name: str, path: str, first_line: str) -> Resolved:
    """Classify a program from its path and the first line of the file (``#!...``)."""
    if not path:
        return Resolved(name)
    if not first_line.startswith("#!"):
        return Resolved(name, path, "binary")
    words = first_line[2:].strip().split()
    if not words:
        return Resolved(name, path, "binary")
    interp, args = words[0], words[1:]
    if posixpath.basename(interp) == "env":
        while args and args[0].startswith("-"):  # `env -S python3 -u`: env's own options first
            args = args[1:]
        if not args:
            return Resolved(name, path, "binary")
        interp, args = args[0], args[1:]
    base = posixpath.basename(interp)
    if _PYTHON.match(base):
        return Resolved(name, path, "python", interp, tuple(args))
    if base in _SHELLS:
        return Resolved(name, path, "shell", interp, tuple(args))
    return Resolved(name, path, "binary", interp, tuple(args))


@dataclass(frozen=True)
class PythonLaunch:
    """``prefix... interpreter options... target... args...``: how the command starts Python.

    ``target``: ``("-m", module)``, ``("-c", code)`` or ``(script path,)``. ``program``: the
    console script as the command names it (empty when the command names the interpreter).
    """

    prefix: tuple[str, ...]
    interpreter: str
    options: tuple[str, ...]
    target: tuple[str, ...]
    args: tuple[str, ...]
    program: str = ""

    def describe(self) -> str:
        if self.program:
            return f"{self.program} (a Python script run by {self.interpreter})"
        if self.target[0] == "-m":
            return f"{self.interpreter} -m {self.target[1]}"
        if self.target[0] == "-c":
            return f"{self.interpreter} -c ..."
        return f"{self.interpreter} {self.target[0]}"


@dataclass(frozen=True)
class ShellLaunch:
    """``shell -c SCRIPT [$0 args...]`` whose last command (``script[start:end]``) starts Python."""

    shell: tuple[str, ...]  # e.g. ("/bin/sh", "-c") with wrappers before
    script: str
    start: int
    end: int
    assignments: str  # raw ``VAR=x`` words before the command, kept as written
    launch: PythonLaunch  # raw words (as written in the script)
    trailing: tuple[str, ...]  # the words after the script ($0, $1...)

    def describe(self) -> str:
        return f"shell command ending in `{self.script[self.start : self.end].strip()}`"


@dataclass(frozen=True)
class OwnDebugpy:
    """The command already runs debugpy, listening on ``port`` in the container."""

    port: int


Launch = PythonLaunch | ShellLaunch | OwnDebugpy


# ------------------------------------------------------------------------------------ analysis
def own_debugpy_port(argv: Sequence[str]) -> int | None:
    """The container port of ``debugpy --listen [host:]port`` in a command line, if it runs debugpy."""
    m = _LISTEN.search(" ".join(argv))
    return int(m.group(1)) if m else None


def analyze(argv: Sequence[str], resolve: Resolve) -> Launch:
    """How ``argv`` starts Python (see the module docstring); ``resolve`` asks the container."""
    words = list(argv)
    if not words:
        raise NotPythonError("The service has no command (neither compose nor the image sets one).")
    port = own_debugpy_port(words)
    if port is not None:
        return OwnDebugpy(port)
    return _analyze(words, (), resolve, shell_words=False)


def _analyze(words: list[str], prefix: tuple[str, ...], resolve: Resolve, *, shell_words: bool) -> Launch:
    i = 0
    while i < len(words):
        word = words[i]
        base = posixpath.basename(_unquote(word) if shell_words else word)
        if base == "env" and not shell_words:
            j = i + 1
            while j < len(words) and (words[j].startswith("-") or _is_assignment(words[j])):
                j += 2 if words[j] in ("-u", "--unset", "-C", "--chdir", "-S") else 1
            prefix, i = (*prefix, *words[i:j]), j
            continue
        if base in _INITS and not shell_words:
            j = i + 1
            while j < len(words) and words[j].startswith("-"):
                j += 1
                if words[j - 1] == "--":
                    break
            prefix, i = (*prefix, *words[i:j]), j
            continue
        if base in _SHELLS and not shell_words:
            script_at = _shell_script_index(words, i)
            if script_at is not None:
                return _analyze_shell(words, i, script_at, prefix, resolve)
        if _PYTHON.match(base):
            return _python(words[i:], prefix, shell_words=shell_words)
        # A program: a console script, an entrypoint script that execs its arguments, or not Python.
        name = _unquote(word) if shell_words else word
        if shell_words and ("$" in word or "`" in word):
            raise NotPythonError(f"Cannot tell which program `{word}` is: it is expanded by the shell at run time.")
        found = resolve(name)
        if found.kind == "python":
            interp = _quote(found.interpreter) if shell_words else found.interpreter
            path = _quote(found.path) if shell_words else found.path
            options = tuple(_quote(o) for o in found.options) if shell_words else found.options
            return PythonLaunch(prefix, interp, options, (path,), tuple(words[i + 1 :]), program=name)
        rest = words[i + 1 :]
        if found.kind == "shell" and rest and not shell_words:
            try:  # an entrypoint script that ends with `exec "$@"`, before a Python command
                inner = _analyze(rest, (*prefix, word), resolve, shell_words=False)
            except NotPythonError:
                inner = None
            if isinstance(inner, PythonLaunch):
                return inner
        raise NotPythonError(_not_python(name, found))
    raise NotPythonError("The service's command is only wrappers (" + " ".join(prefix) + "), with no program.")


def _not_python(name: str, found: Resolved) -> str:
    if found.kind == "missing":
        return (
            f"`{name}` is not a program in the container (not found on its PATH), so devenv cannot tell how to run it."
        )
    if found.kind == "shell":
        return f"`{name}` ({found.path}) is a shell script, not Python: devenv cannot tell which program it starts."
    return f"`{name}` ({found.path}) is not a Python program (no Python shebang): debugpy can only debug Python."


def _python(words: list[str], prefix: tuple[str, ...], *, shell_words: bool) -> PythonLaunch:
    interp = words[0]
    options: list[str] = []
    i = 1
    value = _unquote if shell_words else (lambda w: w)
    while i < len(words):
        w = value(words[i])
        if w in ("-m", "-c"):
            if i + 1 >= len(words):
                raise NotPythonError(f"`{' '.join(words)}`: {w} needs an argument.")
            return PythonLaunch(prefix, interp, tuple(options), (w, words[i + 1]), tuple(words[i + 2 :]))
        if w.startswith(("-m", "-c")) and len(w) > 2 and not w.startswith("--"):
            flag = "-m" if w.startswith("-m") else "-c"
            return PythonLaunch(prefix, interp, tuple(options), (flag, w[2:]), tuple(words[i + 1 :]))
        if w == "--":
            i += 1
            break
        if w == "-":
            raise NotPythonError("The service runs a Python program read from standard input; debugpy needs a file.")
        if w in _OPTS_WITH_ARG:
            options += [words[i], words[i + 1]] if i + 1 < len(words) else [words[i]]
            i += 2
            continue
        if w.startswith("-") and len(w) > 1:
            options.append(words[i])
            i += 1
            continue
        break
    if i >= len(words):
        raise NotPythonError(f"`{' '.join(words)}` starts an interactive Python, not a program to debug.")
    return PythonLaunch(prefix, interp, tuple(options), (words[i],), tuple(words[i + 1 :]))


def _shell_script_index(words: list[str], i: int) -> int | None:
    """The index of the script in ``sh [-flags] -c SCRIPT``, or None when it is not that form."""
    j = i + 1
    while j < len(words) and words[j].startswith("-") and words[j] != "--":
        if "c" in words[j][1:] and not words[j].startswith("--"):
            return j + 1 if j + 1 < len(words) else None
        j += 1
    return None


# ----------------------------------------------------------------------------------- shell form
def _analyze_shell(
    words: list[str], shell_at: int, script_at: int, prefix: tuple[str, ...], resolve: Resolve
) -> Launch:
    script = words[script_at]
    start, end = last_command(script)
    segment = script[start:end]
    spans = shell_words(segment)
    k = 0
    while k < len(spans) and _is_assignment(segment[spans[k][0] : spans[k][1]]):
        k += 1
    assignments = segment[: spans[k - 1][1]] if k else ""
    raw = [segment[a:b] for a, b in spans[k:]]
    if raw and raw[0] == "exec":
        raw = raw[1:]
        while raw and raw[0].startswith("-"):  # exec -a NAME ...: not worth keeping
            raw = raw[2:] if raw[0] == "-a" else raw[1:]
    if not raw:
        raise NotPythonError(f"The shell command `{script.strip()}` ends with no program to wrap.")
    try:
        inner = _analyze(raw, (), resolve, shell_words=True)
    except NotPythonError as exc:
        raise NotPythonError(f"The service runs a shell command whose last part is not Python: {exc.message}") from None
    assert isinstance(inner, PythonLaunch)
    shell = (*prefix, *words[shell_at:script_at])
    return ShellLaunch(shell, script, start, end, assignments, inner, tuple(words[script_at + 1 :]))


def last_command(script: str) -> tuple[int, int]:
    """``(start, end)`` of the last simple command of a shell script (after ``;``, ``&&``, ``||``, newlines).

    Quotes, escapes, ``$(...)`` and backticks are skipped over; a trailing separator or comment
    does not count. A script whose last command is the reader of a pipe (``a | b``) is refused.
    """
    seps: list[tuple[int, int, str]] = []  # (start, end, operator) at the top level
    i, n, depth = 0, len(script), 0
    quote = ""
    while i < n:
        c = script[i]
        if quote == "'":
            if c == "'":
                quote = ""
        elif quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = ""
        elif c == "\\":
            i += 1
        elif c in "'\"":
            quote = c
        elif c == "`":
            j = script.find("`", i + 1)
            i = n if j < 0 else j
        elif c == "$" and script.startswith("$(", i):
            depth += 1
            i += 1
        elif c == "(" and depth:
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif depth:
            pass
        elif c == "#" and (i == 0 or script[i - 1] in " \t\n;&|"):
            j = script.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in ";\n":
            seps.append((i, i + 1, c))
        elif c == "&":
            if script.startswith("&&", i):
                seps.append((i, i + 2, "&&"))
                i += 1
            elif not (i and script[i - 1] in "<>") and not script.startswith("&>", i):
                seps.append((i, i + 1, "&"))
        elif c == "|":
            if script.startswith("||", i):
                seps.append((i, i + 2, "||"))
                i += 1
            elif not (i and script[i - 1] == ">"):
                seps.append((i, i + 1, "|"))
        i += 1
    segments: list[tuple[int, int, str]] = []
    start = 0
    for a, b, op in seps:
        segments.append((start, a, op))
        start = b
    segments.append((start, n, ""))
    for index in range(len(segments) - 1, -1, -1):
        a, b, _op = segments[index]
        text = _strip_comment(script[a:b])
        if text.strip():
            before = segments[index - 1][2] if index else ""
            if before == "|":
                raise NotPythonError(
                    f"The service's shell command ends in a pipe (`{script[a:b].strip()}` reads another "
                    "command's output): devenv wraps only a last command that runs on its own."
                )
            if before == "&" or segments[index][2] == "&":
                raise NotPythonError("The service's shell command runs its last part in the background (`&`).")
            lead = len(script[a:b]) - len(script[a:b].lstrip())
            return a + lead, a + lead + len(text.strip())
    raise NotPythonError("The service's shell command is empty.")


def _strip_comment(text: str) -> str:
    spans = shell_words(text)
    return text[: spans[-1][1]] if spans else ""


def shell_words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of one shell command, quotes and ``$(...)`` kept inside words."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n or text[i] == "#":
            break
        start, depth, quote = i, 0, ""
        while i < n:
            c = text[i]
            if quote == "'":
                quote = "" if c == "'" else quote
            elif quote == '"':
                if c == "\\":
                    i += 1
                elif c == '"':
                    quote = ""
            elif c == "\\":
                i += 1
            elif c in "'\"":
                quote = c
            elif c == "`":
                j = text.find("`", i + 1)
                i = n - 1 if j < 0 else j
            elif c == "$" and text.startswith("$(", i):
                depth += 1
                i += 1
            elif c == ")" and depth:
                depth -= 1
            elif c in " \t\r\n" and not depth:
                break
            i += 1
        spans.append((start, min(i, n)))
    return spans


def _unquote(word: str) -> str:
    try:
        parts = shlex.split(word)
    except ValueError:
        return word
    return parts[0] if len(parts) == 1 else word


def _quote(word: str) -> str:
    return shlex.quote(word)


def _is_assignment(word: str) -> bool:
    return re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word) is not None


# ------------------------------------------------------------------------------------- wrapping
def debugpy_args(listen: str, *, wait: bool) -> list[str]:
    return ["-m", "debugpy", "--listen", listen, *(["--wait-for-client"] if wait else [])]


def wrap(launch: PythonLaunch | ShellLaunch, listen: str, *, wait: bool) -> tuple[list[str], list[str]]:
    """``(entrypoint, command)`` that run ``launch`` under ``python -m debugpy --listen LISTEN``.

    The split keeps both parts non-empty, so an overlay that sets them replaces whatever the
    compose files or the image had (an empty ``command`` in an overlay would not).
    """
    if isinstance(launch, ShellLaunch):
        inner = launch.launch
        # Every word of the inner launch is shell text as written (or quoted when devenv resolved it).
        words = [inner.interpreter, *inner.options, *debugpy_args(listen, wait=wait), *inner.target, *inner.args]
        command = "exec " + " ".join(words)
        if launch.assignments:
            command = launch.assignments + " " + command
        script = launch.script[: launch.start] + command + launch.script[launch.end :]
        return list(launch.shell), [script, *launch.trailing]
    entry = [*launch.prefix, launch.interpreter, *launch.options, *debugpy_args(listen, wait=wait)]
    return entry, [*launch.target, *launch.args]
