"""JSON with comments (VS Code's ``launch.json``): parse with positions, edit one entry in place.

VS Code's files are JSONC: ``//`` and ``/* */`` comments and trailing commas. No maintained Python
library both reads that and writes an edit back with the comments in place, so this is a small
parser that keeps the span of every value, and :func:`upsert_configuration` rewrites only the text
of one entry of ``configurations`` (or inserts one): everything else in the file, comments and
formatting included, stays byte for byte. A file it cannot parse raises :class:`JsoncError` and
is not touched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class JsoncError(ValueError):
    """Not JSONC; ``line`` and ``column`` (1-based) say where."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        self.line = text.count("\n", 0, pos) + 1
        self.column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{message} (line {self.line}, column {self.column})")


@dataclass
class Node:
    """A value and where its text is: ``text[start:end]``."""

    kind: str  # "object" | "array" | "string" | "number" | "literal"
    start: int
    end: int
    value: Any = None
    members: list[tuple[str, Node]] = field(default_factory=list)  # objects: (key, value node)
    items: list[Node] = field(default_factory=list)  # arrays

    def get(self, key: str) -> Node | None:
        for name, node in self.members:
            if name == key:
                return node
        return None


_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None) -> JsoncError:
        return JsoncError(message, self.text, self.pos if pos is None else pos)

    def skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c in " \t\r\n\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unclosed /* comment")
                self.pos = end + 2
            else:
                return

    def value(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of file")
        c = self.text[self.pos]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return self.string()
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return Node("number", m.start(), m.end(), json.loads(m.group()))
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return Node("literal", self.pos - len(word), self.pos, val)
        raise self.fail(f"unexpected character {c!r}")

    def string(self) -> Node:
        m = _STRING.match(self.text, self.pos)
        if not m:
            raise self.fail("invalid string")
        self.pos = m.end()
        return Node("string", m.start(), m.end(), json.loads(m.group()))

    def obj(self) -> Node:
        node = Node("object", self.pos, self.pos, {})
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                break
            if not self.text.startswith('"', self.pos):
                raise self.fail('expected a "key" or }')
            key = self.string().value
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise self.fail("expected :")
            self.pos += 1
            child = self.value()
            node.members.append((key, child))
            node.value[key] = child.value
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if not self.text.startswith("}", self.pos):
                raise self.fail("expected , or }")
            break
        self.pos += 1
        node.end = self.pos
        return node

    def arr(self) -> Node:
        node = Node("array", self.pos, self.pos, [])
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                break
            child = self.value()
            node.items.append(child)
            node.value.append(child.value)
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if not self.text.startswith("]", self.pos):
                raise self.fail("expected , or ]")
            break
        self.pos += 1
        node.end = self.pos
        return node


def parse(text: str) -> Node:
    """The root value of a JSONC document (comments and trailing commas allowed)."""
    p = _Parser(text)
    root = p.value()
    p.skip()
    if p.pos != len(text):
        raise p.fail("unexpected text after the end of the document")
    return root


def loads(text: str) -> Any:
    return parse(text).value


# ------------------------------------------------------------------------------------- editing
def _line_indent(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _unit(text: str) -> str:
    """The file's indentation step (its first indented line), four spaces when it has none."""
    m = re.search(r"\n([ \t]+)\S", text)
    return m.group(1) if m else "    "


def _render(value: Any, indent: str, unit: str) -> str:
    lines = json.dumps(value, indent=unit, ensure_ascii=False).splitlines()
    return "\n".join([lines[0], *[indent + line for line in lines[1:]]])


def upsert_configuration(text: str, config: dict[str, Any]) -> str:
    """``text`` with ``config`` as the entry of ``configurations`` named ``config["name"]``.

    An entry of that name is replaced where it stands; otherwise ``config`` is appended (and
    ``configurations`` created when missing). Only that entry's text changes.
    """
    root = parse(text)
    if root.kind != "object":
        raise JsoncError("the top level is not an object", text, root.start)
    unit = _unit(text)
    configs = root.get("configurations")
    if configs is None:
        outer = _line_indent(text, root.start)
        indent = outer + unit
        body = f'"configurations": [\n{indent}{unit}{_render(config, indent + unit, unit)}\n{indent}]'
        insert = f"\n{indent}{body}" + ("," if root.members else "")
        rest = text[root.start + 1 :]
        if not root.members and "\n" not in text[root.start + 1 : root.end - 1]:  # `{}`: close on its own line
            rest = text[root.start + 1 : root.end - 1].rstrip(" \t") + "\n" + outer + text[root.end - 1 :]
        return text[: root.start + 1] + insert + rest
    if configs.kind != "array":
        raise JsoncError('"configurations" is not a list', text, configs.start)
    for item in configs.items:
        if item.kind == "object" and isinstance(item.value.get("name"), str) and item.value["name"] == config["name"]:
            indent = _line_indent(text, item.start)
            return text[: item.start] + _render(config, indent, unit) + text[item.end :]
    if configs.items:
        last = configs.items[-1]
        indent = _line_indent(text, last.start)
        # After the last entry's comma and any comment on its line, so that comment stays with it.
        p = last.end
        while p < len(text) and text[p] in " \t":
            p += 1
        comma = text.startswith(",", p)
        p += 1 if comma else 0
        tail = re.match(r"[ \t]*(//[^\n]*|/\*[^\n]*?\*/[ \t]*)?", text[p:])
        p += tail.end() if tail else 0
        head = text[: last.end] + ("" if comma else ",") + text[last.end : p]
        return head + "\n" + indent + _render(config, indent, unit) + text[p:]
    outer = _line_indent(text, configs.start)
    indent = outer + unit
    inside = text[configs.start + 1 : configs.end - 1]
    if "\n" not in inside:  # `[]`: close on a line of its own
        inside = inside.rstrip(" \t") + "\n" + outer
    return text[: configs.start + 1] + "\n" + indent + _render(config, indent, unit) + inside + text[configs.end - 1 :]
