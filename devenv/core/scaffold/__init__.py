"""``devenv init``: detect what a Compose project has and write it down as devenv.toml + profiles/*.toml.

- :mod:`.detect`: the zero-config profiles of the folder, the database, the migration tool, services
  without a healthcheck (with a suggested probe), each with the reason it was found;
- :mod:`.render`: the commented TOML files that reproduce those profiles exactly.

Headless: the CLI prints and writes; nothing here imports a front end.
"""

from devenv.core.scaffold.detect import InitPlan, detect
from devenv.core.scaffold.render import render, verify

__all__ = ["InitPlan", "detect", "render", "verify"]
