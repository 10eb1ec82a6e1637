"""Database operations for any Compose project: reset, snapshot, restore, export, import, shell.

- ``target``: which service, engine, database, user and password (``[database]`` or detection);
- ``adapter``: the engine adapter base and the database errors; ``postgres`` and ``mysql`` (MySQL
  and MariaDB) are the engines, all run through ``engine.execio`` so dumps stream through exec;
- ``snapshots`` (the store, ``.devenv/snapshots/<profile>/``), ``snapshot_files`` (metadata and
  file primitives), ``state`` (the private ``.devenv`` folder and the db lock), ``journal`` (the
  destructive operation in progress), ``dumpfiles`` (checks of the files users import/export);
- ``flows``: the operations front ends call, with typed progress events
  (:mod:`devenv.core.events`).

This package re-exports what front ends use; the modules above hold the rest.
"""

from devenv.core.db.adapter import Adapter, DataAtRiskError, DatabaseError
from devenv.core.db.dumpfiles import check_export_path, check_import_file
from devenv.core.db.flows import (
    ResetResult,
    Session,
    _at_risk,
    check_engine,
    db_volumes,
    destroying,
    export,
    import_,
    open_session,
    reset,
    restore,
    restore_snapshot,
    shell_command,
    take_snapshot,
)
from devenv.core.db.snapshots import SnapshotInfo, SnapshotStore
from devenv.core.db.target import ENGINES, DatabaseTarget, detect_engine, resolve_database

__all__ = [
    "ENGINES",
    "Adapter",
    "DataAtRiskError",
    "DatabaseError",
    "DatabaseTarget",
    "ResetResult",
    "Session",
    "SnapshotInfo",
    "SnapshotStore",
    "_at_risk",
    "check_engine",
    "check_export_path",
    "check_import_file",
    "db_volumes",
    "destroying",
    "detect_engine",
    "export",
    "import_",
    "open_session",
    "reset",
    "resolve_database",
    "restore",
    "restore_snapshot",
    "shell_command",
    "take_snapshot",
]
