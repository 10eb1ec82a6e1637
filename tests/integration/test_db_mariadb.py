"""`devenv db` against a real MariaDB (tests/integration/stacks/mariadb), for real.

Drives the `devenv` console script (stdin closed, cwd = a copy of the fixture project) and checks
the database itself with `docker exec <db container> mariadb`.

The fixture: service `db` on devenv-test/mariadb (MARIADB_DATABASE=app, MARIADB_USER=app, so
devenv connects as the application user), service `cache` with its own named volume, a custom
"migration" that creates `items` and records an alembic-style revision, a seed command that
inserts one row, and a protected `prod` profile over the same compose project.

Most tests share one running copy (module-scoped `maria`); each starts with `fresh` (migrated,
seeded). The protected-profile test and the variants (devenv connected as root, passwords from
*_FILE secrets) run their own copies.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import (
    DEVENV,
    PROJECT_LABEL,
    SERVICE_LABEL,
    STACKS,
    Stack,
    assert_ready_now,
    base_env,
    cleanup_project,
    docker,
    ok,
    snapshot_names,
    snapshots_doc,
    unique_name,
    volume_created,
    wait_for,
)

pytestmark = pytest.mark.docker

MARIADB_IMAGE = "devenv-test/mariadb:latest"
DB_NAME = "app"
APP_USER = "app"
APP_PASSWORD = "app pw 'y'"  # compose.yml: with a space and quotes on purpose
ROOT_PASSWORD = "root pw 'x'"
REVISION = "0001_items"  # what the fixture's custom migration records
SEED_ROW = "seeded"
DATADIR = "/var/lib/mysql"

# md5 over every column of every row (HEX keeps binary and NULLs exact) plus the row count
CHECKSUM_SQL = (
    "SELECT CONCAT(COUNT(*), ':', COALESCE(MD5(GROUP_CONCAT("
    "CONCAT_WS('|', id, HEX(name), COALESCE(HEX(note), 'NULL'), COALESCE(HEX(data), 'NULL'), "
    "COALESCE(created, 'NULL')) ORDER BY id SEPARATOR '\\n')), '-')) FROM items"
)
# Rows a dump must carry exactly: 4-byte UTF-8, quotes, backslashes, newlines, NULL, all 256 bytes.
TRICKY_ROWS = (
    "INSERT INTO items (name, note, data, created) VALUES "
    "('emoji 🦭 é', 'it''s a \\\\ backslash\\nand a newline', NULL, '2024-02-29 23:59:59.123456'),"
    "('tab\\tname', NULL, UNHEX(CONCAT({hex})), NOW(6)),"
    "('blank', '', '', NULL);"
)


# ----------------------------------------------------------------------------- fixture stacks
def copy_fixture(root: Path, *, edit: Callable[[Path], None] | None = None) -> Stack:
    """A copy of stacks/mariadb under ``root`` with a unique dvt project name."""
    project = unique_name()
    dest = root / project
    shutil.copytree(STACKS / "mariadb", dest)
    toml = dest / "devenv.toml"
    text, count = re.subn(r'(?m)^(name\s*=\s*)"[^"]*"', rf'\g<1>"{project}"', toml.read_text(), count=1)
    assert count == 1, f"could not rename the project in {toml}"
    toml.write_text(text)
    if edit is not None:
        edit(dest)
    st = Stack(path=dest, name=project)
    st.projects.append(project)
    return st


def require_image() -> None:
    if docker("image", "inspect", MARIADB_IMAGE, timeout=30).returncode != 0:
        pytest.fail(f"test image {MARIADB_IMAGE} is missing: run scripts/provision.sh", pytrace=False)


def bring_up(st: Stack, *extra: str) -> None:
    ok(st.devenv("up", "--timeout", "150", *extra, timeout=240))


@pytest.fixture(scope="module")
def maria(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Stack]:
    """The fixture stack, up once for the module (default profile)."""
    require_image()
    st = copy_fixture(tmp_path_factory.mktemp("dbmaria"))
    try:
        bring_up(st)
        yield st
    finally:
        for project in st.projects:
            cleanup_project(project)


@pytest.fixture()
def own_stack(tmp_path: Path, docker_ready: None) -> Iterator[Callable[..., Stack]]:
    """Factory for a private copy (optionally edited), torn down after the test."""
    require_image()
    made: list[Stack] = []

    def make(edit: Callable[[Path], None] | None = None, *up_args: str) -> Stack:
        st = copy_fixture(tmp_path, edit=edit)
        made.append(st)
        bring_up(st, *up_args)
        return st

    try:
        yield make
    finally:
        for st in made:
            for project in st.projects:
                cleanup_project(project)


# ------------------------------------------------------------------------------ running devenv
def new_snapshots(before: list[str], st: Stack, *profile: str) -> list[dict[str, Any]]:
    return [s for s in snapshots_doc(st, *profile)["snapshots"] if s["name"] not in before]


def snapshot_dir(st: Stack, profile: str = "default") -> Path:
    return st.path / ".devenv" / "snapshots" / profile


# --------------------------------------------------------------------------------- the database
def running_container(st: Stack, service: str) -> str | None:
    ids = docker(
        "ps", "-q", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={st.name}",
        "--filter", f"label={SERVICE_LABEL}={service}", "--filter", "status=running",
    ).stdout.split()  # fmt: skip
    return ids[0] if ids else None


def db_container(st: Stack) -> str:
    cid = running_container(st, "db")
    assert cid, f"no running db container in project {st.name}"
    return cid


def sql(st: Stack, query: str, *, root: bool = False, db: str = DB_NAME, check: bool = True) -> str:
    """Run ``query`` with the mariadb client in the db container (batch output, no header)."""
    user, password = ("root", ROOT_PASSWORD) if root else (APP_USER, APP_PASSWORD)
    proc = subprocess.run(
        ["docker", "exec", "-i", "-e", "MYSQL_PWD", db_container(st),
         "mariadb", f"-u{user}", "--default-character-set=utf8mb4", "-N", "-B", db],
        input=query, capture_output=True, text=True, timeout=60, env=base_env({"MYSQL_PWD": password}),
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, f"mariadb failed ({proc.returncode}): {query}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


def tables(st: Stack) -> set[str]:
    out = sql(st, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{DB_NAME}'", root=True)
    return set(out.split())


def names(st: Stack) -> list[str]:
    out = sql(st, "SELECT name FROM items ORDER BY id")
    return out.splitlines() if out else []


def checksum(st: Stack) -> tuple[str, str]:
    table_sum = sql(st, "CHECKSUM TABLE items EXTENDED").split("\t")[-1]
    return sql(st, CHECKSUM_SQL), table_sum


def revision(st: Stack) -> str | None:
    if "alembic_version" not in tables(st):
        return None
    return sql(st, "SELECT GROUP_CONCAT(version_num) FROM alembic_version") or None


def insert_rows(st: Stack, tag: str, n: int = 20) -> None:
    values = ", ".join(f"('{tag}-{i}', 'note {i}')" for i in range(1, n + 1))
    sql(st, f"INSERT INTO items (name, note) VALUES {values}")


def tagged(st: Stack, tag: str) -> int:
    if "items" not in tables(st):
        return 0
    return int(sql(st, f"SELECT COUNT(*) FROM items WHERE name LIKE '{tag}-%'"))


def assert_fresh(st: Stack) -> None:
    """Migrated and seeded: the schema at REVISION and exactly the seed row."""
    assert revision(st) == REVISION
    assert names(st) == [SEED_ROW], names(st)


def fresh(st: Stack) -> None:
    if running_container(st, "db") is None or running_container(st, "cache") is None:
        bring_up(st)
    ok(st.devenv("db", "reset", "--no-snapshot"))
    assert_fresh(st)


def add_routines(st: Stack) -> None:
    """A view, a trigger and a procedure: a dump must bring them back."""
    sql(
        st,
        "CREATE TABLE audit (item_id INT, action VARCHAR(10));\n"
        "CREATE VIEW item_names AS SELECT id, name FROM items;\n"
        "CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id, 'insert');\n"
        "CREATE PROCEDURE item_count(OUT n INT) SELECT COUNT(*) INTO n FROM items;\n",
    )


def holder(st: Stack, statements: str, *, root: bool = False) -> subprocess.Popen[str]:
    """A mariadb client session kept open in the db container, fed ``statements``."""
    user, password = ("root", ROOT_PASSWORD) if root else (APP_USER, APP_PASSWORD)
    proc = subprocess.Popen(
        ["docker", "exec", "-i", "-e", "MYSQL_PWD", db_container(st), "mariadb", f"-u{user}", DB_NAME],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=base_env({"MYSQL_PWD": password}), start_new_session=True,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(statements)
    proc.stdin.flush()
    return proc


def stop(st: Stack, procs: list[subprocess.Popen[str]]) -> None:
    """End the holder clients and their server sessions (killing `docker exec` leaves them running)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
    if running_container(st, "db"):
        ids = sql(
            st,
            "SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() "
            "AND user IN ('app', 'root') AND command <> 'Daemon'",
            root=True,
            db="mysql",
            check=False,
        ).split()
        if ids:
            sql(st, "".join(f"KILL {i};" for i in ids), root=True, db="mysql", check=False)


def sleeping_sessions(st: Stack) -> list[str]:
    out = sql(
        st,
        "SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(%' "
        "OR (db = 'app' AND command = 'Sleep' AND time >= 0 AND user <> 'healthcheck') ORDER BY id",
        root=True,
    )
    return out.split()


# ======================================================================================== tests
def test_snapshot_reset_restore_roundtrip(maria: Stack) -> None:
    st = maria
    fresh(st)
    insert_rows(st, "roundtrip", 30)
    sql(st, TRICKY_ROWS.replace("{hex}", ", ".join(f"'{b:02x}'" for b in range(256))))
    add_routines(st)
    sql(st, "INSERT INTO items (name) VALUES ('after-trigger')")
    before, rows_before = checksum(st), names(st)
    audit_before = sql(st, "SELECT COUNT(*) FROM audit")
    assert audit_before == "1"

    res = ok(st.devenv("db", "snapshot", "s1"))
    assert "s1" in res.stdout + res.stderr, res.dump()
    snap = snapshot_dir(st)
    meta = json.loads((snap / "s1.json").read_text())
    assert meta["engine"] == "mariadb" and meta["database"] == DB_NAME and meta["service"] == "db", meta
    assert meta["revision"] == REVISION and meta["reason"] == "manual", meta
    dump = snap / meta["file"]
    assert dump.is_file() and meta["size"] == dump.stat().st_size > 0, meta
    text = gzip.decompress(dump.read_bytes()).decode()  # a gzip-compressed SQL dump
    assert "CREATE TABLE `items`" in text and "TRIGGER items_ai" in text and "PROCEDURE `item_count`" in text
    assert "CREATE DATABASE" not in text and "\nUSE " not in text, "the dump is tied to the database name"

    ok(st.devenv("db", "reset", "--no-migrate", "--no-seed"))
    assert tables(st) == set(), tables(st)

    res = ok(st.devenv("db", "restore", "s1"))
    assert "s1" in res.stdout + res.stderr, res.dump()
    assert checksum(st) == before
    assert names(st) == rows_before
    assert revision(st) == REVISION
    assert sql(st, "SELECT COUNT(*) FROM audit") == audit_before
    assert sql(st, "SELECT COUNT(*) FROM item_names") == str(len(rows_before))
    sql(st, "INSERT INTO items (name) VALUES ('trigger-still-there')")
    assert sql(st, "SELECT COUNT(*) FROM audit") == "2", "the trigger was not restored"
    assert sql(st, "CALL item_count(@n); SELECT @n") == str(len(rows_before) + 1), "the procedure was not restored"


def test_reset_snapshots_first_migrates_and_seeds(maria: Stack) -> None:
    st = maria
    fresh(st)
    insert_rows(st, "reset", 5)
    listed = snapshot_names(st)

    res = ok(st.devenv("db", "reset"))
    assert tagged(st, "reset") == 0
    assert_fresh(st)
    out = res.stdout + res.stderr
    assert "schema at 0001_items" in out and "seeded" in out, res.dump()
    safety = new_snapshots(listed, st)
    assert [s["reason"] for s in safety] == ["before reset"], safety
    assert safety[0]["name"] in out, res.dump()

    # The safety snapshot holds the data from before the reset.
    ok(st.devenv("db", "restore", safety[0]["name"], "--no-snapshot"))
    assert tagged(st, "reset") == 5


def test_snapshots_json_and_restore_latest(maria: Stack) -> None:
    st = maria
    fresh(st)
    insert_rows(st, "json", 3)
    ok(st.devenv("db", "snapshot", "j1"))
    doc = snapshots_doc(st)
    assert doc["profile"] == "default" and doc["project"] == st.name, doc
    entry = next(s for s in doc["snapshots"] if s["name"] == "j1")
    assert entry["engine"] == "mariadb" and entry["database"] == DB_NAME, entry
    assert entry["revision"] == REVISION and entry["reason"] == "manual", entry
    assert isinstance(entry["size"], int) and entry["size"] == Path(entry["path"]).stat().st_size > 0, entry
    assert entry["format"] == entry["file"].split(".", 1)[1] and entry["file"].startswith("j1."), entry
    assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), entry

    res = st.devenv("db", "snapshot", "j1")
    assert res.returncode == 2 and "already exists" in res.stderr, res.dump()

    ok(st.devenv("db", "reset", "--no-snapshot", "--no-seed"))
    assert names(st) == [] and revision(st) == REVISION
    ok(st.devenv("db", "snapshot", "empty"))
    insert_rows(st, "json", 1)
    ok(st.devenv("db", "restore", "latest", "--no-snapshot"))  # "empty" is the newest
    assert names(st) == []
    ok(st.devenv("db", "restore", "j1", "--no-snapshot"))
    assert tagged(st, "json") == 3

    res = st.devenv("db", "restore", "j11")
    assert res.returncode == 2 and '"j1"' in res.stderr, res.dump()  # did you mean "j1"?


def test_truncated_snapshot_fails_cleanly_and_names_the_safety_snapshot(maria: Stack) -> None:
    st = maria
    fresh(st)
    insert_rows(st, "trunc", 50)
    before = checksum(st)
    ok(st.devenv("db", "snapshot", "t1"))
    listed = sorted(p.name for p in snapshot_dir(st).glob("*.json"))
    path = snapshot_dir(st) / "t1.sql.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    # Damage the metadata does not explain is refused before anything is touched.
    res = st.devenv("db", "restore", "t1")
    assert res.returncode == 2, res.dump()
    assert "is damaged" in res.stderr and "Nothing was changed" in res.stderr, res.dump()
    assert checksum(st) == before
    assert sorted(p.name for p in snapshot_dir(st).glob("*.json")) == listed, "no safety snapshot expected"

    # A dump that was already bad when written (metadata matches) fails after the drop: the
    # output names the safety snapshot that gets the data back.
    meta_path = snapshot_dir(st) / "t1.json"
    meta = json.loads(meta_path.read_text())
    meta.update(size=len(data) // 2, sha256=hashlib.sha256(data[: len(data) // 2]).hexdigest())
    meta_path.write_text(json.dumps(meta))
    res = st.devenv("db", "restore", "t1")
    assert res.returncode == 1, res.dump()
    assert "truncated or corrupt" in res.stderr, res.dump()
    safety = re.search(r"devenv db restore (\S+)", res.stderr)
    assert safety, res.dump()
    ok(st.devenv("db", "restore", safety.group(1), "--no-snapshot"))
    assert checksum(st) == before


def test_reset_ends_open_sessions(maria: Stack) -> None:
    st = maria
    fresh(st)
    insert_rows(st, "sessions", 3)
    # One session sleeps inside a transaction that read `items` (it holds a metadata lock that
    # blocks DROP DATABASE); another sits idle with `app` as its current database.
    sleeper = holder(st, "START TRANSACTION;\nSELECT COUNT(*) FROM items;\nSELECT SLEEP(300);\n")
    idler = holder(st, "SELECT 1;\n")
    try:
        wait_for(lambda: len(sleeping_sessions(st)) >= 2, timeout=30, message="two open client sessions")
        ids = sleeping_sessions(st)

        res = st.devenv("db", "reset", timeout=90)
        assert res.returncode == 0, res.dump()
        assert res.duration < 20, f"reset took {res.duration:.1f}s with open sessions\n{res.dump()}"
        assert_fresh(st)

        left = sql(st, f"SELECT COUNT(*) FROM information_schema.processlist WHERE id IN ({', '.join(ids)})", root=True)
        assert left == "0", f"old sessions still there: {ids}"
        _, err = sleeper.communicate(timeout=30)
        assert sleeper.returncode != 0, err
        assert re.search(r"lost connection|server has gone away|killed|interrupted", err, re.I), err
        _, err = idler.communicate("SELECT 1;\n", timeout=30)
        assert idler.returncode != 0, err
    finally:
        stop(st, [sleeper, idler])


def test_session_of_another_user_fails_the_reset_cleanly(maria: Stack) -> None:
    """Connected as the app user, devenv cannot see or end root's sessions: after a bounded wait
    the reset fails with advice, and the data is untouched (nothing was dropped)."""
    st = maria
    fresh(st)
    insert_rows(st, "locked", 4)
    before = checksum(st)
    root_session = holder(st, "START TRANSACTION;\nSELECT COUNT(*) FROM items;\nSELECT SLEEP(120);\n", root=True)
    try:
        wait_for(lambda: sleeping_sessions(st), timeout=30, message="root's session")
        res = st.devenv("db", "reset", "--no-migrate", "--no-seed", timeout=120)
        assert res.returncode == 1, res.dump()
        assert res.duration < 40, res.dump()
        assert "Lock wait timeout" in res.stderr and '[database] user = "root"' in res.stderr, res.dump()
        assert "SELECT" not in res.stderr, "the client's echoed statement leaked into the message"
        assert "devenv db restore" in res.stderr, res.dump()  # the safety snapshot is named
    finally:
        stop(st, [root_session])
    assert checksum(st) == before


def test_hard_reset_recreates_only_the_database_volume(maria: Stack) -> None:
    st = maria
    fresh(st)
    dbdata, cachedata = f"{st.name}_dbdata", f"{st.name}_cachedata"
    cache = running_container(st, "cache")
    assert cache, "the cache service is not running"
    old_db = db_container(st)
    docker("exec", old_db, "sh", "-c", f"echo hard > {DATADIR}/dvt-hard-marker", check=True)
    docker("exec", cache, "sh", "-c", "echo keep > /cache/dvt-keep-marker", check=True)
    insert_rows(st, "hard", 5)
    db_created, cache_created = volume_created(dbdata), volume_created(cachedata)
    time.sleep(1.1)  # volume CreatedAt has one-second resolution

    listed = snapshot_names(st)
    res = ok(st.devenv("db", "reset", "--hard", timeout=240))

    new_db = db_container(st)
    assert new_db != old_db, "the db container was not recreated"
    assert volume_created(dbdata) > db_created, "the dbdata volume was not recreated"
    assert docker("exec", new_db, "test", "-e", f"{DATADIR}/dvt-hard-marker").returncode != 0
    assert_ready_now(json.loads(docker("inspect", new_db, check=True).stdout)[0], "db")
    assert tagged(st, "hard") == 0
    assert_fresh(st)

    assert running_container(st, "cache") == cache, "the cache container was touched"
    assert volume_created(cachedata) == cache_created, "the cache volume was recreated"
    keep = docker("exec", cache, "cat", "/cache/dvt-keep-marker")
    assert keep.returncode == 0 and keep.stdout.strip() == "keep", keep.stderr
    safety = new_snapshots(listed, st)
    assert [s["reason"] for s in safety] == ["before reset"], safety
    assert safety[0]["name"] in res.stdout + res.stderr, res.dump()

    # The snapshot taken before the hard reset restores into the new volume.
    ok(st.devenv("db", "restore", safety[0]["name"], "--no-snapshot"))
    assert tagged(st, "hard") == 5


def test_export_import_sql_and_sql_gz(maria: Stack, tmp_path: Path) -> None:
    st = maria
    fresh(st)
    insert_rows(st, "export", 12)
    sql(st, TRICKY_ROWS.replace("{hex}", ", ".join(f"'{b:02x}'" for b in range(256))))
    before = checksum(st)

    plain, packed = tmp_path / "out.sql", tmp_path / "out.sql.gz"
    ok(st.devenv("db", "export", str(plain)))
    ok(st.devenv("db", "export", str(packed)))
    text = plain.read_text(encoding="utf-8")
    assert "CREATE TABLE `items`" in text and "emoji 🦭" in text, text[:2000]
    assert "CREATE DATABASE" not in text and "\nUSE " not in text
    assert gzip.decompress(packed.read_bytes()).decode() == text, "the .sql.gz export is not the same SQL"
    assert not list(tmp_path.glob("*.partial"))

    res = st.devenv("db", "export", str(plain))
    assert res.returncode == 2 and "--force" in res.stderr, res.dump()
    ok(st.devenv("db", "export", str(plain), "--force"))

    for src in (plain, packed):
        ok(st.devenv("db", "reset", "--no-snapshot"))
        assert tagged(st, "export") == 0
        res = ok(st.devenv("db", "import", str(src)))
        assert checksum(st) == before, src
        assert tagged(st, "export") == 12
        assert "before import" in json.dumps(snapshots_doc(st)), "import took no safety snapshot"
        assert "snapshot" in res.stdout + res.stderr

    res = st.devenv("db", "import", str(tmp_path / "missing.sql"))
    assert res.returncode == 2, res.dump()
    assert tagged(st, "export") == 12, "a failed import changed the database"


def test_shell_runs_the_client_as_the_app_user(maria: Stack) -> None:
    st = maria
    fresh(st)
    proc = subprocess.run(
        [str(DEVENV), "db", "shell"],
        input="SELECT CONCAT('user=', CURRENT_USER(), ' db=', DATABASE());\n",
        capture_output=True, text=True, timeout=120, cwd=st.path, env=base_env(st.env),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "user=app@% db=app" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
    assert APP_PASSWORD not in proc.stdout + proc.stderr


def test_protected_profile_needs_confirmation(own_stack: Callable[..., Stack]) -> None:
    st = own_stack(None, "--profile", "prod")
    prod = ("--profile", "prod")
    ok(st.devenv("db", "reset", *prod, "--yes", "--confirm-profile", "prod", "--no-snapshot"))
    insert_rows(st, "prod", 6)
    before = checksum(st)

    for extra in ((), ("--yes",), ("--yes", "--confirm-profile", "default")):
        res = st.devenv("db", "reset", *prod, *extra)
        assert res.returncode == 2, res.dump()
        assert "prod" in res.stderr and "Nothing was changed" in res.stderr, res.dump()
        assert checksum(st) == before
    assert not snapshot_dir(st, "prod").exists() or not list(snapshot_dir(st, "prod").glob("*.json"))
    for cmd in (("restore", "latest"), ("import", str(st.path / "dump.sql"))):
        res = st.devenv("db", *cmd, *prod)
        assert res.returncode == 2 and "--confirm-profile prod" in res.stderr, res.dump()
    assert checksum(st) == before

    res = ok(st.devenv("db", "reset", *prod, "--yes", "--confirm-profile", "prod"))
    assert tagged(st, "prod") == 0
    assert_fresh(st)
    safety = snapshots_doc(st, *prod)["snapshots"]
    assert [s["reason"] for s in safety] == ["before reset"] and safety[0]["profile"] == "prod", safety
    ok(st.devenv("db", "restore", "latest", *prod, "--yes", "--confirm-profile", "prod"))
    assert checksum(st) == before


def _connect_as_root(path: Path) -> None:
    toml = path / "devenv.toml"
    text = toml.read_text().replace('[database]\nservice = "db"', '[database]\nservice = "db"\nuser = "root"')
    assert 'user = "root"' in text
    toml.write_text(text)


def test_connected_as_root_ends_every_session_and_keeps_the_app_grant(own_stack: Callable[..., Stack]) -> None:
    st = own_stack(_connect_as_root)
    ok(st.devenv("db", "reset", "--no-snapshot"))  # migrated and seeded, as root
    assert_fresh(st)
    insert_rows(st, "root", 4)
    # devenv connects as root here: it sees (and ends) sessions of every user.
    app_session = holder(st, "START TRANSACTION;\nSELECT COUNT(*) FROM items;\nSELECT SLEEP(300);\n")
    root_session = holder(st, "SELECT 1;\n", root=True)
    try:
        wait_for(lambda: len(sleeping_sessions(st)) >= 2, timeout=30, message="two open client sessions")
        res = st.devenv("db", "reset", "--no-migrate", "--no-seed", timeout=90)
        assert res.returncode == 0, res.dump()
        assert res.duration < 20, res.dump()
        assert tables(st) == set()
        app_session.communicate(timeout=30)
        assert app_session.returncode != 0
    finally:
        stop(st, [app_session, root_session])
    # The app user still owns the recreated database.
    sql(st, "CREATE TABLE after_reset (i INT); INSERT INTO after_reset VALUES (1)")
    grants = sql(st, "SHOW GRANTS FOR CURRENT_USER()")
    assert "ALL PRIVILEGES ON `app`.*" in grants.replace("\\_", "_"), grants

    ok(st.devenv("db", "snapshot", "r1"))
    sql(st, "DROP TABLE after_reset")
    ok(st.devenv("db", "restore", "r1", "--no-snapshot"))
    assert sql(st, "SELECT i FROM after_reset") == "1"
    meta = json.loads((snapshot_dir(st) / "r1.json").read_text())
    assert meta["revision"] is None, meta


def _passwords_from_files(path: Path) -> None:
    (path / "app_password.txt").write_text(APP_PASSWORD + "\n")
    (path / "root_password.txt").write_text(ROOT_PASSWORD)
    compose = path / "compose.yml"
    text = compose.read_text()
    text = text.replace(
        "MARIADB_ROOT_PASSWORD: \"root pw 'x'\"", "MARIADB_ROOT_PASSWORD_FILE: /run/dvt/root_password.txt"
    )
    text = text.replace("MARIADB_PASSWORD: \"app pw 'y'\"", "MYSQL_PASSWORD_FILE: /run/dvt/app_password.txt")
    text = text.replace(
        "      - dbdata:/var/lib/mysql",
        "      - dbdata:/var/lib/mysql\n      - ./app_password.txt:/run/dvt/app_password.txt:ro"
        "\n      - ./root_password.txt:/run/dvt/root_password.txt:ro",
    )
    assert text.count("_FILE:") == 2 and "./app_password.txt" in text
    compose.write_text(text)


def test_passwords_from_file_secrets(own_stack: Callable[..., Stack]) -> None:
    st = own_stack(_passwords_from_files)
    env = docker("inspect", "--format", "{{json .Config.Env}}", db_container(st), check=True).stdout
    assert "app pw" not in env and "root pw" not in env, env
    # The fixture's migration reads $MARIADB_PASSWORD, unset here: reset without it.
    ok(st.devenv("db", "reset", "--no-snapshot", "--no-migrate", "--no-seed"))
    sql(st, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO items VALUES (1, 'from-file')")
    ok(st.devenv("db", "snapshot", "f1"))
    ok(st.devenv("db", "reset", "--no-migrate", "--no-seed"))
    assert tables(st) == set()
    ok(st.devenv("db", "restore", "f1"))
    assert sql(st, "SELECT name FROM items") == "from-file"
