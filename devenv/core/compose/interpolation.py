"""Compose's variable interpolation, read from the compose files' own text: every required variable at once.

Compose stops at the first ``${VAR:?message}`` it cannot fill; devenv names all of them, each with
the compose file and line that requires it and the env files that were read (:func:`missing_required`,
:func:`missing_variables_error`). Shared by ``devenv doctor`` and by every command whose Compose run
failed on a missing variable (:meth:`devenv.core.stack.Stack.map_compose_error`).

The grammar is Compose's (compose-go ``template``, checked against Compose v2.40):

- ``$$`` is a literal ``$``; a ``$`` followed by anything but a name or ``{`` is literal too;
- ``$NAME`` and ``${NAME}``; ``${NAME:-default}`` / ``${NAME-default}`` (default when unset or
  empty / when unset); ``${NAME:+alt}`` / ``${NAME+alt}`` (alt when set and non-empty / when set);
  ``${NAME:?message}`` / ``${NAME?message}`` (an error when unset or empty / when unset);
- the braces balance by counting ``${`` openings, so defaults nest: ``${A:-${B:?msg}}``;
- Compose substitutes the default, alternative and message texts *before* it looks at the
  variable (eagerly): a required variable inside a default is required even when the outer
  variable is set. Verified: ``A=1 docker compose config`` still fails on ``${A:-${B:?x}}``.
- only string *values* are interpolated (not mapping keys, not comments), including ``x-``
  extension fields; ``${`` without its closing brace, or with anything but a name and one of the
  operators above, is an "invalid interpolation format".

Values are found with PyYAML's node tree (so comments and keys are skipped) and located by line in
the raw text; a file whose YAML does not parse is read line by line, comments skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.errors import ComposeFileError

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
# Longest first: ":-" before "-".
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


@dataclass(frozen=True)
class VarRef:
    """One ``$NAME`` / ``${NAME...}`` in a text. ``offset``: of its ``$`` in the scanned text."""

    name: str
    op: str  # "" (plain), ":-", "-", ":+", "+", ":?", "?"
    arg: str  # the default, alternative or message text as written ("" when none)
    offset: int
    depth: int = 0  # 0: at the top of the value; 1+: inside another reference's default/alt/message

    @property
    def required(self) -> bool:
        return self.op in (":?", "?")

    @property
    def nonempty(self) -> bool:
        """``:?``: an empty value fails too (``?`` accepts it)."""
        return self.op == ":?"


@dataclass(frozen=True)
class BadRef:
    """An invalid interpolation (Compose refuses the whole file): ``offset`` of its ``$``."""

    text: str
    offset: int
    reason: str


def _closing_brace(text: str, start: int) -> int:
    """The index of the ``}`` closing the ``${`` at ``start``, counting ``${`` openings; -1 if none."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def scan(text: str, *, base: int = 0, depth: int = 0) -> tuple[list[VarRef], list[BadRef]]:
    """Every variable reference in ``text`` (nested ones included, after their outer one), and the invalid ones.

    ``base`` is added to the offsets (for nested texts). Escaped ``$$`` references are not listed.
    """
    refs: list[VarRef] = []
    bad: list[BadRef] = []
    i = 0
    n = len(text)
    while True:
        j = text.find("$", i)
        if j < 0 or j + 1 >= n:
            break
        nxt = text[j + 1]
        if nxt == "$":
            i = j + 2
            continue
        if nxt != "{":
            m = _NAME.match(text, j + 1)
            if m is not None:
                refs.append(VarRef(m.group(), "", "", base + j, depth))
                i = m.end()
            else:
                i = j + 1  # a lone "$" is literal
            continue
        close = _closing_brace(text, j)
        if close < 0:
            bad.append(BadRef(text[j : j + 40], base + j, "no closing brace"))
            i = j + 2
            continue
        inner = text[j + 2 : close]
        m = _NAME.match(inner)
        if m is None:
            bad.append(BadRef(text[j : close + 1], base + j, "not a variable name"))
            i = close + 1
            continue
        name, rest = m.group(), inner[m.end() :]
        op = "" if not rest else next((o for o in _OPERATORS if rest.startswith(o)), None)
        if op is None:
            bad.append(BadRef(text[j : close + 1], base + j, f"unknown operator after {name}"))
            i = close + 1
            continue
        arg = rest[len(op) :]
        refs.append(VarRef(name, op, arg, base + j, depth))
        if arg:
            arg_start = j + 2 + m.end() + len(op)
            nested, nested_bad = scan(arg, base=base + arg_start, depth=depth + 1)
            refs += nested
            bad += nested_bad
        i = close + 1
    return refs, bad


# ------------------------------------------------------------------------------ compose files
@dataclass(frozen=True)
class Located:
    """A reference in a compose file: the reference, the file and the 1-based line."""

    ref: VarRef
    file: Path
    line: int


@dataclass(frozen=True)
class BadLocated:
    bad: BadRef
    file: Path
    line: int


@dataclass
class FileScan:
    refs: list[Located] = field(default_factory=list)
    bad: list[BadLocated] = field(default_factory=list)
    yaml_error: str | None = None  # the file was read line by line (its YAML does not parse)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _value_spans(text: str) -> list[tuple[str, int, int]] | None:
    """``(value, start, end)`` of every scalar value (not keys) in the YAML text; None if it does not parse."""
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = list(yaml.compose_all(text, Loader=loader))
    except (yaml.YAMLError, RecursionError):
        return None
    spans: list[tuple[str, int, int]] = []
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if isinstance(node.value, str) and "$" in node.value:
                spans.append((node.value, node.start_mark.index, node.end_mark.index))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == "<<":
                    continue  # a merge key: its aliases point at nodes walked where they are defined
                walk(value)

    for document in documents:
        walk(document)
    return spans


def _strip_comment(line: str) -> str:
    """A YAML line without its comment (a ``#`` at the start or after a blank, outside quotes)."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def scan_text(text: str, file: Path) -> FileScan:
    """The references of one compose file's text (see the module docstring)."""
    result = FileScan()
    spans = _value_spans(text)
    if spans is None:
        result.yaml_error = "the YAML does not parse"
        offset = 0
        for raw in text.splitlines(keepends=True):
            code = _strip_comment(raw)
            refs, bad = scan(code, base=offset)
            result.refs += [Located(r, file, _line_of(text, r.offset)) for r in refs]
            result.bad += [BadLocated(b, file, _line_of(text, b.offset)) for b in bad]
            offset += len(raw)
        return result
    for value, start, end in spans:
        raw = text[start:end]
        refs, bad = scan(value)
        cursor = 0
        for ref in refs:
            head = "${" + ref.name if value.startswith("${", ref.offset) else "$" + ref.name
            found = raw.find(head, cursor)
            if found < 0:
                found = raw.find(head)
            at = start + (found if found >= 0 else 0)
            if found >= 0 and ref.depth == 0:
                cursor = found + 1
            result.refs.append(Located(ref, file, _line_of(text, at)))
        for b in bad:
            found = raw.find(b.text[:20])
            result.bad.append(BadLocated(b, file, _line_of(text, start + max(found, 0))))
    return result


def scan_file(path: Path) -> FileScan:
    """The references of one compose file; an unreadable file gives an empty scan."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return FileScan()
    return scan_text(text, path)


def _included(path: Path, text: str) -> list[Path]:
    """The files a compose file's top-level ``include:`` names (relative to it), when they exist."""
    if not re.search(r"(?m)^include\s*:", text):
        return []
    from devenv.core.compose.files import _include_paths, _interpolate, _load_compose_yaml

    try:
        data = _load_compose_yaml(path, None)
    except Exception:
        return []
    out: list[Path] = []
    for entry in data.get("include") or [] if isinstance(data, dict) else []:
        for rel in _include_paths(entry):
            p = Path(_interpolate(rel)).expanduser()
            p = p if p.is_absolute() else path.parent / p
            if p.is_file():
                out.append(p)
    return out


def scan_files(files: Iterable[Path]) -> list[FileScan]:
    """Each compose file's scan, ``include:``d files after the file that includes them (each once)."""
    scans: list[FileScan] = []
    seen: set[Path] = set()

    def visit(path: Path, depth: int) -> None:
        key = path.resolve() if path.exists() else path
        if key in seen or depth > 20:
            return
        seen.add(key)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        scans.append(scan_text(text, path))
        for inc in _included(path, text):
            visit(inc, depth + 1)

    for f in files:
        visit(Path(f), 0)
    return scans


# ------------------------------------------------------------------------------------ env files
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*(?P<sep>[=:])(?P<rest>.*)$")


def parse_dotenv(text: str) -> dict[str, tuple[str, int]]:
    """``KEY -> (value, line)`` of an env file, read as Compose reads it (the last assignment wins).

    ``KEY=value``, ``export KEY=value``, ``KEY: value``; quoted values (``"..."`` / ``'...'``) up to
    the closing quote; unquoted values end at a ``#`` that follows a blank (Compose keeps
    ``KEY= # x`` as ``# x``). A bare ``KEY`` with no ``=`` assigns nothing.
    """
    out: dict[str, tuple[str, int]] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        index += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _DOTENV_LINE.match(raw)
        if m is None:
            continue
        line_no = index
        rest = m["rest"].lstrip()
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            end = body.find(quote)
            while end < 0 and quote == '"' and index < len(lines):  # a double-quoted value may span lines
                body += "\n" + lines[index]
                index += 1
                end = body.find(quote)
            value = body[:end] if end >= 0 else body
        else:
            cut = re.search(r"\s#", rest)
            value = (rest[: cut.start()] if cut else rest).strip()
        out[m["key"]] = (value, line_no)
    return out


def read_dotenv(path: Path) -> dict[str, tuple[str, int]]:
    """:func:`parse_dotenv` of a file; an unreadable file is empty."""
    try:
        return parse_dotenv(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def env_files_read(compose_files: Sequence[Path], env_files: Sequence[Path]) -> list[Path]:
    """The env files Compose reads for interpolation: ``--env-file``s, else the project folder's ``.env``."""
    if env_files:
        return [Path(p) for p in env_files if Path(p).is_file()]
    if compose_files:
        default = Path(compose_files[0]).parent / ".env"
        if default.is_file():
            return [default]
    return []


def interpolation_mapping(
    compose_files: Sequence[Path], env_files: Sequence[Path], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What Compose interpolates with: the env files (later wins), then the environment over them."""
    mapping: dict[str, str] = {}
    for path in env_files_read(compose_files, env_files):
        mapping.update({k: v for k, (v, _line) in read_dotenv(path).items()})
    mapping.update(os.environ if environ is None else environ)
    return mapping


# ---------------------------------------------------------------------------- missing variables
@dataclass(frozen=True)
class MissingVariable:
    """A required variable that the env files and the environment leave unset (or empty, for ``:?``)."""

    name: str
    empty: bool  # set, but empty (only ``:?`` uses count)
    uses: tuple[Located, ...]  # every place that requires it, in file order

    @property
    def message(self) -> str:
        """The first non-empty message the compose files give for it."""
        return next((u.ref.arg for u in self.uses if u.ref.arg), "")


def missing_required(
    compose_files: Sequence[Path],
    env_files: Sequence[Path],
    environ: Mapping[str, str] | None = None,
    *,
    scans: Sequence[FileScan] | None = None,
) -> list[MissingVariable]:
    """Every required variable Compose would fail on, in the order the files first require them."""
    mapping = interpolation_mapping(compose_files, env_files, environ)
    uses: dict[str, list[Located]] = {}
    empty: dict[str, bool] = {}
    for file_scan in scans if scans is not None else scan_files(compose_files):
        for located in file_scan.refs:
            ref = located.ref
            if not ref.required:
                continue
            value = mapping.get(ref.name)
            if value is not None and (value != "" or not ref.nonempty):
                continue
            uses.setdefault(ref.name, []).append(located)
            empty[ref.name] = value is not None
    return [MissingVariable(name, empty[name], tuple(found)) for name, found in uses.items()]


def shown(path: Path, root: Path | None) -> str:
    """A path relative to ``root`` when it is below it."""
    if root is not None:
        try:
            return Path(os.path.relpath(path, root)).as_posix() if path.is_relative_to(root) else str(path)
        except ValueError:
            pass
    return str(path)


def missing_variables_error(
    missing: Sequence[MissingVariable],
    *,
    profile: str,
    compose_files: Sequence[Path],
    env_files: Sequence[Path],
    root: Path | None,
) -> ComposeFileError | None:
    """One error naming every missing variable with its file:line (exit 2), or None when there is none."""
    if not missing:
        return None
    read = env_files_read(compose_files, env_files)
    read_text = ", ".join(shown(p, root) for p in read) if read else "none"
    lines = []
    for var in missing:
        where = ", ".join(dict.fromkeys(f"{shown(u.file, root)}:{u.line}" for u in var.uses))
        state = " (set but empty)" if var.empty else ""
        message = f": {var.message}" if var.message else ""
        lines.append(f"  {var.name}{state}  required at {where}{message}")
    count = len(missing)
    target = shown(read[-1], root) if read else "an env file of the profile"
    return ComposeFileError(
        f"{count} required variable{'s' if count != 1 else ''} of profile {profile!r} "
        f"{'are' if count != 1 else 'is'} not set (env files read: {read_text}; then the environment):\n"
        + "\n".join(lines),
        hint=f"Set {'them' if count != 1 else 'it'} in {target} or export {'them' if count != 1 else 'it'}, "
        "then run again; `devenv doctor` checks the rest of the setup too.",
    )
