"""Docker's path patterns (``.dockerignore``, ``develop.watch`` ``ignore`` / ``include``), as Compose matches them.

Compose builds its watch matchers with moby's ``patternmatcher``: every pattern is made absolute
against a root (the rule's ``path`` for ``ignore`` / ``include``, the build context for
``.dockerignore``), ``*`` matches within one path element, ``?`` one character of it, ``**`` any
number of elements (none too), ``[...]`` a class, ``\\`` escapes, and ``!`` re-includes. A path
matches when a pattern matches it *or one of its parent directories*; the last pattern that
matches decides (so ``node_modules/`` ignores everything below it, and ``!keep.txt`` after ``*``
takes one file back).

Plain functions on strings: no file system access except :func:`read_ignore_file`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

__all__ = ["EPHEMERAL", "PatternMatcher", "read_ignore_file", "translate"]

# Editors' temporary and lock files (the list Compose keeps, from Tilt): GoLand, Emacs, Vim.
EPHEMERAL = (
    "**/*___jb_old___",
    "**/*___jb_tmp___",
    "**/.idea/**",
    "**/.#*",
    "**/4913",
    "**/*~",
    "**/.*.swp",
    "**/.*.swx",
    "**/.*.swo",
    "**/.*.swn",
)

_SPECIAL = set(".+()|{}$^")  # regex characters that mean nothing in a Docker pattern


def translate(pattern: str) -> str:
    """The regular expression of one (absolute, cleaned) Docker pattern, as patternmatcher compiles it."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":  # "**/" is "**"
                    i += 1
                out.append(".*" if i + 1 >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape(ch))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif ch in _SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    out.append("$")
    return "".join(out)


@dataclass(frozen=True)
class _Pattern:
    text: str  # absolute, cleaned
    exclusion: bool

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(translate(self.text))


def _absolute(root: str, patterns: Iterable[str]) -> list[_Pattern]:
    out = []
    for raw in patterns:
        p = raw.strip()
        if not p:
            continue
        exclusion = p.startswith("!")
        if exclusion:
            p = p[1:].strip()
            if not p:
                continue
        p = posixpath.normpath(p)
        if not p.startswith("/"):
            p = posixpath.join(root, p)
        out.append(_Pattern(posixpath.normpath(p), exclusion))
    return out


class PatternMatcher:
    """Docker patterns made absolute against ``root``; ``matches(path)`` for absolute paths."""

    def __init__(self, root: str | Path, patterns: Sequence[str]) -> None:
        self.root = posixpath.normpath(os.path.abspath(str(root)))
        self.patterns = _absolute(self.root, patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str | Path) -> bool:
        """Whether ``path`` (absolute, or relative to the root) or one of its parents matches; the last
        matching pattern wins (``!`` patterns un-match)."""
        file = str(path)
        if not file.startswith("/"):
            file = posixpath.join(self.root, file)
        file = posixpath.normpath(file)
        parents = file.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # an inclusion cannot add to a match, an exclusion cannot remove a non-match
            hit = pattern.regex.match(file) is not None
            if not hit:
                for i in range(2, len(parents) + 1):
                    if pattern.regex.match("/".join(parents[:i])) is not None:
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched


def read_ignore_file(path: Path) -> list[str]:
    """The patterns of a ``.dockerignore`` file (comments and blank lines dropped, a leading ``/`` removed)."""
    patterns = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        exclusion = text.startswith("!")
        if exclusion:
            text = text[1:].strip()
        text = posixpath.normpath(text)
        if len(text) > 1 and text.startswith("/"):
            text = text[1:]
        patterns.append(("!" if exclusion else "") + text)
    return patterns
