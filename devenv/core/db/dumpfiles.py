"""Dump files given by the user (``db import`` / ``db export``): format, integrity and content checks.

Everything here runs before the database is touched: a file that cannot be read in full, or that
would leave an empty database behind (empty, header only, comments and session settings only),
is refused with "Nothing was changed".
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from devenv.errors import UsageError

# The statements that put something into a database. A file whose statements are all others
# (SET, SELECT pg_catalog.set_config(...), BEGIN/COMMIT, LOCK/UNLOCK TABLES, psql meta-commands,
# MySQL's /*!40101 SET ... */ headers) would leave an empty database behind.
CONTENT_KEYWORDS = frozenset({"CREATE", "INSERT", "COPY", "REPLACE", "DO", "CALL", "LOAD", "IMPORT"})

# ``pg_restore -l`` entries that every dump has, even one of an empty database.
_TRIVIAL_TOC = re.compile(
    r"^(ENCODING|STDSTRINGS|SEARCHPATH|DATABASE|DATABASE PROPERTIES)\b"
    r"|^(SCHEMA|COMMENT|ACL) - (SCHEMA )?public\b"
)
_TOC_ENTRY = re.compile(r"^\s*\d+;\s*\d+\s+\d+\s+(.*)$")
_WORD = re.compile(r"[A-Za-z_]+")
_CLUSTER_OBJECT = re.compile(r"(?i)CREATE\s+(DATABASE|ROLE|USER|TABLESPACE)\b")


class WholeClusterDump(Exception):
    """The file creates databases or roles itself (``pg_dump --create``, ``pg_dumpall``)."""


def file_format(path: Path, engine: str) -> str:
    """ "sql", "sql.gz" or "native" from the file name."""
    name = path.name.lower()
    if name.endswith(".sql.gz"):
        return "sql.gz"
    if name.endswith(".sql"):
        return "sql"
    if engine == "postgres" and name.endswith((".dump", ".pgdump", ".backup")):
        return "native"
    raise UsageError(
        f"Cannot tell the format of {path.name}: use .sql, .sql.gz"
        + (" or .dump (pg_dump custom format)." if engine == "postgres" else ".")
    )


def check_export_path(path: Path, *, force: bool = False) -> None:
    """Refuse an export target that cannot be written, before the database is touched."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it.")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name such as {path / 'dump.sql.gz'}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"Cannot export to {path}: the folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"Cannot export to {path}: the folder {parent} is not writable.")


def check_import_file(path: Path, engine: str | None = None) -> str:
    """Check that ``path`` is a complete, readable dump with content, before anything is dropped.

    Returns its format. A ``.sql.gz`` is decompressed once in full (the gzip trailer's CRC and
    length catch a truncated or corrupt file); SQL must hold at least one statement that creates
    something; a pg_dump custom file must start with its ``PGDMP`` signature (its table of contents
    is checked against the server with ``pg_restore -l``: see ``toc_has_content``).
    """
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file.")
    fmt = file_format(path, engine or "postgres")
    try:
        with open(path, "rb") as raw:
            if fmt == "native":
                if raw.read(5) != b"PGDMP":
                    raise UsageError(f"{path} is not a pg_dump custom-format file (no PGDMP signature).")
                return fmt
            if fmt == "sql.gz":
                with gzip.open(raw, "rb") as gz:
                    found = sql_has_content(_chunks(gz))
                    while gz.read(1 << 20):  # read to the end: the trailer's CRC catches damage
                        pass
            else:
                found = sql_has_content(_chunks(raw))
    except WholeClusterDump as what:
        raise UsageError(
            f"{path} creates its own {str(what).lower()} (a `pg_dump --create`, `pg_dumpall` or "
            "`mysqldump --databases` file); devenv imports into the profile's existing database, so "
            "loading it would fail after the drop. Nothing was changed.",
            hint="Export without --create (plain `pg_dump DBNAME`), or `devenv db export FILE`.",
        ) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise UsageError(
            f"{path} cannot be imported: it is not a valid {fmt} file ({exc}). Nothing was changed."
        ) from None
    if not found:
        raise empty_dump_error(path)
    return fmt


def empty_dump_error(path: Path) -> UsageError:
    return UsageError(
        f"{path} would leave an empty database: it holds no statement that creates a table or loads "
        "data (it is empty, or only comments and session settings). Nothing was changed.",
        hint="Check that the export that produced it finished; `devenv db reset` empties the database on purpose.",
    )


def _chunks(src: object, size: int = 1 << 16) -> Iterator[bytes]:
    read = src.read  # type: ignore[attr-defined]
    while True:
        chunk = read(size)
        if not chunk:
            return
        yield chunk


def sql_has_content(chunks: Iterable[bytes]) -> bool:
    """True when the SQL text holds a statement that creates something (see CONTENT_KEYWORDS).

    Reads only as far as the first such statement. Comments, quoted strings and psql
    meta-commands (lines starting with a backslash) are skipped.
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buf = ""
    pos = 0
    for chunk in chunks:
        buf = buf[pos:] + decoder.decode(chunk)
        pos = 0
        while True:
            status, pos = _next_statement(buf, pos)
            if status == "content":
                return True
            if status == "more":
                break
    # The end of the file: a last statement without its semicolon still counts.
    word = _WORD.match(_skip_space(buf, pos)[0])
    return bool(word and word.group(0).upper() in CONTENT_KEYWORDS)


def _skip_space(buf: str, pos: int) -> tuple[str, int]:
    """Skip white space and comments (but not MySQL's executable ``/*! ... */``); (rest, pos)."""
    n = len(buf)
    while pos < n:
        if buf[pos].isspace():
            pos += 1
        elif buf.startswith("--", pos) or buf.startswith("#", pos):
            end = buf.find("\n", pos)
            if end < 0:
                return "", pos  # the comment goes on in the next chunk
            pos = end + 1
        elif buf.startswith("/*", pos) and not buf.startswith("/*!", pos):
            end = buf.find("*/", pos + 2)
            if end < 0:
                return "", pos
            pos = end + 2
        else:
            break
    return buf[pos:], pos


def _next_statement(buf: str, pos: int) -> tuple[str, int]:
    """Classify the statement at ``pos``: ("content", _), ("other", next pos) or ("more", pos)."""
    rest, start = _skip_space(buf, pos)
    if not rest:
        return "more", start
    if rest.startswith("\\"):  # psql meta-command: one line
        end = buf.find("\n", start)
        return ("more", start) if end < 0 else ("other", end + 1)
    if rest.startswith("/*!"):  # MySQL conditional comment: a session setting in dump headers
        end = buf.find("*/", start)
        if end < 0:
            return "more", start
        semi = end + 2
        if buf[semi : semi + 1] == ";":
            semi += 1
        return "other", semi
    word = _WORD.match(rest)
    if word and len(word.group(0)) < len(rest) and word.group(0).upper() in CONTENT_KEYWORDS:
        if word.group(0).upper() == "CREATE":
            what = _CLUSTER_OBJECT.match(rest)
            if what is None and len(rest) < 64:
                return "more", start  # the object's kind is in the next chunk
            if what is not None:
                raise WholeClusterDump(what.group(1).upper())
        return "content", start
    end = _statement_end(buf, start)
    return ("more", start) if end < 0 else ("other", end + 1)


def _statement_end(buf: str, pos: int) -> int:
    """Index of the ``;`` ending the statement at ``pos`` (quotes skipped), or -1 if not in ``buf``."""
    i, n = pos, len(buf)
    while i < n:
        c = buf[i]
        if c in "'\"`":
            end = buf.find(c, i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if c == ";":
            return i
        i += 1
    return -1


def toc_has_content(listing: str) -> bool:
    """True when a ``pg_restore -l`` listing holds an entry beyond what an empty database has."""
    for line in listing.splitlines():
        if line.startswith(";"):
            continue
        match = _TOC_ENTRY.match(line)
        if match and not _TRIVIAL_TOC.match(match.group(1).strip()):
            return True
    return False
