"""Import files that would leave an empty database are refused before anything is dropped."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from devenv.core.db.dumpfiles import check_import_file, sql_has_content, toc_has_content
from devenv.errors import ExitCode, UsageError

PG_HEADER = """--
-- PostgreSQL database dump
--

\\restrict abc123
-- Dumped from database version 15.8
SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);
SET standard_conforming_strings = on;
/* a block comment with CREATE TABLE inside */
"""

MYSQL_HEADER = """-- MariaDB dump 10.19
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
# a hash comment: INSERT INTO nothing
LOCK TABLES `t` WRITE;
UNLOCK TABLES;
"""

EMPTY_CASES = {
    "empty": "",
    "whitespace": "   \n\n\t\n",
    "comments only": "-- nothing here\n-- CREATE TABLE t (id int);\n/* INSERT INTO t VALUES (1); */\n",
    "pg header only": PG_HEADER + "\\unrestrict abc123\n",
    "mysql header only": MYSQL_HEADER,
    "settings in a transaction": "BEGIN;\nSET search_path = public;\nCOMMIT;\n",
    "string holding a keyword": "SET application_name = 'CREATE TABLE x; INSERT';\n",
}

CONTENT_CASES = {
    "create after pg header": PG_HEADER + "CREATE TABLE public.tasks (id integer);\n",
    "copy data": PG_HEADER + "COPY public.tasks (id) FROM stdin;\n1\n\\.\n",
    "insert after mysql header": MYSQL_HEADER + "INSERT INTO `t` VALUES (1);\n",
    "lowercase create, no semicolon at the end": "create table t (id int)",
    "do block": "DO $$ BEGIN PERFORM 1; END $$;",
}


@pytest.mark.parametrize("name", sorted(EMPTY_CASES))
def test_sql_without_content(name: str) -> None:
    assert sql_has_content([EMPTY_CASES[name].encode()]) is False


@pytest.mark.parametrize("name", sorted(CONTENT_CASES))
def test_sql_with_content(name: str) -> None:
    assert sql_has_content([CONTENT_CASES[name].encode()]) is True


def test_sql_content_split_across_chunks() -> None:
    text = (PG_HEADER + "CREATE TABLE t (id int);").encode()
    assert sql_has_content(text[i : i + 7] for i in range(0, len(text), 7))
    header = PG_HEADER.encode()
    assert not sql_has_content(header[i : i + 5] for i in range(0, len(header), 5))


@pytest.mark.parametrize("name", sorted(EMPTY_CASES))
@pytest.mark.parametrize("suffix", [".sql", ".sql.gz"])
def test_empty_import_files_are_refused(tmp_path: Path, name: str, suffix: str) -> None:
    path = tmp_path / f"dump{suffix}"
    data = EMPTY_CASES[name].encode()
    path.write_bytes(gzip.compress(data) if suffix == ".sql.gz" else data)
    with pytest.raises(UsageError) as err:
        check_import_file(path, "postgres")
    assert "empty database" in err.value.message
    assert "Nothing was changed" in err.value.message
    assert err.value.exit_code == ExitCode.USAGE


def test_real_content_passes(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql.gz"
    path.write_bytes(gzip.compress(CONTENT_CASES["copy data"].encode()))
    assert check_import_file(path, "postgres") == "sql.gz"


EMPTY_TOC = """;
; Archive created at 2026-12-01 10:00:00 UTC
;     dbname: app
;     TOC Entries: 4
;
3335; 0 0 ENCODING - ENCODING
3336; 0 0 STDSTRINGS - STDSTRINGS
3337; 0 0 SEARCHPATH - SEARCHPATH
3338; 1262 16384 DATABASE - app app
5; 2615 2200 SCHEMA - public pg_database_owner
3339; 0 0 COMMENT - SCHEMA public pg_database_owner
"""


def test_pg_restore_listing_of_an_empty_database() -> None:
    assert toc_has_content(EMPTY_TOC) is False
    assert toc_has_content("") is False


def test_pg_restore_listing_with_a_table() -> None:
    listing = EMPTY_TOC + "215; 1259 16385 TABLE public tasks app\n3330; 0 16385 TABLE DATA public tasks app\n"
    assert toc_has_content(listing) is True


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (
            "--\n-- PostgreSQL database dump\nSET x = 1;\n"
            "CREATE DATABASE app WITH TEMPLATE = template0;\n\\connect app\n",
            "database",
        ),
        ("CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\n", "role"),
        ("/*!40101 SET NAMES utf8mb4 */;\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `app`;\nUSE `app`;\n", "database"),
    ],
)
def test_files_that_create_their_own_database_are_refused(tmp_path: Path, text: str, what: str) -> None:
    path = tmp_path / "cluster.sql"
    path.write_text(text + "CREATE TABLE t (id int);\n")
    with pytest.raises(UsageError) as err:
        check_import_file(path, "postgres")
    assert f"creates its own {what}" in err.value.message
    assert "Nothing was changed" in err.value.message
