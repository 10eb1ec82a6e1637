"""Secrets and configs whose content Compose copies into a container before every start.

Compose 2.40 bind-mounts a secret or config with a ``file:`` source when it creates the container
(devenv's create step is Compose's own, so those are there). One with a ``content:`` or an
``environment:`` source has no file to mount: Compose copies it into the container, through the
Engine's archive endpoint, right before each start it makes. devenv starts containers through the
Engine API itself, so it does the same before each of its starts (:func:`inject`), as Compose does
it (``pkg/compose/secrets.go``):

- target: a secret's default is ``/run/secrets/SOURCE`` (a relative target lands there too); a
  config's is ``/SOURCE``;
- mode: the long syntax's ``mode`` (octal), else ``0444``; owner: ``uid`` / ``gid``, else 0:0;
- the archive is extracted at ``/``, with the engine's ``copyUIDGID`` when ``uid`` or ``gid`` is
  given (Compose 2.40's rule; the engine then gives the file to the container's ``user:`` when it
  has one: seen here, and the same under Compose);
- an ``environment:`` source is the variable of the project environment (the process's, then the
  profile's env files); an unset one fails the start with Compose's message.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.errors import DevenvError

if TYPE_CHECKING:
    import docker

#: Looks a variable of the project environment up (None: not set).
EnvLookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class InjectedFile:
    """One secret or config a container gets by copy (its content, or the variable that holds it)."""

    kind: str  # "secret" | "config"
    source: str  # its name under the top-level secrets: / configs:
    target: str
    mode: int = 0o444
    uid: int = 0
    gid: int = 0
    owner_given: bool = False  # uid or gid set in the long syntax
    content: str | None = None
    environment: str | None = None
    name: str = ""  # the engine-side name Compose gives it (project_source), as in its messages


def _mode(value: Any) -> int:
    if value is None or value == "":
        return 0o444
    if isinstance(value, int):
        return value
    return int(str(value), 8)


def _target(kind: str, source: str, target: str | None) -> str:
    if not target:
        return f"/run/secrets/{source}" if kind == "secret" else f"/{source}"
    if kind == "secret" and not target.startswith("/"):
        return f"/run/secrets/{target}"
    return target


def injected_files(config: Mapping[str, Any], service: Mapping[str, Any]) -> tuple[InjectedFile, ...]:
    """The secrets and configs of ``service`` (compose config JSON) that Compose copies in at start."""
    out: list[InjectedFile] = []
    for kind, key in (("secret", "secrets"), ("config", "configs")):
        defined = config.get(key) or {}
        for ref in service.get(key) or []:
            ref = {"source": ref} if isinstance(ref, str) else dict(ref)
            source = str(ref.get("source") or "")
            spec = defined.get(source) or {}
            content = spec.get("content")
            variable = spec.get("environment")
            if content in (None, "") and not variable:
                continue  # file: bind-mounted by Compose at create; external: not Compose's to copy
            out.append(
                InjectedFile(
                    kind=kind,
                    source=source,
                    target=_target(kind, source, ref.get("target")),
                    mode=_mode(ref.get("mode")),
                    uid=int(ref.get("uid") or 0),
                    gid=int(ref.get("gid") or 0),
                    owner_given=bool(ref.get("uid") or ref.get("gid")),
                    name=str(spec.get("name") or source),
                    content=None if content in (None, "") else str(content),
                    environment=None if content not in (None, "") else str(variable),
                )
            )
    return tuple(out)


def archive(files: list[tuple[InjectedFile, bytes]]) -> bytes:
    """One tar of the files, named by their absolute targets (extracted at ``/``)."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f, data in files:
            info = tarfile.TarInfo(f.target.lstrip("/"))
            info.size = len(data)
            info.mode = f.mode
            info.uid, info.gid = f.uid, f.gid
            info.mtime = now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def resolve(files: tuple[InjectedFile, ...], lookup: EnvLookup) -> list[tuple[InjectedFile, bytes]]:
    """Each file with its bytes; an unset variable raises Compose's error."""
    out = []
    for f in files:
        if f.content is not None:
            out.append((f, f.content.encode()))
            continue
        value = lookup(f.environment or "")
        if value is None:
            raise DevenvError(f'environment variable "{f.environment}" required by {f.kind} "{f.name}" is not set')
        out.append((f, value.encode()))
    return out


def inject(api: docker.APIClient, container: str, files: tuple[InjectedFile, ...], lookup: EnvLookup | None) -> None:
    """Copy ``files`` into ``container`` (before its start), as Compose does; nothing when there are none."""
    if not files:
        return
    resolved = resolve(files, lookup or (lambda _name: None))
    url = api._url("/containers/{0}/archive", container)
    for owner_given in (False, True):
        batch = [(f, data) for f, data in resolved if f.owner_given == owner_given]
        if batch:
            params = {"path": "/", **({"copyUIDGID": "true"} if owner_given else {})}
            res = api._put(url, params=params, data=archive(batch))
            api._raise_for_status(res)
