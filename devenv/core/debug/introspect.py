"""What only the container knows: its effective command, its programs and its Python.

- :func:`effective_argv`: ``ENTRYPOINT + CMD`` as the engine will run them, from the service's
  definition (``docker compose config`` of the profile, without devenv's overlay) and, where the
  compose files set none, the image's own;
- :class:`Looker`: runs small read-only commands in the service's running container (an exec),
  or, when none runs, in a throwaway container of its image: where a program is and its shebang
  (:meth:`Looker.resolve`), and what the interpreter is (:meth:`Looker.python_info`). What it
  learnt is remembered per image ID, PATH and mounts (:func:`remembered` / :func:`remember`, in
  ``~/.cache/devenv/debug-lookups.json``): an image's files do not change under its ID, so
  turning debug on again for the same service asks the container nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from devenv.core.debug.command import Resolved, parse_shebang
from devenv.core.debug.overlay import unescape
from devenv.core.debug.provision import INFO_SCRIPT, PythonInfo, cache_root, parse_info
from devenv.errors import DevenvError

if TYPE_CHECKING:
    import docker

# Prints "path:<path>" and "first:<first line>" for a program name (or "missing"); when that first
# line is a Python shebang, also the interpreter's description (INFO_SCRIPT, passed as $2), so a
# console script costs one exec.
RESOLVE_SCRIPT = r"""
info=$2
p=$(command -v -- "$1" 2>/dev/null) || { echo missing; exit 0; }
case "$p" in /*|./*|../*) ;; *) echo "builtin:$p"; exit 0;; esac
echo "path:$p"
[ -f "$p" ] && [ -r "$p" ] || exit 0
IFS= read -r first < "$p" 2>/dev/null
printf 'first:%s\n' "$first"
case "$first" in "#!"*) ;; *) exit 0;; esac
set -f
set -- ${first#??}
if [ "${1##*/}" = env ]; then shift; while [ "${1#-}" != "$1" ]; do shift; done; fi
case "${1##*/}" in python*|pypy*) echo "interpreter:"; "$1" -c "$info" 2>&1;; esac
exit 0
"""


def effective_argv(service: Mapping[str, Any], image: Mapping[str, Any] | None) -> list[str]:
    """The argv the engine runs for ``service`` (compose config JSON) on ``image`` (its inspect).

    The daemon's rule: a non-empty ``entrypoint`` from compose ignores the image's CMD; without
    one, the image's ENTRYPOINT stays (unless compose reset it to ``[]``) and compose's command,
    when set, replaces the image's CMD.
    """
    config = (image or {}).get("Config") or {}
    user_entry = _argv(service.get("entrypoint"), escaped=True)
    user_cmd = _argv(service.get("command"), escaped=True)
    if user_entry:
        return [*user_entry, *(user_cmd or [])]
    cmd = user_cmd if user_cmd else (_argv(config.get("Cmd"), escaped=False) or [])
    entry = (_argv(config.get("Entrypoint"), escaped=False) or []) if user_entry is None else []
    return [*entry, *cmd]


def _argv(value: Any, *, escaped: bool) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return [unescape(str(v)) if escaped else str(v) for v in items]


def image_env(image: Mapping[str, Any] | None, name: str) -> str | None:
    for item in ((image or {}).get("Config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        if key == name:
            return value
    return None


class Looker:
    """Read-only look-ups inside a service: in ``container`` when it runs, else in ``image``."""

    def __init__(
        self,
        api: docker.APIClient,
        *,
        container: str | None,
        image: str,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> None:
        self.api = api
        self.container = container
        self.image = image
        self.env = dict(env or {})
        self.workdir = workdir
        self.user = user
        self._cache: dict[str, Resolved] = {}
        self._info: dict[str, PythonInfo] = {}  # interpreter (as a shebang names it) -> its description

    @property
    def where(self) -> str:
        return "the container" if self.container else f"image {self.image}"

    def run(self, argv: Sequence[str]) -> tuple[int, str]:
        """``(exit code, output)`` of ``argv`` in the container (exec) or a throwaway one."""
        if self.container:
            from devenv.core.engine.execio import exec_in

            result = exec_in(self.api, self.container, argv, user=self.user or "")
            return result.exit_code, result.stdout.decode(errors="replace") + result.stderr
        return self._oneoff(argv)

    def _oneoff(self, argv: Sequence[str]) -> tuple[int, str]:
        created = self.api.create_container(
            self.image,
            entrypoint=list(argv[:1]),
            command=list(argv[1:]),
            environment=self.env,
            working_dir=self.workdir or None,
            user=self.user or None,
            labels={"dev.devenv.oneoff": "debug"},
            host_config=self.api.create_host_config(network_mode="none"),
        )
        cid = created["Id"]
        try:
            self.api.start(cid)
            status = self.api.wait(cid, timeout=60)
            raw = self.api.logs(cid, stdout=True, stderr=True)
            code = int(status.get("StatusCode", -1)) if isinstance(status, dict) else int(status)
            return code, raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        finally:
            with contextlib.suppress(Exception):
                self.api.remove_container(cid, force=True)

    def resolve(self, name: str) -> Resolved:
        """Where ``name`` is on the container's PATH and what its first line says."""
        if name in self._cache:
            return self._cache[name]
        try:
            code, out = self.run(["/bin/sh", "-c", RESOLVE_SCRIPT, "sh", name, INFO_SCRIPT])
        except Exception as exc:  # no /bin/sh in the image (distroless)
            if "No such file" in str(exc) or "executable file not found" in str(exc):
                raise DevenvError(
                    f"Cannot look up `{name}` in {self.where}: it has no /bin/sh.",
                    hint="Name the interpreter in the command (`python -m module` or `python script.py`).",
                ) from None
            raise
        path = first = ""
        for line in out.splitlines():
            if line.startswith("path:"):
                path = line[5:].strip()
            elif line.startswith("first:"):
                first = line[6:].rstrip("\r")
        if code == 127 or (code != 0 and not path):
            raise DevenvError(
                f"Cannot look up `{name}` in {self.where}: the shell failed ({code}): {out.strip()[-300:]}",
                hint="Name the interpreter in the command (`python -m module` or `python script.py`).",
            )
        found = parse_shebang(name, path, first)
        self._cache[name] = found
        described = out.partition("\ninterpreter:\n")[2]
        if found.kind == "python" and described:
            with contextlib.suppress(ValueError):
                self._info[found.interpreter] = parse_info(described)
        return found

    def python_info(self, interpreter: str) -> PythonInfo:
        """What ``interpreter`` (as the command names it) is: version, platform, debugpy."""
        if interpreter in self._info:
            return self._info[interpreter]
        code, out = self.run([interpreter, "-c", INFO_SCRIPT])
        if code != 0:
            raise DevenvError(
                f"Cannot run `{interpreter}` in {self.where} to read its version ({code}): {out.strip()[-300:]}",
                hint="The command's interpreter must exist in the image.",
            )
        try:
            return parse_info(out)
        except ValueError as exc:
            raise DevenvError(f"`{interpreter}` in {self.where} did not describe itself: {exc}") from None


# ------------------------------------------------------------------------------------ remembered
LOOKUPS_KEPT = 64


def lookup_key(image_id: str, argv: Sequence[str], path_env: str, mounts: Sequence[Any]) -> str:
    """What a look-up's answers depend on: the image's files, the command, PATH and what is mounted."""
    data = json.dumps([image_id, list(argv), path_env, [json.dumps(m, sort_keys=True, default=str) for m in mounts]])
    return hashlib.sha256(data.encode()).hexdigest()[:32]


def _lookups_file() -> Any:
    return cache_root().parent / "debug-lookups.json"


def remembered(looker: Looker, key: str) -> bool:
    """Seed ``looker`` with what an earlier look-up under ``key`` learnt; True when there was one."""
    try:
        data = json.loads(_lookups_file().read_text(encoding="utf-8")).get(key)
        if not isinstance(data, dict):
            return False
        looker._cache = {k: Resolved(**{**v, "options": tuple(v["options"])}) for k, v in data["resolved"].items()}
        looker._info = {
            k: PythonInfo(**{**v, "version": tuple(v["version"]), "libc_version": tuple(v["libc_version"])})
            for k, v in data["info"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def remember(looker: Looker, key: str, interpreter: str, info: PythonInfo) -> None:
    """Keep what ``looker`` learnt under ``key`` (the newest :data:`LOOKUPS_KEPT` keys); never fatal."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        path = _lookups_file()
        try:
            everything = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            everything = {}
        if not isinstance(everything, dict):
            everything = {}
        everything.pop(key, None)
        everything[key] = {
            "resolved": {k: asdict(v) for k, v in looker._cache.items()},
            "info": {**{k: asdict(v) for k, v in looker._info.items()}, interpreter: asdict(info)},
        }
        kept = dict(list(everything.items())[-LOOKUPS_KEPT:])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        tmp.write_text(json.dumps(kept), encoding="utf-8")
        os.replace(tmp, path)


def forget(key: str) -> None:
    """Drop what was remembered under ``key`` (a start under debugpy failed: ask the container next time)."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        path = _lookups_file()
        everything = json.loads(path.read_text(encoding="utf-8"))
        if everything.pop(key, None) is not None:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
            tmp.write_text(json.dumps(everything), encoding="utf-8")
            os.replace(tmp, path)
