"""The doctor's checks of what the merged compose config needs from the machine and the engine:
published ports, external networks and volumes, secret/config files, bind-mount sources, build
contexts and Dockerfiles, images.

The merged config comes from ``docker compose config --format json`` (through the Compose runner)
with every missing required variable set to a placeholder, so that one missing variable does not
hide the rest; anything that still names the placeholder is not reported again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devenv.core.doctor.findings import ERROR, OK, WARNING, Finding, SafeFix
from devenv.core.doctor.project import rel
from devenv.errors import DevenvError

PLACEHOLDERS = ("devenv-doctor-unset", "0")


def merged_config(stack: Any, missing_vars: Sequence[str], environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """``(config, placeholder)``: the merged config with missing variables filled; raises DevenvError."""
    from devenv.core.compose.runner import ComposeProcess

    error: DevenvError | None = None
    for placeholder in PLACEHOLDERS:
        env = {**environ, **dict.fromkeys(missing_vars, placeholder)}
        proc = ComposeProcess(stack, "config", ["config", "--format", "json"], merge_output=False, env=env)
        try:
            return proc.json(), placeholder
        except DevenvError as exc:
            error = exc
            if not missing_vars:
                break
        finally:
            proc.stop()
    assert error is not None
    raise error


class Locator:
    """The ``file:line`` of a key path (``services.api.ports``) in the last compose file that sets it."""

    def __init__(self, files: Sequence[Path], root: Path | None) -> None:
        self.files = list(files)
        self.root = root
        self._docs: dict[Path, Any] = {}

    def _doc(self, path: Path) -> Any:
        if path not in self._docs:
            import yaml

            try:
                loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                self._docs[path] = yaml.compose(path.read_text(encoding="utf-8", errors="replace"), Loader=loader)
            except Exception:
                self._docs[path] = None
        return self._docs[path]

    def __call__(self, *keys: str) -> str | None:
        import yaml

        for path in reversed(self.files):
            node = self._doc(path)
            line = None
            for key in keys:
                if not isinstance(node, yaml.MappingNode):
                    node = None
                    break
                found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
                if found is None:
                    node = None
                    break
                line = found[0].start_mark.line + 1
                node = found[1]
            if node is not None and line is not None:
                return f"{rel(path, self.root)}:{line}"
        return None


def _published(spec: Mapping[str, Any]) -> list[int]:
    value = str(spec.get("published") or "").strip()
    if not value:
        return []
    start, _, end = value.partition("-")
    try:
        first, last = int(start), int(end or start)
    except ValueError:
        return []
    return [p for p in range(first, last + 1) if p > 0][:100]


def _bind_busy(host_ip: str, port: int) -> bool:
    """Whether binding ``host_ip:port`` on this machine fails because something holds it (nothing is kept)."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    address = host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            import errno

            return exc.errno == errno.EADDRINUSE
    return False


def check_ports(config: Mapping[str, Any], project: str, api: Any, local: bool, where: Locator) -> list[Finding]:
    """Every published host port already taken, with its holder; this project's own containers are not holders."""
    from devenv.core.engine.containers import PROJECT_LABEL, SERVICE_LABEL
    from devenv.core.ports import listeners, overlaps

    containers: list[dict[str, Any]] = []
    if api is not None:
        try:
            containers = list(api.containers())
        except Exception:
            containers = []
    own_ports: set[int] = set()
    findings: list[Finding] = []
    published = 0
    for service, spec in (config.get("services") or {}).items():
        for port_spec in spec.get("ports") or ():
            host_ip = str(port_spec.get("host_ip") or "")
            for port in _published(port_spec):
                published += 1
                holder: str | None = None
                for item in containers:
                    labels = item.get("Labels") or {}
                    for p in item.get("Ports") or ():
                        if int(p.get("PublicPort") or 0) != port or not overlaps(host_ip, str(p.get("IP") or "")):
                            continue
                        if labels.get(PROJECT_LABEL) == project:
                            own_ports.add(port)
                            continue
                        name = (item.get("Names") or ["?"])[0].lstrip("/")
                        other = labels.get(PROJECT_LABEL)
                        holder = f"container {name}" + (
                            f" (compose project {other!r}, service {labels.get(SERVICE_LABEL)!r})" if other else ""
                        )
                if holder is None and port not in own_ports and local and _bind_busy(host_ip, port):
                    procs = [
                        lst
                        for lst in listeners(port)
                        if overlaps(host_ip, lst.address) and lst.pid is not None and not lst.is_docker_proxy
                    ]
                    if procs:
                        holder = f"process {procs[0].pid} ({procs[0].command or '?'})"
                    else:
                        holder = "a process this user cannot see (`sudo ss -ltnp` names it)"
                if holder is None:
                    continue
                shown_ip = host_ip or "0.0.0.0"
                findings.append(
                    Finding(
                        "ports",
                        ERROR,
                        f"port {shown_ip}:{port} of service {service} is taken by {holder}",
                        where=where("services", service, "ports"),
                        fix=(
                            f"Stop {holder.split(' (')[0]}, or publish {service} on another port "
                            "(the port's variable in the profile's env file)."
                        ),
                    )
                )
    if published and not local:
        findings.append(
            Finding(
                "ports",
                WARNING,
                "only containers were checked as port holders: the engine is not on this machine, so its "
                "host's processes cannot be seen from here",
            )
        )
    elif published and not findings:
        findings.append(Finding("ports", OK, f"every published port is free ({published})"))
    return findings


def _exists(api: Any, kind: str, name: str) -> bool | None:
    try:
        if kind == "network":
            return any(n.get("Name") == name for n in api.networks(names=[name]))
        api.inspect_volume(name)
        return True
    except Exception as exc:
        return False if "404" in str(exc) or "not found" in str(exc).lower() or "no such" in str(exc).lower() else None


def check_external(config: Mapping[str, Any], api: Any, where: Locator, prefix: str = "") -> list[Finding]:
    """External networks and volumes that do not exist on the engine (``prefix``: the profile's
    engine for the command to run, e.g. ``DOCKER_HOST=ssh://... ``)."""
    findings: list[Finding] = []
    for kind, section in (("network", "networks"), ("volume", "volumes")):
        for key, spec in (config.get(section) or {}).items():
            if not isinstance(spec, dict) or not spec.get("external"):
                continue
            name = str(spec.get("name") or key)
            if api is None:
                findings.append(Finding(kind, WARNING, f"external {kind} {name} was not checked: no engine"))
                continue
            exists = _exists(api, kind, name)
            if exists:
                findings.append(Finding(kind, OK, f"external {kind} {name} exists"))
                continue
            command = f"{prefix}docker {kind} create {name}"
            findings.append(
                Finding(
                    kind,
                    ERROR if exists is False else WARNING,
                    f"external {kind} {name} does not exist"
                    if exists is False
                    else f"external {kind} {name} could not be checked",
                    where=where(section, key),
                    fix=command + (" (or `devenv doctor --fix`)" if kind == "network" else ""),
                    safe_fix=SafeFix("network", name) if kind == "network" and exists is False else None,
                )
            )
    return findings


def check_files(config: Mapping[str, Any], root: Path | None, where: Locator, placeholder: str) -> list[Finding]:
    """Secret/config file sources, bind-mount sources, build contexts and Dockerfiles that do not exist."""
    findings: list[Finding] = []
    for section, kind in (("secrets", "secret"), ("configs", "config-source")):
        for key, spec in (config.get(section) or {}).items():
            source = spec.get("file") if isinstance(spec, dict) else None
            if source and placeholder not in str(source) and not os.path.exists(source):
                findings.append(
                    Finding(
                        kind,
                        ERROR,
                        f"{kind.split('-')[0]} {key}: its file {rel(Path(source), root)} does not exist",
                        where=where(section, key, "file") or where(section, key),
                        fix=f"Create {rel(Path(source), root)} (it is read when the stack starts).",
                    )
                )
    for service, spec in (config.get("services") or {}).items():
        for volume in spec.get("volumes") or ():
            if not isinstance(volume, dict) or volume.get("type") != "bind":
                continue
            source = str(volume.get("source") or "")
            if not source or placeholder in source or os.path.exists(source):
                continue
            # Short syntax: Compose sets create_host_path (the engine makes an empty folder); long: absent.
            creates = bool((volume.get("bind") or {}).get("create_host_path", False))
            findings.append(
                Finding(
                    "bind-mount",
                    WARNING if creates else ERROR,
                    f"service {service} mounts {rel(Path(source), root)}, which does not exist"
                    + (" (the engine would create it as an empty folder)" if creates else ""),
                    where=where("services", service, "volumes"),
                    fix=f"Create {rel(Path(source), root)} or fix the path.",
                )
            )
        build = spec.get("build")
        if not isinstance(build, dict):
            continue
        context = str(build.get("context") or "")
        if not context or "://" in context or context.startswith("git@") or placeholder in context:
            continue
        if not os.path.isdir(context):
            findings.append(
                Finding(
                    "build",
                    ERROR,
                    f"service {service}: build context {rel(Path(context), root)} does not exist",
                    where=where("services", service, "build"),
                    fix="Fix build.context, or restore the folder.",
                )
            )
            continue
        if build.get("dockerfile_inline"):
            continue
        dockerfile = Path(context) / str(build.get("dockerfile") or "Dockerfile")
        if not dockerfile.is_file():
            findings.append(
                Finding(
                    "build",
                    ERROR,
                    f"service {service}: Dockerfile {rel(dockerfile, root)} does not exist",
                    where=where("services", service, "build"),
                    fix="Fix build.dockerfile, or add the Dockerfile.",
                )
            )
    return findings


DOCKER_HUB = "registry-1.docker.io"  # where an image without a registry in its name is pulled from


def _registry(image: str) -> str:
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def _registry_name(host: str) -> str:
    return "Docker Hub" if host == DOCKER_HUB else host


def _resolves(host: str, timeout: float = 3.0) -> bool | None:
    """Whether ``host`` resolves from here (None: no answer in time)."""
    import threading

    box: dict[str, bool] = {}

    def look() -> None:
        try:
            socket.getaddrinfo(host.split(":")[0], 443)
            box["ok"] = True
        except OSError:
            box["ok"] = False

    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    thread.join(timeout)
    return box.get("ok")


def check_images(
    config: Mapping[str, Any],
    api: Any,
    local: bool,
    info: Mapping[str, Any] | None,
    where: Locator,
    placeholder: str,
    prefix: str = "",
) -> list[Finding]:
    """Images neither present on the engine nor buildable: pulled by ``up``, which needs their registry
    (``prefix``: the profile's engine, as :func:`check_external` prints it)."""
    if api is None:
        return [Finding("image", WARNING, "the images were not checked: the engine does not answer")]
    findings: list[Finding] = []
    mirrors = bool(((info or {}).get("RegistryConfig") or {}).get("Mirrors")) or bool((info or {}).get("HttpsProxy"))
    checked: dict[str, bool] = {}
    services = config.get("services") or {}
    built = {str(s.get("image")) for s in services.values() if s.get("build") and s.get("image")}
    for service, spec in services.items():
        image = spec.get("image")
        if not image or spec.get("build") or placeholder in str(image) or str(image) in built:
            continue  # built by this service, or by another one under the same name
        image = str(image)
        if image not in checked:
            try:
                api.inspect_image(image)
                checked[image] = True
            except Exception:
                checked[image] = False
        if checked[image]:
            continue
        policy = str(spec.get("pull_policy") or "missing")
        registry = _registry(image)
        resolves = _resolves(registry) if local and not mirrors and policy not in ("never", "build") else None
        if policy in ("never", "build"):
            severity, why = ERROR, f"pull_policy is {policy}"
        elif resolves is False:
            severity, why = ERROR, f"{_registry_name(registry)} cannot be reached from here (its name does not resolve)"
        else:
            severity, why = WARNING, f"`devenv up` will pull it from {_registry_name(registry)}"
        findings.append(
            Finding(
                "image",
                severity,
                f"service {service}: image {image} is not on the engine and has no build: section; {why}",
                where=where("services", service, "image"),
                fix=f"{prefix}docker pull {image}, or build/tag it locally, or point the service at a local image",
            )
        )
    if checked and not findings:
        findings.append(Finding("image", OK, f"every image without a build is on the engine ({len(checked)})"))
    return findings
