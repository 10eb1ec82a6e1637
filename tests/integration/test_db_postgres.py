"""`devenv db` against the bundled example stack (PostgreSQL 15, alembic, seed), for real.

Drives the `devenv` console script (stdin closed, cwd = a copy of the example project) and checks
the database itself with `docker exec <postgres container> psql`.

Most tests share one running copy of the example (module-scoped `pg_stack`, with an extra
`sidecar` service owning its own named volume, from stacks/pg_sidecar). Every test starts by
putting that stack back into a known state (`fresh`: schema at head, seed rows only) and inserts
its own rows with status 'done', so the example's worker (which marks 'pending' tasks as done)
never changes them under a checksum. The protected-profile test runs its own copy under the
`prod` profile.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import (
    APP_IMAGE,
    DEVENV,
    POSTGRES_IMAGE,
    PROJECT_LABEL,
    PYTHON_IMAGE,
    REPO,
    SERVICE_LABEL,
    STACKS,
    Stack,
    assert_ready_now,
    base_env,
    cleanup_project,
    docker,
    free_ports,
    ok,
    run_devenv,
    snapshot_names,
    snapshots_doc,
    unique_name,
    volume_created,
    wait_for,
)

pytestmark = pytest.mark.docker

DB_USER = "tasktracker"  # compose/.env of the example
DB_NAME = "tasktracker"
DB_SERVICE = "postgres"
PGDATA_MOUNT = "/var/lib/postgresql/data"
EXAMPLE_PARTS = ("compose", "profiles", "devenv.toml")
SIDECAR = STACKS / "pg_sidecar" / "compose.sidecar.yml"
CHECKSUM_SQL = "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '-') FROM tasks t"
SNAPSHOT_KEYS = {
    "name": str,
    "profile": str,
    "engine": str,
    "database": str,
    "service": str,
    "created": float,
    "size": int,
    "file": str,
    "format": str,
    "sha256": str,
    "reason": str,
    "project": str,
    "path": str,
}


# ------------------------------------------------------------------------------- example copies
def copy_example(root: Path, *, sidecar: bool) -> Stack:
    """A copy of the repo's example stack under ``root`` with a unique project name, local images
    and free ports (same recipe as conftest's ``example_stack``, usable from a module fixture)."""
    project = unique_name()
    dest = root / f"example-{project}"
    dest.mkdir(parents=True)
    for part in EXAMPLE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    toml = dest / "devenv.toml"
    text, count = re.subn(r'(?m)^(\s*name\s*=\s*)"[^"]*"', rf'\g<1>"{project}"', toml.read_text(), count=1)
    assert count == 1, f"could not rename the project in {toml}"
    toml.write_text(text)
    compose_project = f"{project}c"
    for compose_file in (dest / "compose").glob("compose*.y*ml"):
        ctext = re.sub(r"(?m)^name:\s*\S+", f"name: {compose_project}", compose_file.read_text())
        compose_file.write_text(ctext)
    if sidecar:
        shutil.copy2(SIDECAR, dest / "compose" / SIDECAR.name)
        dev = dest / "profiles" / "dev.toml"
        dtext, count = re.subn(
            r'(?m)^compose_files\s*=\s*\["compose/compose\.dev\.yml"\]',
            f'compose_files = ["compose/compose.dev.yml", "compose/{SIDECAR.name}"]',
            dev.read_text(),
        )
        assert count == 1, f"could not add the sidecar overlay to {dev}"
        dev.write_text(dtext)
    api, pg, dbg = free_ports(3)
    st = Stack(
        path=dest,
        name=project,
        env={
            "POSTGRES_IMAGE": POSTGRES_IMAGE,
            "APP_IMAGE": APP_IMAGE,
            "APP_BASE_IMAGE": PYTHON_IMAGE,
            "PYTHON_IMAGE": PYTHON_IMAGE,
            "API_PORT": str(api),
            "POSTGRES_PORT": str(pg),
            "DEBUG_PORT": str(dbg),
        },
    )
    st.projects += [project, compose_project]
    return st


def require_app_image() -> None:
    if docker("image", "inspect", APP_IMAGE, timeout=30).returncode != 0:
        pytest.fail(f"test image {APP_IMAGE} is missing: run scripts/provision.sh", pytrace=False)


def example_up_under_debugpy(root: Path) -> Iterator[Stack]:
    """The example stack (no sidecar) copied under ``root`` and up, for a module fixture of the
    debugger tests (its dev api runs its own debugpy); its projects are removed afterwards."""
    require_app_image()
    st = copy_example(root, sidecar=False)
    try:
        up = st.devenv("up", "--timeout", "420", timeout=480)  # debugpy's tracing slows the api's start
        assert up.returncode == 0, up.dump()
        yield st
    finally:
        for project in st.projects:
            cleanup_project(project)


def bring_up(st: Stack, *extra: str) -> None:
    res = st.devenv("up", "--timeout", "150", *extra, timeout=240)
    assert res.returncode == 0, res.dump()


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Stack]:
    """The example stack (dev profile + sidecar) up once for the whole module."""
    require_app_image()
    st = copy_example(tmp_path_factory.mktemp("dbpg"), sidecar=True)
    try:
        bring_up(st)
        yield st
    finally:
        for project in st.projects:
            cleanup_project(project)


@pytest.fixture()
def prod_stack(tmp_path: Path, docker_ready: None) -> Iterator[Stack]:
    """Its own copy of the example, up under the protected `prod` profile."""
    require_app_image()
    st = copy_example(tmp_path, sidecar=False)
    try:
        bring_up(st, "--profile", "prod")
        yield st
    finally:
        for project in st.projects:
            cleanup_project(project)


# ------------------------------------------------------------------------------ running devenv
def snapshot_dir(st: Stack, profile: str = "dev") -> Path:
    return st.path / ".devenv" / "snapshots" / profile


def partial_files(st: Stack) -> list[Path]:
    root = st.path / ".devenv"
    return sorted(p for p in root.rglob("*") if "partial" in p.name) if root.exists() else []


# --------------------------------------------------------------------------------- the database
def running_container(st: Stack, service: str) -> str | None:
    """The running (not one-off) container of ``service``, if any."""
    project = f"label={PROJECT_LABEL}={st.name}"
    running = docker(
        "ps", "-q", "--no-trunc", "--filter", project, "--filter", f"label={SERVICE_LABEL}={service}",
        "--filter", "status=running",
    ).stdout.split()  # fmt: skip
    one_offs = docker(
        "ps", "-aq", "--no-trunc", "--filter", project, "--filter", "label=com.docker.compose.oneoff=True"
    ).stdout.split()
    ids = [i for i in running if i not in one_offs]
    return ids[0] if ids else None


def pg_container(st: Stack) -> str:
    cid = running_container(st, DB_SERVICE)
    assert cid, f"no running {DB_SERVICE} container in project {st.name}"
    return cid


def psql(st: Stack, sql: str, *, db: str = DB_NAME, check: bool = True) -> str:
    res = docker(
        "exec", pg_container(st), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", DB_USER, "-d", db, "-c", sql
    )
    if check:
        assert res.returncode == 0, f"psql failed ({res.returncode}): {sql}\n{res.stdout}\n{res.stderr}"
    return res.stdout.strip()


def table_exists(st: Stack, table: str) -> bool:
    return psql(st, f"SELECT to_regclass('public.{table}') IS NOT NULL") == "t"


def revision(st: Stack) -> str | None:
    if not table_exists(st, "alembic_version"):
        return None
    return psql(st, "SELECT string_agg(version_num, ',') FROM alembic_version") or None


def titles(st: Stack) -> list[str]:
    out = psql(st, "SELECT title FROM tasks ORDER BY id")
    return out.splitlines() if out else []


def settle(st: Stack) -> None:
    """Wait until the worker has marked every seeded (pending) task done: rows are stable then."""
    wait_for(
        lambda: psql(st, "SELECT count(*) FROM tasks WHERE status = 'pending'") == "0",
        timeout=30,
        message="the worker to process pending tasks",
    )


def checksum(st: Stack) -> str:
    settle(st)
    return psql(st, CHECKSUM_SQL)


def insert_rows(st: Stack, tag: str, n: int = 25) -> None:
    """``n`` tasks titled ``<tag>-<i>``; status 'done' so the worker leaves them alone."""
    psql(
        st,
        "INSERT INTO tasks (title, status, priority) "
        f"SELECT '{tag}-' || g, 'done', g % 10 FROM generate_series(1, {n}) AS g",
    )


def tagged(st: Stack, tag: str) -> int:
    return int(psql(st, f"SELECT count(*) FROM tasks WHERE title LIKE '{tag}-%'"))


# ------------------------------------------------------------------------- facts of the example
def head_revision(st: Stack) -> str:
    """The alembic head of the copied example: the revision no other revision builds on."""
    revisions: dict[str, str | None] = {}
    for path in (st.path / "compose" / "app" / "migrations" / "versions").glob("*.py"):
        text = path.read_text()
        rev = re.search(r'(?m)^revision\s*=\s*"([^"]+)"', text)
        down = re.search(r'(?m)^down_revision\s*=\s*(?:"([^"]+)"|None)', text)
        assert rev and down, f"cannot read the revision of {path}"
        revisions[rev.group(1)] = down.group(1)
    heads = set(revisions) - {d for d in revisions.values() if d}
    assert len(heads) == 1, f"expected one alembic head, got {heads}"
    return heads.pop()


def seed_titles(st: Stack) -> set[str]:
    tree = ast.parse((st.path / "compose" / "app" / "app" / "seed.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DEMO_TASKS" for t in node.targets):
            return {title for title, _prio in ast.literal_eval(node.value)}
    raise AssertionError("DEMO_TASKS not found in the example's seed.py")


def assert_fresh(st: Stack) -> None:
    """Schema at head, exactly the seed rows."""
    assert revision(st) == head_revision(st)
    assert table_exists(st, "tasks")
    assert set(titles(st)) == seed_titles(st), titles(st)
    assert len(titles(st)) == len(seed_titles(st))


def fresh(st: Stack) -> None:
    """Put the shared stack back into a known state: all services up, reset, migrated, seeded."""
    if running_container(st, "api") is None or running_container(st, DB_SERVICE) is None:
        bring_up(st)
    ok(st.devenv("db", "reset", "--no-snapshot"))
    assert_fresh(st)
    settle(st)


def new_snapshots(before: list[str], st: Stack) -> list[dict[str, Any]]:
    return [s for s in snapshots_doc(st)["snapshots"] if s["name"] not in before]


# ======================================================================================== tests
def test_snapshot_reset_restore_roundtrip(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "roundtrip", 40)
    psql(st, "UPDATE tasks SET title = title || E' \\u00e9\\t''q''' WHERE title = 'roundtrip-7'")
    before = checksum(st)
    rows_before = titles(st)

    res = ok(st.devenv("db", "snapshot", "s1"))
    assert "s1" in res.stderr + res.stdout, res.dump()
    snap = snapshot_dir(st)
    assert (snap / "s1.pgdump").is_file() and (snap / "s1.json").is_file()
    meta = json.loads((snap / "s1.json").read_text())
    assert meta["name"] == "s1" and meta["profile"] == "dev"
    assert meta["revision"] == head_revision(st), meta
    assert meta["database"] == DB_NAME and meta["engine"] == "postgres" and meta["service"] == DB_SERVICE, meta
    assert meta["reason"] == "manual", meta
    assert (snap / "s1.pgdump").read_bytes()[:5] == b"PGDMP"

    listed = snapshot_names(st)
    res = ok(st.devenv("db", "reset"))
    assert tagged(st, "roundtrip") == 0
    assert_fresh(st)
    safety = new_snapshots(listed, st)
    assert [s["reason"] for s in safety] == ["before reset"], safety
    assert safety[0]["name"] in res.stderr + res.stdout, res.dump()

    ok(st.devenv("db", "restore", "s1"))
    assert checksum(st) == before
    assert titles(st) == rows_before
    assert revision(st) == head_revision(st)


def test_reset_ends_open_sessions(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "sessions", 3)
    cid = pg_container(st)
    argv = ["docker", "exec", "-i", cid, "psql", "-X", "-U", DB_USER, "-d", DB_NAME]
    sleeper = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    idler = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)  # fmt: skip
    try:
        assert sleeper.stdin and idler.stdin
        sleeper.stdin.write("SELECT pg_sleep(300);\n")
        sleeper.stdin.flush()
        idler.stdin.write("BEGIN;\nSELECT count(*) FROM tasks;\n")
        idler.stdin.flush()

        def held_pids() -> list[str] | None:
            out = psql(
                st,
                "SELECT pid FROM pg_stat_activity WHERE datname = 'tasktracker' AND ("
                "(state = 'active' AND query LIKE 'SELECT pg_sleep(300)%') OR state = 'idle in transaction') "
                "ORDER BY pid",
            )
            pids = out.split()
            return pids if len(pids) >= 2 else None

        pids = wait_for(held_pids, timeout=30, message="two client sessions holding the database")

        res = st.devenv("db", "reset", timeout=60)
        assert res.returncode == 0, res.dump()
        assert res.duration < 30, f"reset took {res.duration:.1f}s with an open session\n{res.dump()}"

        gone = psql(st, f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({', '.join(pids)})")
        assert gone == "0", f"old sessions still there: {pids}"
        # The sleeping client learns at once; its psql exits (non-interactive: exit 2).
        _, err = sleeper.communicate(timeout=30)
        assert sleeper.returncode != 0, err
        assert re.search(r"terminat|server closed the connection|connection to server was lost", err, re.I), err
        # The idle-in-transaction client finds out on its next statement.
        _, err = idler.communicate("SELECT 1;\n", timeout=30)
        assert idler.returncode != 0, err
        assert_fresh(st)
    finally:
        for proc in (sleeper, idler):
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.communicate(timeout=10)


def test_hard_reset_recreates_only_the_database_volume(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    pgdata, sidecardata = f"{st.name}_pgdata", f"{st.name}_sidecardata"
    sidecar = running_container(st, "sidecar")
    assert sidecar, "the sidecar service is not running"
    old_pg = pg_container(st)
    docker("exec", old_pg, "sh", "-c", f"echo hard > {PGDATA_MOUNT}/dvt-hard-marker", check=True)
    docker("exec", sidecar, "sh", "-c", "echo keep > /data/dvt-keep-marker", check=True)
    insert_rows(st, "hard", 5)
    sidecar_created = volume_created(sidecardata)
    pg_created = volume_created(pgdata)
    time.sleep(1.1)  # volume CreatedAt has one-second resolution

    listed = snapshot_names(st)
    res = ok(st.devenv("db", "reset", "--hard", timeout=240))

    new_pg = pg_container(st)
    assert new_pg != old_pg, "the postgres container was not recreated"
    assert volume_created(pgdata) > pg_created, "the pgdata volume was not recreated"
    marker = docker("exec", new_pg, "test", "-e", f"{PGDATA_MOUNT}/dvt-hard-marker")
    assert marker.returncode != 0, "a file written into pgdata before the hard reset is still there"
    assert tagged(st, "hard") == 0
    assert_fresh(st)
    assert_ready_now(json.loads(docker("inspect", new_pg, check=True).stdout)[0], "postgres")

    assert running_container(st, "sidecar") == sidecar, "the sidecar container was touched"
    assert volume_created(sidecardata) == sidecar_created, "the sidecar's volume was recreated"
    keep = docker("exec", sidecar, "cat", "/data/dvt-keep-marker")
    assert keep.returncode == 0 and keep.stdout.strip() == "keep", keep.stderr
    safety = new_snapshots(listed, st)
    assert [s["reason"] for s in safety] == ["before reset"], safety
    assert safety[0]["name"] in res.stderr + res.stdout, res.dump()


def test_protected_profile_needs_confirmation(prod_stack: Stack) -> None:
    st = prod_stack
    prod = ("--profile", "prod")
    insert_rows(st, "prod", 6)
    before = checksum(st)

    res = st.devenv("db", "reset", *prod)
    assert res.returncode == 2, res.dump()
    assert "--confirm-profile" in res.stderr, res.dump()
    assert checksum(st) == before
    assert not snapshot_dir(st, "prod").exists() or not list(snapshot_dir(st, "prod").iterdir())

    res = st.devenv("db", "reset", "--yes", *prod)
    assert res.returncode == 2, res.dump()
    assert "--confirm-profile" in res.stderr, res.dump()

    res = st.devenv("db", "reset", "--yes", "--confirm-profile", "staging", *prod)
    assert res.returncode == 2, res.dump()
    assert "prod" in res.stderr and "staging" in res.stderr, res.dump()
    assert checksum(st) == before

    # Other destructive db commands are guarded the same way.
    res = st.devenv("db", "restore", "latest", *prod)
    assert res.returncode == 2 and "--confirm-profile" in res.stderr, res.dump()
    assert checksum(st) == before

    ok(st.devenv("db", "reset", "--yes", "--confirm-profile", "prod", *prod, timeout=240))
    assert tagged(st, "prod") == 0
    assert_fresh(st)
    names = snapshot_names(st, *prod)
    assert len(names) == 1, names
    assert (snapshot_dir(st, "prod") / f"{names[0]}.pgdump").is_file()


BROKEN_MIGRATION = '''"""deliberately broken (tests/integration/test_db_postgres.py)

Revision ID: 0003
Revises: 0002
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    raise RuntimeError("dvt-broken-migration")


def downgrade() -> None:
    pass
'''


def test_failed_migration_after_reset_names_the_snapshot(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "broken", 12)
    before = checksum(st)
    # compose.dev.yml bind-mounts ./app/migrations at /srv/migrations in api (where migrations run).
    versions = st.path / "compose" / "app" / "migrations" / "versions"
    broken = versions / "0003_broken.py"
    listed = snapshot_names(st)
    try:
        broken.write_text(BROKEN_MIGRATION)
        # The migration's own traceback (from inside the api container) is relayed on purpose;
        # devenv itself must not crash.
        res = run_devenv(["db", "reset"], st.path, env=st.env, timeout=120, allow_traceback=True)
        assert res.returncode == 1, res.dump()
        assert not re.search(r'File "[^"]*/devenv/', res.stderr), f"devenv crashed:\n{res.dump()}"
        assert "Traceback" not in res.stderr.split("devenv: error:")[0].split("running `alembic")[0], res.dump()
        safety = new_snapshots(listed, st)
        assert len(safety) == 1 and safety[0]["reason"] == "before reset", safety
        name = safety[0]["name"]
        assert name in res.stderr, res.dump()
        assert f"devenv db restore {name}" in res.stderr, res.dump()
        assert "dvt-broken-migration" in res.stderr + res.stdout, res.dump()
        assert (snapshot_dir(st) / safety[0]["file"]).is_file()
        human = ok(st.devenv("db", "snapshots"))
        assert name in human.stdout, human.dump()
        if table_exists(st, "tasks"):
            assert tagged(st, "broken") == 0
    finally:
        broken.unlink(missing_ok=True)
        for pyc in (versions / "__pycache__").glob("0003_broken*"):
            with contextlib.suppress(OSError):
                pyc.unlink()

    ok(st.devenv("db", "restore", name))
    assert checksum(st) == before
    assert revision(st) == head_revision(st)


def test_export_import_each_format(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "export", 30)
    before = checksum(st)
    files = {ext: tmp_path / f"dump{ext}" for ext in (".sql", ".sql.gz", ".dump")}

    for path in files.values():
        ok(st.devenv("db", "export", str(path)))
        assert path.is_file() and path.stat().st_size > 0
    assert b"CREATE TABLE public.tasks" in files[".sql"].read_bytes()
    assert b"CREATE TABLE public.tasks" in gzip.decompress(files[".sql.gz"].read_bytes())
    assert files[".dump"].read_bytes()[:5] == b"PGDMP"
    assert not list(tmp_path.glob(".*partial*")), list(tmp_path.iterdir())

    res = st.devenv("db", "export", str(files[".sql"]))
    assert res.returncode == 2 and "--force" in res.stderr, res.dump()
    ok(st.devenv("db", "export", str(files[".sql"]), "--force"))

    for ext, path in files.items():
        psql(st, "DELETE FROM tasks")
        assert titles(st) == []
        listed = snapshot_names(st)
        res = ok(st.devenv("db", "import", str(path)))
        assert checksum(st) == before, f"import of {ext} did not bring the rows back\n{res.dump()}"
        assert revision(st) == head_revision(st)
        safety = new_snapshots(listed, st)
        assert [s["reason"] for s in safety] == ["before import"], safety
        assert safety[0]["name"] in res.stderr + res.stdout, res.dump()

    psql(st, "DELETE FROM tasks")
    listed = snapshot_names(st)
    ok(st.devenv("db", "import", str(files[".dump"]), "--no-snapshot"))
    assert checksum(st) == before
    assert snapshot_names(st) == listed

    # A file that is plainly not a pg_dump archive is refused before anything is touched.
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"this is not a pg_dump archive\n")
    res = st.devenv("db", "import", str(garbage))
    assert res.returncode == 2, res.dump()
    assert "PGDMP" in res.stderr, res.dump()
    assert snapshot_names(st) == listed
    assert checksum(st) == before

    # Right signature, damaged body: pg_restore cannot list it, so it is refused before the drop.
    garbage.write_bytes(b"PGDMP" + b"\x00" * 64 + b"this is not a pg_dump archive\n")
    res = st.devenv("db", "import", str(garbage))
    assert res.returncode == 2 and "Nothing was changed" in res.stderr, res.dump()
    assert snapshot_names(st) == listed
    assert checksum(st) == before

    # A file that fails to load after the drop (valid SQL that errors half-way): exit 1, and the
    # error says how to get the data back.
    failing = tmp_path / "failing.sql"
    failing.write_text("CREATE TABLE half (id int);\nINSERT INTO no_such_table VALUES (1);\n")
    res = st.devenv("db", "import", str(failing))
    assert res.returncode == 1, res.dump()
    safety = new_snapshots(listed, st)
    assert [s["reason"] for s in safety] == ["before import"], safety
    assert f"devenv db restore {safety[0]['name']}" in res.stderr, res.dump()
    ok(st.devenv("db", "restore", safety[0]["name"]))
    assert checksum(st) == before


def test_a_truncated_custom_dump_is_refused_before_anything_changes(pg_stack: Stack, tmp_path: Path) -> None:
    """A .dump cut short keeps its table of contents, so ``pg_restore -l`` lists it; the full read
    devenv adds catches it before the safety snapshot and the drop: exit 2, nothing changed."""
    st = pg_stack
    fresh(st)
    insert_rows(st, "truncated", 400)
    before = checksum(st)
    whole = tmp_path / "whole.dump"
    ok(st.devenv("db", "export", str(whole)))
    data = whole.read_bytes()
    cut = tmp_path / "cut.dump"
    cut.write_bytes(data[: len(data) * 3 // 4])
    # The gap this closes: the listing alone accepts the truncated file.
    listing = subprocess.run(
        ["docker", "exec", "-i", pg_container(st), "pg_restore", "-l"],
        input=cut.read_bytes(),
        capture_output=True,
        timeout=60,
    )
    assert listing.returncode == 0 and b"TABLE DATA public tasks" in listing.stdout, listing
    listed = snapshot_names(st)
    res = st.devenv("db", "import", str(cut))
    assert res.returncode == 2, res.dump()
    assert f"{cut} cannot be imported: pg_restore cannot read the whole archive" in res.stderr, res.dump()
    assert "damaged or truncated. Nothing was changed." in res.stderr, res.dump()
    assert checksum(st) == before
    assert snapshot_names(st) == listed, "no safety snapshot is needed when nothing was dropped"
    ok(st.devenv("db", "import", str(whole), "--no-snapshot"))  # the whole file still loads
    assert checksum(st) == before


def test_export_into_a_missing_folder_is_a_clean_error(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    target = tmp_path / "no-such-folder" / "out.sql"
    res = st.devenv("db", "export", str(target))
    assert res.returncode == 2, res.dump()  # refused before the database is touched
    assert f"the folder {target.parent} does not exist" in res.stderr, res.dump()
    assert not target.parent.exists()


@pytest.mark.parametrize("content", ["not-gzip", "truncated"])
def test_import_of_a_corrupt_gzip_is_refused_before_anything_changes(
    pg_stack: Stack, tmp_path: Path, content: str
) -> None:
    """A bad .sql.gz is refused (exit 2) before anything is dropped or snapshotted: the whole file is
    decompressed first, so the gzip trailer's CRC and length catch damage."""
    st = pg_stack
    fresh(st)
    insert_rows(st, "gzip", 5)
    before = checksum(st)
    bad = tmp_path / "bad.sql.gz"
    if content == "not-gzip":
        bad.write_bytes(b"plain text, not gzip\n")
    else:
        data = gzip.compress(b"SELECT 1;\n" * 2000)
        bad.write_bytes(data[: len(data) // 2])
    listed = snapshot_names(st)
    res = st.devenv("db", "import", str(bad))
    assert res.returncode == 2, res.dump()
    assert f"{bad} cannot be imported: it is not a valid sql.gz file" in res.stderr, res.dump()
    assert "Nothing was changed." in res.stderr, res.dump()
    assert table_exists(st, "tasks") and checksum(st) == before
    assert snapshot_names(st) == listed, "no safety snapshot is needed when nothing was dropped"


def test_snapshot_is_atomic(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    fresh(st)
    ok(st.devenv("db", "snapshot", "s7"))
    assert partial_files(st) == []
    snap = snapshot_dir(st)
    meta = json.loads((snap / "s7.json").read_text())
    assert meta["sha256"] == hashlib.sha256((snap / "s7.pgdump").read_bytes()).hexdigest()
    assert meta["size"] == (snap / "s7.pgdump").stat().st_size
    listed = snapshot_names(st)
    files_before = sorted(p.name for p in snap.iterdir())

    toml = st.path / "devenv.toml"
    original = toml.read_text()
    try:
        text, count = re.subn(r"(?m)^\[database\]\n", '[database]\nname = "dvt_no_such_db"\n', original)
        assert count == 1
        toml.write_text(text)
        res = st.devenv("db", "snapshot", "s7bad")
        assert res.returncode == 1, res.dump()
        assert "dvt_no_such_db" in res.stderr, res.dump()
        assert snapshot_names(st) == listed
        assert sorted(p.name for p in snap.iterdir()) == files_before
        assert partial_files(st) == []

        out = tmp_path / "failed.sql"
        res = st.devenv("db", "export", str(out))
        assert res.returncode == 1, res.dump()
        assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    finally:
        toml.write_text(original)
    assert snapshot_names(st) == listed


def test_two_snapshots_started_at_once_both_succeed(pg_stack: Stack) -> None:
    """Two `devenv db snapshot` at the same moment (same second: same automatic name) both succeed."""
    st = pg_stack
    fresh(st)
    before = snapshot_names(st)
    procs = [st.popen_devenv("db", "snapshot") for _ in range(2)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            outputs.append(f"exit={proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
            assert proc.returncode == 0 and "Traceback" not in err, "\n".join(outputs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
    new = new_snapshots(before, st)
    assert len(new) == 2 and new[0]["name"] != new[1]["name"], (new, outputs)
    for s in new:
        path = Path(s["path"])
        assert path.read_bytes()[:5] == b"PGDMP", s
        assert s["size"] == path.stat().st_size and s["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), s
        assert s["reason"] == "manual", s
    assert partial_files(st) == []


def test_snapshots_json_restore_latest_and_unknown(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "latest", 8)
    wanted = checksum(st)
    ok(st.devenv("db", "snapshot", "s8"))

    doc = snapshots_doc(st)
    assert doc["project"] == st.name and doc["profile"] == "dev", doc
    created = []
    for s in doc["snapshots"]:
        for key, typ in SNAPSHOT_KEYS.items():
            assert isinstance(s.get(key), typ), f"snapshot field {key!r} should be {typ.__name__}: {s}"
        assert s["revision"] is None or isinstance(s["revision"], str), s
        assert s["profile"] == "dev" and s["engine"] == "postgres" and s["project"] == st.name, s
        path = Path(s["path"])
        assert path.is_absolute() and path.is_file(), s
        assert path.resolve() == (snapshot_dir(st) / s["file"]).resolve(), s
        assert s["size"] == path.stat().st_size, s
        assert s["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), s
        created.append(s["created"])
    assert created == sorted(created), "snapshots are not listed oldest first"
    assert doc["snapshots"][-1]["name"] == "s8"
    assert doc["snapshots"][-1]["revision"] == head_revision(st)

    psql(st, "DELETE FROM tasks WHERE title LIKE 'latest-%'")
    insert_rows(st, "after", 2)
    assert checksum(st) != wanted
    listed = snapshot_names(st)
    res = ok(st.devenv("db", "restore", "latest"))
    assert "s8" in res.stderr + res.stdout, res.dump()
    assert checksum(st) == wanted
    safety = new_snapshots(listed, st)
    assert [s["reason"] for s in safety] == ["before restore"], safety

    listed = snapshot_names(st)
    res = st.devenv("db", "snapshot", "s8")
    assert res.returncode == 2 and "already exists" in res.stderr, res.dump()
    res = st.devenv("db", "snapshot", "../s8-escape")
    assert res.returncode == 2 and "Invalid snapshot name" in res.stderr, res.dump()
    assert not (snapshot_dir(st).parent / "s8-escape.pgdump").exists()
    res = st.devenv("db", "restore", "nosuch")
    assert res.returncode == 2, res.dump()
    assert "nosuch" in res.stderr and "snapshot" in res.stderr.lower(), res.dump()
    assert "devenv db snapshots" in res.stderr, res.dump()
    res = st.devenv("db", "restore", "s8x")
    assert res.returncode == 2 and '"s8"' in res.stderr, res.dump()  # did you mean
    assert snapshot_names(st) == listed, "a failed restore took a snapshot"
    assert checksum(st) == wanted


def test_shell_runs_psql_on_piped_input(pg_stack: Stack) -> None:
    st = pg_stack
    expected = psql(st, "SELECT count(*) FROM tasks")
    proc = subprocess.run(
        [str(DEVENV), "db", "shell"],
        cwd=st.path,
        env=base_env(st.env),
        input="SELECT 'dvt-shell-' || count(*) FROM tasks;\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert f"dvt-shell-{expected}" in proc.stdout, f"{proc.stdout}\n{proc.stderr}"


def test_snapshot_starts_a_stopped_database(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "stopped", 4)
    ok(st.devenv("down"))
    assert running_container(st, DB_SERVICE) is None
    # (A later test's `fresh` brings the whole stack back up.)
    res = ok(st.devenv("db", "snapshot", "s9", timeout=180))
    cid = pg_container(st)
    assert_ready_now(json.loads(docker("inspect", cid, check=True).stdout)[0], "postgres")
    assert tagged(st, "stopped") == 4  # `down` keeps the volume
    assert (snapshot_dir(st) / "s9.pgdump").is_file()
    meta = json.loads((snapshot_dir(st) / "s9.json").read_text())
    assert meta["revision"] == head_revision(st), meta
    assert "s9" in res.stderr + res.stdout
