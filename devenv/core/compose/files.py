"""The compose files read directly, without spawning Compose: the fast path of ``devenv status``.

- :func:`declared_services`: the services ``docker compose config`` would list, from the YAML files
  themselves: ``include:`` followed (relative to the including file, ``${VAR}`` interpolated from
  the environment), services gated by Compose ``profiles:`` left out unless enabled, and the files'
  YAML errors reported as Compose reports them (``strict``);
- :func:`active_profiles`: the Compose profiles in force, as Compose decides them: ``--profile``
  flags, else ``COMPOSE_PROFILES`` from the environment, else from the env files (or the project's
  ``.env``).

``extends:`` needs no reading here: it adds no service. Anything subtler (interpolated service
names, ``!reset`` of a whole ``services:``) is Compose's business: ``devenv up`` reads
``docker compose config``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from devenv.errors import ComposeFileError

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def split_profiles(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def active_profiles(flag: Sequence[str], env_files: Sequence[Path], project_dir: Path | None) -> list[str]:
    """The Compose profiles in force for a command line with ``--profile`` ``flag`` (in that order:
    the flags win over ``COMPOSE_PROFILES``, the environment wins over the env files)."""
    if flag:
        return list(flag)
    return split_profiles(project_env("COMPOSE_PROFILES", env_files, project_dir) or "")


def project_env(name: str, env_files: Sequence[Path], project_dir: Path | None) -> str | None:
    """A variable of Compose's project environment: the process's, else the env files' (or the
    project's ``.env``; the last assignment wins); ``None`` when unset."""
    if name in os.environ:
        return os.environ[name]
    files = list(env_files) or ([project_dir / ".env"] if project_dir is not None else [])
    found: str | None = None
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                found = value
    return found


def _interpolate(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m["braced"] or m["bare"]
        value = os.environ.get(name)
        if value is None or (value == "" and m["default"] is not None and ":-" in m[0]):
            return m["default"] or ""
        return value

    return _VAR.sub(sub, text)


def _include_paths(entry: Any) -> list[str]:
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, dict):
        path = entry.get("path")
        if isinstance(path, str):
            return [path]
        if isinstance(path, list):
            return [str(p) for p in path]
    return []


def declared_services(
    files: Iterable[Path], *, strict: bool = False, root: Path | None = None, profiles: Sequence[str] | None = None
) -> list[str]:
    """The service names of the compose files, in first-seen order (included files at their ``include:``).

    ``profiles``: the Compose profiles in force (:func:`active_profiles`); ``None`` reads
    ``COMPOSE_PROFILES`` from the environment. Services limited to Compose profiles
    (``profiles: [...]``) are left out unless one of theirs is active (``*`` activates all), as
    ``docker compose up`` does.

    Lenient by default: a file that cannot be read or parsed is skipped. With ``strict``, a file
    Compose would reject for its YAML alone (syntax, encoding, a top level or ``services:`` that is
    not a mapping, an ``include:`` of a file that does not exist) raises :class:`ComposeFileError`
    naming the file (relative to ``root``) and the line; an unreadable file raises its :class:`OSError`.
    """
    active = set(split_profiles(os.environ.get("COMPOSE_PROFILES", "")) if profiles is None else profiles)
    everything = "*" in active  # Compose: "*" enables every profile
    gates = service_profiles(files, strict=strict, root=root)
    return [n for n, g in gates.items() if not g or everything or bool(set(g) & active)]


def service_profiles(
    files: Iterable[Path], *, strict: bool = False, root: Path | None = None
) -> dict[str, tuple[str, ...]]:
    """Every service of the compose files (first-seen order) with its Compose ``profiles:`` (empty: none).

    What :func:`declared_services` filters; also what a service named on the command line enables
    (Compose adds a disabled service's profiles to the active ones, see ``Stack.enable_services``).
    """
    gated: dict[str, tuple[str, ...]] = {}

    def visit(_f: Path, _depth: int, name: str, spec: Any) -> None:
        gated.setdefault(name, ())
        if isinstance(spec, dict) and "profiles" in spec:
            gated[name] = tuple(_interpolate(str(g)) for g in spec.get("profiles") or [])

    files = list(files)
    empty = _walk_services(files, visit, strict=strict, root=root)
    if strict and files and empty == len(files):
        raise _compose_yaml_error(Path(files[0]), root, "the file is empty (Compose needs at least services:)")
    return gated


def service_env_files(files: Sequence[Path]) -> list[Path]:
    """The services' own ``env_file:`` paths (short and long form), as Compose resolves them: against
    the project folder (the first file's) in the given files, against an included file's own folder
    in it. A path with a variable in it is left out (not guessed); the files are read leniently."""
    if not files:
        return []
    base = Path(files[0]).parent
    found: list[Path] = []

    def visit(f: Path, depth: int, _name: str, spec: Any) -> None:
        entries = spec.get("env_file") if isinstance(spec, dict) else None
        folder = base if depth == 0 else f.parent
        for entry in [entries] if isinstance(entries, str | dict) else entries or ():
            path = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(path, str) and path and "$" not in path:
                found.append(Path(os.path.normpath(folder / path)))

    _walk_services([Path(f) for f in files], visit, strict=False, root=None)
    return found


def _walk_services(
    files: Sequence[Path], visit: Callable[[Path, int, str, Any], None], *, strict: bool, root: Path | None
) -> int:
    """Call ``visit(file, include_depth, name, spec)`` for every service of the compose files, in
    first-seen order (included files at their ``include:``); the number of top-level files that
    were empty. ``strict``: see :func:`declared_services`."""
    seen: set[Path] = set()
    empty = 0

    def read(f: Path, depth: int) -> None:
        nonlocal empty
        key = f.resolve() if f.exists() else f
        if key in seen or depth > 20:
            return
        seen.add(key)
        try:
            data = _load_compose_yaml(f, root)
        except (OSError, ComposeFileError):
            if strict:
                raise
            return
        if data is None:  # an empty file: fine as an overlay, not as the only one
            empty += 1 if depth == 0 else 0
            return
        if not isinstance(data, dict):
            if strict:
                raise _compose_yaml_error(f, root, "the top level must be a mapping (services:, volumes:, ...)")
            return
        includes = data.get("include") or []
        for entry in includes if isinstance(includes, list) else []:
            for rel in _include_paths(entry):
                path = Path(_interpolate(rel)).expanduser()
                path = path if path.is_absolute() else f.parent / path
                if not path.exists():
                    if strict:
                        raise _compose_yaml_error(f, root, f"include: {rel} does not exist ({path})")
                    continue
                read(path, depth + 1)
        services = data.get("services")
        if services is None:
            return
        if not isinstance(services, dict):
            if strict:
                raise _compose_yaml_error(f, root, "services must be a mapping of service names")
            return
        for name, spec in services.items():
            visit(f, depth, str(name), spec)

    for f in files:
        read(Path(f), 0)
    return empty


def _shown_path(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def _compose_yaml_error(path: Path, root: Path | None, problem: str, line: int | None = None) -> ComposeFileError:
    where = f"{_shown_path(path, root)}:{line}" if line else _shown_path(path, root)
    return ComposeFileError(
        f"invalid compose file {where}: {problem}",
        path=str(path),
        line=line,
        hint=f"Fix the file; `docker compose -f {path} config` shows what Compose makes of it.",
    )


def _load_compose_yaml(path: Path, root: Path | None) -> Any:
    """The YAML document of a compose file (``None`` when empty); Compose's tags load as plain values."""
    import yaml

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _compose_yaml_error(path, root, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line) from None
    try:
        return yaml.load(text, Loader=_compose_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            raise _compose_yaml_error(path, root, f"invalid YAML: {exc.problem or exc}") from None
        lines = text.splitlines()
        problem = f"invalid YAML: {exc.problem or exc.context} (column {mark.column + 1})"
        shown = [mark.line]
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and context.line != mark.line:
            problem += f", {exc.context} on line {context.line + 1}"
            shown.insert(0, context.line)
        for index in shown:
            source = lines[index] if 0 <= index < len(lines) else ""
            problem += f"\n    {index + 1} | {source[:160]}{'...' if len(source) > 160 else ''}"
        raise _compose_yaml_error(path, root, problem, mark.line + 1) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise _compose_yaml_error(path, root, f"invalid YAML: {exc}") from None


_COMPOSE_LOADER: Any = None


def _compose_loader() -> Any:
    """A safe YAML loader (libyaml's when available) that reads Compose's ``!reset``/``!override``."""
    global _COMPOSE_LOADER
    if _COMPOSE_LOADER is None:
        import yaml

        base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class ComposeLoader(base):  # type: ignore[misc]
            pass

        def untagged(loader: Any, _suffix: str, node: Any) -> Any:
            if isinstance(node, yaml.MappingNode):
                return loader.construct_mapping(node)
            if isinstance(node, yaml.SequenceNode):
                return loader.construct_sequence(node)
            return loader.construct_scalar(node)

        ComposeLoader.add_multi_constructor("!", untagged)
        _COMPOSE_LOADER = ComposeLoader
    return _COMPOSE_LOADER
