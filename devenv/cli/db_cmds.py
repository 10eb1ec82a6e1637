"""``devenv db``: reset, snapshot, snapshots, restore, export, import, shell."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.cli.output import Output, human_duration, human_size, table
from devenv.errors import ComposeMissingError

if TYPE_CHECKING:
    from devenv.core.events import Event


def add_parsers(sub: Any, profile_arg: Any, json_arg: Any) -> None:
    db = sub.add_parser("db", help="database: reset, snapshots, restore, export/import, shell")
    dbsub = db.add_subparsers(
        dest="db_command", metavar="DB_COMMAND", parser_class=type(db), help="what to do with the database"
    )
    db.set_defaults(db_parser=db)

    def confirm_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--yes", action="store_true", help="confirm a destructive operation in a script")
        p.add_argument("--confirm-profile", metavar="NAME", help="with --yes: the protected profile's name")
        p.add_argument("--no-snapshot", action="store_true", help="do not take a snapshot first (data is lost)")

    reset = dbsub.add_parser("reset", help="snapshot, drop + recreate the database, migrate, seed")
    profile_arg(reset)
    confirm_args(reset)
    reset.add_argument("--hard", action="store_true", help="recreate the DB service's volume(s) instead")
    reset.add_argument("--no-migrate", action="store_true", help="do not run migrations afterwards")
    reset.add_argument("--no-seed", action="store_true", help="do not run the seed command afterwards")

    snap = dbsub.add_parser("snapshot", help="dump the database to .devenv/snapshots/<profile>/")
    profile_arg(snap)
    snap.add_argument("name", nargs="?", help="snapshot name (default: a timestamp)")

    snaps = dbsub.add_parser("snapshots", help="list snapshots")
    profile_arg(snaps)
    json_arg(snaps)

    restore = dbsub.add_parser("restore", help="bring the database back to a snapshot")
    profile_arg(restore)
    confirm_args(restore)
    restore.add_argument("name", nargs="?", default="latest", help="snapshot name or 'latest' (default)")

    exp = dbsub.add_parser("export", help="dump to FILE (.sql, .sql.gz, or .dump for pg_dump custom format)")
    profile_arg(exp)
    exp.add_argument("file", type=Path, metavar="FILE", help="the file to write: .sql, .sql.gz or .dump")
    exp.add_argument("--force", action="store_true", help="overwrite FILE")

    imp = dbsub.add_parser("import", help="replace the database with FILE (.sql, .sql.gz, .dump)")
    profile_arg(imp)
    confirm_args(imp)
    imp.add_argument("file", type=Path, metavar="FILE", help="the dump to load: .sql, .sql.gz or .dump")

    shell = dbsub.add_parser("shell", help="psql / mysql inside the database container")
    profile_arg(shell)


class DbRenderer:
    def __init__(self, out: Output) -> None:
        self.out = out
        self.t0 = time.monotonic()

    def __call__(self, event: Event) -> None:
        from devenv.core.events import (
            DbNotice,
            DbOutput,
            DbStep,
            MigrationInterrupted,
            MigrationOutput,
            MigrationStarted,
            ServiceChanged,
            SnapshotWritten,
        )

        clock = self.out.dim(f"[{time.monotonic() - self.t0:6.2f}s]")
        if isinstance(event, DbNotice):
            self.out.info(self.out.yellow(f"warning: {event.message}"))
        elif isinstance(event, DbStep):
            self.out.info(f"{clock} {self.out.bold(event.step)}: {event.detail}")
        elif isinstance(event, DbOutput):
            self.out.info(self.out.dim(f"    {event.line}"))
        elif isinstance(event, SnapshotWritten):
            s = event.snapshot
            self.out.info(f"{clock} snapshot {s.name} written ({human_size(s.size)}, revision {s.revision or '-'})")
        elif isinstance(event, ServiceChanged):
            self.out.info(f"{clock}   {event.status.service}: {event.readiness.value} {event.note}".rstrip())
        elif isinstance(event, MigrationOutput):
            self.out.info(f"    {event.line}")
        elif isinstance(event, MigrationStarted):
            self.out.info(f"{clock} running `{event.command}` in {event.service} ({event.mode})")
        elif isinstance(event, MigrationInterrupted):
            first, *rest = event.lines()
            self.out.info(f"{clock} {self.out.yellow(first)}")
            for line in rest:
                if not line.strip().startswith("to finish it:"):  # the reset's own hint says how
                    self.out.info(f"  {line}")


def cmd_db(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import confirm, load_stack
    from devenv.core import db

    if not args.db_command:
        args.db_parser.print_help()
        return 2
    stack = load_stack(args, out, running="follow" if args.db_command == "snapshots" else "strict")
    emit = DbRenderer(out)
    name = args.db_command

    if name == "snapshots":
        from devenv.core.db import journal

        unfinished = journal.pending(stack.project.root)
        if unfinished is not None:
            from devenv.core.events import DbNotice

            emit(DbNotice(unfinished.recovery()))
        store = db.SnapshotStore(stack.project.root, stack.profile.name)
        scan = store.scan()
        snapshots = scan.snapshots
        for problem in scan.problems:
            out.info(out.yellow(f"damaged: {problem.name} ({problem.path}): {problem.reason}"))
        if getattr(args, "json", False):
            out.json(
                {
                    "project": stack.name,
                    "profile": stack.profile.name,
                    "snapshots": [{**s.__dict__, "path": str(s.path(store.dir))} for s in snapshots],
                    "damaged": [{"name": p.name, "path": str(p.path), "reason": p.reason} for p in scan.problems],
                }
            )
            return 0
        if not snapshots:
            out.info(f"No snapshots for profile {stack.profile.name} yet. Take one with: devenv db snapshot")
            return 0
        rows = [
            [
                s.name,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created)),
                human_size(s.size),
                s.profile,
                f"{s.engine}:{s.database}",
                s.revision or "-",
                s.reason,
            ]
            for s in snapshots
        ]
        out.print(table(rows, ["NAME", "CREATED", "SIZE", "PROFILE", "DATABASE", "REVISION", "REASON"]))
        return 0

    if name == "snapshot":
        if args.name:
            db.SnapshotStore(stack.project.root, stack.profile.name).check_new_name(args.name)
        session = db.open_session(stack, emit)
        info = db.take_snapshot(session, args.name, emit=emit)
        out.info(out.green(f"✔ snapshot {info.name}: {info.path(session.store.dir)}"))
        return 0

    if name == "reset":
        confirm(args, out, stack, "reset the database" + (" and its volumes" if args.hard else ""))
        result = db.reset(
            stack,
            hard=args.hard,
            snapshot=not args.no_snapshot,
            migrate=not args.no_migrate,
            seed=not args.no_seed,
            emit=emit,
        )
        for note in result.notes:
            out.info(out.yellow(f"note: {note}"))
        done = ["migrated" if result.migrated else "", "seeded" if result.seeded else ""]
        extra = ", ".join(d for d in done if d)
        snap = f"; previous data in snapshot {result.snapshot.name}" if result.snapshot else ""
        kind = "hard reset" if args.hard else "reset"
        out.info(
            out.green(f"✔ database {kind} in {human_duration(result.elapsed)}")
            + (f" ({extra})" if extra else "")
            + snap
        )
        return 0

    if name == "restore":
        confirm(args, out, stack, f"restore snapshot {args.name}")
        info, safety = db.restore(stack, args.name, snapshot=not args.no_snapshot, emit=emit)
        kept = f"; the state before is in snapshot {safety.name}" if safety else ""
        out.info(out.green(f"✔ restored {info.name} (revision {info.revision or '-'}){kept}"))
        return 0

    if name == "export":
        db.check_export_path(args.file, force=args.force)
        session = db.open_session(stack, emit)
        size = db.export(session, args.file, emit=emit)
        out.info(out.green(f"✔ exported {session.target.name} to {args.file} ({human_size(size)})"))
        return 0

    if name == "import":
        confirm(args, out, stack, f"replace the database with {args.file}")
        db.check_import_file(args.file, stack.profile.database.engine)
        session = db.open_session(stack, emit)
        safety = db.import_(session, args.file, snapshot=not args.no_snapshot, emit=emit)
        kept = f"; the state before is in snapshot {safety.name}" if safety else ""
        out.info(out.green(f"✔ imported {args.file}{kept}"))
        return 0

    if name == "shell":
        argv, env = db.shell_command(stack)
        if shutil.which("docker") is None:
            raise ComposeMissingError("The docker CLI is needed for an interactive shell.")
        if not sys.stdin.isatty():
            argv = [a for a in argv if a != "-it"]
            argv.insert(2, "-i")
        os.execvpe("docker", argv, {**os.environ, **stack.endpoint.child_env, **env})
    return 2
