"""Engine API version negotiation and endpoint resolution, against fake engines on Unix sockets.

No Docker here: :class:`FakeEngine` is a real HTTP/1.1 server on a Unix socket in a temporary
folder (``socketserver`` + ``http.server`` in a thread) that enforces a version window the way
real engines do. "Engine 29" serves API 1.44 to 1.52 and answers anything older with Docker's own
``400 client version 1.41 is too old``; the "old engine" (20.10) serves up to 1.41 only.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import socketserver
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.core.engine import apiversion, endpoint, rawapi
from devenv.errors import DockerUnavailableError

PROJECT = "fakeproj"


def _v(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


class FakeEngine:
    """A Docker Engine API double: ``/_ping``, ``/version``, ``/containers/json``, ``/containers/{id}/json``.

    ``ping_version``: the ``API-Version`` header of ``/_ping`` (None: no header). ``chunked``: send
    JSON bodies with chunked transfer encoding, as the real engine does for larger answers.
    ``close_after_each``: close the connection after every answer without saying so (an idle
    keep-alive connection the daemon dropped).
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_version: str,
        min_version: str,
        ping_version: str | None = "",
        containers: list[dict[str, Any]] | None = None,
        chunked: bool = False,
        close_after_each: bool = False,
        files: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.path = str(folder / "fake.sock")
        self.max_version = max_version
        self.min_version = min_version
        self.ping_version = max_version if ping_version == "" else ping_version
        self.containers = containers or []
        self.chunked = chunked
        self.close_after_each = close_after_each
        self.files = files or {}  # "container:path" -> its stat (HEAD /containers/ID/archive)
        self.requests: list[str] = []
        engine = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # the peer of a Unix socket has no address
                pass

            def do_GET(self) -> None:
                engine.requests.append(self.path)
                status, headers, body = engine.answer(self.path)
                chunked = engine.chunked and headers.get("Content-Type") == "application/json"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if chunked:
                    for i in range(0, len(body), 100):
                        part = body[i : i + 100]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)
                if engine.close_after_each:
                    self.close_connection = True

            def do_HEAD(self) -> None:  # the archive API's stat: headers only, with a length as Go sends
                engine.requests.append(f"HEAD {self.path}")
                url = urllib.parse.urlsplit(self.path)
                m = re.match(r"^/v[\d.]+/containers/([^/]+)/archive$", url.path)
                path = urllib.parse.parse_qs(url.query).get("path", [""])[0]
                stat = engine.files.get(f"{m.group(1)}:{path}") if m else None
                self.send_response(200 if stat is not None else 404)
                if stat is not None:
                    encoded = base64.b64encode(json.dumps(stat).encode()).decode()
                    self.send_header("X-Docker-Container-Path-Stat", encoded)
                self.send_header("Content-Length", "42")
                self.end_headers()

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.server = Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self) -> FakeEngine:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the API ------------------------------------------------------------------------------------
    def answer(self, target: str) -> tuple[int, dict[str, str], bytes]:
        url = urllib.parse.urlsplit(target)
        path = url.path
        query = urllib.parse.parse_qs(url.query)
        m = re.match(r"^/v(\d+\.\d+)(/.*)$", path)
        if m:
            version, path = m.group(1), m.group(2)
            if _v(version) < _v(self.min_version):
                return self._error(
                    400,
                    f"client version {version} is too old. Minimum supported API version is {self.min_version}, "
                    "please upgrade your client to a newer version",
                )
            if _v(version) > _v(self.max_version):
                return self._error(
                    400, f"client version {version} is too new. Maximum supported API version is {self.max_version}"
                )
        if path == "/_ping":
            headers = {"Content-Type": "text/plain; charset=utf-8", "Docker-Experimental": "false"}
            if self.ping_version:
                headers["API-Version"] = self.ping_version
            return 200, headers, b"OK"
        if path == "/version":
            return self._json(
                {
                    "Version": "29.0.0" if _v(self.max_version) >= (1, 52) else "20.10.24",
                    "ApiVersion": self.max_version,
                    "MinAPIVersion": self.min_version,
                    "Os": "linux",
                    "Arch": "amd64",
                }
            )
        if path == "/containers/json":
            filters = json.loads(query.get("filters", ["{}"])[0])
            wanted = {label for label in filters.get("label", [])}
            listed = [c for c in self.containers if all(_has_label(c, w) for w in wanted)]
            return self._json([_summary(c) for c in listed])
        m = re.match(r"^/containers/([^/]+)/json$", path)
        if m:
            for c in self.containers:
                if m.group(1) in (c["Id"], c["Name"].lstrip("/")):
                    return self._json(c)
            return self._error(404, f"No such container: {m.group(1)}")
        return self._error(404, "page not found")

    @staticmethod
    def _json(data: Any) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, json.dumps(data).encode() + b"\n"

    @staticmethod
    def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode() + b"\n"


def _has_label(container: dict[str, Any], wanted: str) -> bool:
    key, _, value = wanted.partition("=")
    labels = container["Config"]["Labels"]
    return key in labels and (not value or labels[key] == value)


def _summary(c: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /containers/json`` lists for a container (a subset of its inspect document)."""
    return {
        "Id": c["Id"],
        "Names": [c["Name"]],
        "Image": c["Config"]["Image"],
        "Labels": c["Config"]["Labels"],
        "State": c["State"]["Status"],
        "Status": "Up 5 minutes (healthy)",
    }


def container(
    service: str, *, compose_file: str, state: str = "running", health: str | None = "healthy"
) -> dict[str, Any]:
    """An inspect document of a Compose container of :data:`PROJECT`."""
    cid = hashlib.sha256(service.encode()).hexdigest()
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 300)) + ".123456789Z"
    doc: dict[str, Any] = {
        "Id": cid,
        "Name": f"/{PROJECT}-{service}-1",
        "RestartCount": 0,
        "Config": {
            "Image": f"example/{service}:1",
            "Env": ["PATH=/usr/bin"],
            "Cmd": ["serve"],
            "Labels": {
                "com.docker.compose.project": PROJECT,
                "com.docker.compose.service": service,
                "com.docker.compose.container-number": "1",
                "com.docker.compose.oneoff": "False",
                "com.docker.compose.project.config_files": compose_file,
            },
        },
        "State": {"Status": state, "StartedAt": started, "ExitCode": 0, "OOMKilled": False},
        "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}},
        "NetworkSettings": {"Ports": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}},
    }
    if health is not None:
        doc["Config"]["Healthcheck"] = {"Test": ["CMD", "true"]}
        doc["State"]["Health"] = {"Status": health, "Log": [{"Output": "ok\n", "ExitCode": 0}]}
    return doc


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _fresh_negotiation() -> Iterator[None]:
    apiversion.forget()
    yield
    apiversion.forget()


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # Unix socket paths must stay under ~104 bytes: pytest's tmp_path can be longer.
    folder = Path(tempfile.mkdtemp(prefix="dvapi", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def engine29(folder: Path, **kw: Any) -> FakeEngine:
    return FakeEngine(folder, max_version="1.52", min_version="1.44", **kw)


def old_engine(folder: Path, **kw: Any) -> FakeEngine:
    return FakeEngine(folder, max_version="1.41", min_version="1.12", **kw)


def _listed_paths(fake: FakeEngine) -> list[str]:
    return [urllib.parse.urlsplit(r).path for r in fake.requests]


# ------------------------------------------------------------------------------------- negotiation
def test_negotiate_takes_the_lower_of_client_and_server() -> None:
    assert apiversion.negotiate("1.52") == apiversion.CLIENT_MAX == "1.47"
    assert apiversion.negotiate("1.41") == "1.41"
    assert apiversion.negotiate("1.47") == "1.47"
    assert apiversion.negotiate("1.100") == "1.47"  # compared as numbers, not strings
    assert apiversion.negotiate("2.0") == "1.47"
    assert apiversion.negotiate(None) is None
    assert apiversion.negotiate("") is None
    assert apiversion.negotiate("garbage") is None
    assert apiversion.prefix("1.44") == "/v1.44"
    assert apiversion.prefix(None) == ""


def test_the_fake_engine_29_refuses_the_old_pinned_version(sockdir: Path) -> None:
    """What devenv met before: /v1.41 paths against Docker Engine 29 (and the error it now gives)."""
    with engine29(sockdir, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        apiversion.remember(fake.host, "1.41")  # as if devenv still pinned v1.41
        with pytest.raises(DockerUnavailableError) as err:
            rawapi.RawEngine(fake.path).containers(all=True)
    assert "client version 1.41 is too old. Minimum supported API version is 1.44" in err.value.message
    assert err.value.hint is not None and "upgrade devenv" in err.value.hint
    assert _listed_paths(fake) == ["/v1.41/containers/json"]


def test_engine_29_negotiates_to_the_client_maximum(sockdir: Path) -> None:
    docs = [container("api", compose_file="/x/compose.yml"), container("db", compose_file="/x/compose.yml")]
    with engine29(sockdir, containers=docs) as fake:
        reader = rawapi.RawEngine(fake.path)
        listed = reader.containers(all=True, filters={"label": [f"com.docker.compose.project={PROJECT}"]})
        inspected = reader.inspect_container(listed[0]["Id"])
    assert [c["Labels"]["com.docker.compose.service"] for c in listed] == ["api", "db"]
    assert inspected["State"]["Health"]["Status"] == "healthy"
    assert reader.api_version == "1.47"
    assert _listed_paths(fake) == ["/_ping", "/v1.47/containers/json", f"/v1.47/containers/{docs[0]['Id']}/json"]


def test_old_engine_is_spoken_to_at_its_own_maximum(sockdir: Path) -> None:
    with old_engine(sockdir, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        reader = rawapi.RawEngine(fake.path)
        assert len(reader.containers(all=True)) == 1
        assert reader.inspect_container("fakeproj-api-1")["Name"] == "/fakeproj-api-1"
        # And the fake really refuses a newer version, like Engine 20.10.
        apiversion.remember(fake.host, "1.47")
        with pytest.raises(DockerUnavailableError, match=r"client version 1\.47 is too new"):
            rawapi.RawEngine(fake.path).containers()
    assert _listed_paths(fake)[:3] == ["/_ping", "/v1.41/containers/json", "/v1.41/containers/fakeproj-api-1/json"]


def test_a_ping_without_api_version_gets_unversioned_paths(sockdir: Path) -> None:
    with engine29(sockdir, ping_version=None, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        reader = rawapi.RawEngine(fake.path)
        assert len(reader.containers(all=True)) == 1
    assert reader.api_version is None
    assert _listed_paths(fake) == ["/_ping", "/containers/json"]


def test_one_ping_per_socket_and_process(sockdir: Path) -> None:
    with engine29(sockdir, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        for _ in range(3):
            reader = rawapi.RawEngine(fake.path)  # e.g. a second Stack for another profile
            reader.containers(all=True)
            reader.inspect_container("fakeproj-api-1")
    assert _listed_paths(fake).count("/_ping") == 1
    assert len(fake.requests) == 7


def test_chunked_answers_and_dropped_keep_alive_connections(sockdir: Path) -> None:
    docs = [container(f"svc{i}", compose_file="/x/compose.yml") for i in range(12)]
    with engine29(sockdir, containers=docs, chunked=True, close_after_each=True) as fake:
        reader = rawapi.RawEngine(fake.path)
        listed = reader.containers(all=True)
        names = [reader.inspect_container(c["Id"])["Name"] for c in listed]
    assert names == [d["Name"] for d in docs]


def test_a_path_stat_is_a_head_on_the_kept_alive_connection(sockdir: Path) -> None:
    """``test -f``-style fast checks ask the Engine for a path's stat (``HEAD .../archive``): the
    answer has a length but no body, and the connection goes on serving GETs after it."""
    stat = {"name": "ready", "size": 0, "mode": 0o644, "mtime": "2026-12-02T02:03:25Z", "linkTarget": ""}
    docs = [container("svc0", compose_file="/x/compose.yml")]
    with engine29(sockdir, containers=docs, files={"c0ffee:/tmp/ready": stat}) as fake:
        reader = rawapi.RawEngine(fake.path, timeout=5)
        assert reader.path_stat("c0ffee", "/tmp/ready") == stat
        assert reader.path_stat("c0ffee", "/tmp/missing") is None
        assert [c["Id"] for c in reader.containers(all=True)] == [docs[0]["Id"]]
        from devenv.core.fastcheck import Plan, attempt
        from devenv.core.healthtests import HealthTest

        assert attempt(reader, "c0ffee", Plan(HealthTest("file", path="/tmp/ready", accept="f")))[0] is True
        assert attempt(reader, "c0ffee", Plan(HealthTest("file", path="/tmp/missing", accept="e")))[0] is False
        version = reader.api_version
    heads = [r for r in fake.requests if r.startswith("HEAD ")]
    assert heads[0] == f"HEAD /v{version}/containers/c0ffee/archive?path=%2Ftmp%2Fready", fake.requests


def test_a_missing_container_is_a_lookup_error_and_a_dead_socket_is_unavailable(sockdir: Path) -> None:
    with engine29(sockdir) as fake:
        reader = rawapi.RawEngine(fake.path)
        with pytest.raises(LookupError, match="No such container"):
            reader.inspect_container("nope")
    with pytest.raises(DockerUnavailableError, match="Cannot reach the Docker engine at unix://"):
        rawapi.RawEngine(str(sockdir / "gone.sock")).containers()


# ------------------------------------------------------------------------------------------ docker-py
def test_docker_py_negotiates_the_same_way(sockdir: Path) -> None:
    from devenv.core.engine.client import connect

    with engine29(sockdir, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        client = connect({"DOCKER_HOST": fake.host})
        assert client.api_version == "1.47"
        assert [c["Id"] for c in client.containers(all=True)] == [container("api", compose_file="")["Id"]]
    assert _listed_paths(fake) == ["/version", "/v1.47/containers/json"]


def test_docker_py_on_an_old_engine(sockdir: Path) -> None:
    from devenv.core.engine.client import connect

    with old_engine(sockdir, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        client = connect({"DOCKER_HOST": fake.host})
        assert client.api_version == "1.41"
        assert len(client.containers(all=True)) == 1


def test_docker_py_reuses_the_version_the_raw_reader_negotiated(sockdir: Path) -> None:
    from devenv.core.engine.client import connect

    with engine29(sockdir) as fake:
        rawapi.RawEngine(fake.path).containers()
        client = connect({"DOCKER_HOST": fake.host})
        assert client.api_version == "1.47"
    assert _listed_paths(fake) == ["/_ping", "/v1.47/containers/json"]  # no /version round trip


# ------------------------------------------------------------------------------------------ endpoint
def _context(config: Path, name: str, host: str, *, tls: bool = False, skip_verify: bool = False) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    doc = {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}}}
    (meta / "meta.json").write_text(json.dumps(doc))
    if tls:
        folder = config / "contexts" / "tls" / digest / "docker"
        folder.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (folder / f).write_text("x")


def test_endpoint_order_is_the_docker_clis(tmp_path: Path) -> None:
    cfg = tmp_path / "dockercfg"
    _context(cfg, "remote", "tcp://build.example:2376", tls=True)
    _context(cfg, "rootless", "unix:///run/user/1000/docker.sock")
    (cfg / "config.json").write_text(json.dumps({"currentContext": "rootless"}))
    base = {"DOCKER_CONFIG": str(cfg), "HOME": str(tmp_path)}

    current = endpoint.resolve(base)
    assert (current.host, current.context, current.unix_path) == (
        "unix:///run/user/1000/docker.sock",
        "rootless",
        "/run/user/1000/docker.sock",
    )
    named = endpoint.resolve({**base, "DOCKER_CONTEXT": "remote"})
    assert (named.host, named.tls, named.tls_verify, named.unix_path) == ("tcp://build.example:2376", True, True, None)
    assert sorted(named.tls_files()) == ["ca", "cert", "key"]
    assert endpoint.resolve({**base, "DOCKER_CONTEXT": "default"}).host == endpoint.DEFAULT_HOST
    # DOCKER_HOST wins over DOCKER_CONTEXT and the current context, as in the CLI.
    env_host = endpoint.resolve({**base, "DOCKER_CONTEXT": "remote", "DOCKER_HOST": "unix:///tmp/x.sock"})
    assert (env_host.host, env_host.source, env_host.unix_path) == ("unix:///tmp/x.sock", "DOCKER_HOST", "/tmp/x.sock")
    tls_host = endpoint.resolve({**base, "DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1"})
    assert (tls_host.tls, tls_host.tls_verify, tls_host.cert_dir) == (True, True, str(cfg))
    # No config at all: the default socket.
    assert endpoint.resolve({"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "none")}).unix_path == (
        "/var/run/docker.sock"
    )


def test_a_context_that_does_not_exist_is_an_error_not_another_daemon(tmp_path: Path) -> None:
    cfg = tmp_path / "dockercfg"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    with pytest.raises(DockerUnavailableError, match=r"docker context 'gone' \(the current docker context\)"):
        endpoint.resolve({"DOCKER_CONFIG": str(cfg)})
    with pytest.raises(DockerUnavailableError, match=r"'other' \(DOCKER_CONTEXT\) does not exist"):
        rawapi.local_socket({"DOCKER_CONFIG": str(cfg), "DOCKER_CONTEXT": "other"})


def test_both_clients_follow_the_current_context_to_the_same_daemon(tmp_path: Path, sockdir: Path) -> None:
    from devenv.core.engine.client import connect

    cfg = tmp_path / "dockercfg"
    with engine29(sockdir, containers=[container("api", compose_file="/x/compose.yml")]) as fake:
        _context(cfg, "fake", fake.host)
        (cfg / "config.json").write_text(json.dumps({"currentContext": "fake"}))
        env = {"DOCKER_CONFIG": str(cfg), "HOME": str(tmp_path)}
        assert rawapi.local_socket(env) == fake.path
        client = connect(env)
        assert client.base_url == "http+docker://localhost"  # docker-py's name for a unix socket
        assert len(client.containers(all=True)) == 1
    assert "/version" in _listed_paths(fake)  # docker-py's own request went to the fake


# ----------------------------------------------------------------------------------- devenv status
def test_status_json_against_engine_29(sockdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from devenv.cli.main import main

    project = tmp_path / PROJECT
    project.mkdir()
    compose = project / "compose.yml"
    compose.write_text("services:\n  api:\n    image: example/api:1\n  db:\n    image: example/db:1\n")
    docs = [container("api", compose_file=str(compose)), container("db", compose_file=str(compose), health=None)]
    for key in list(os.environ):
        if key.startswith(("DEVENV_", "COMPOSE_", "DOCKER_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_COLOR", "1")
    with engine29(sockdir, containers=docs, chunked=True) as fake:
        monkeypatch.setenv("DOCKER_HOST", fake.host)
        code = main(["-C", str(project), "status", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert doc["project"] == PROJECT and doc["ok"] is True and doc["error"] is None
    assert doc["running_profile"] == "default"
    by_name = {s["service"]: s for s in doc["services"]}
    assert by_name["api"]["state"] == "running" and by_name["api"]["health"] == "healthy"
    assert by_name["db"]["ready"] is True and by_name["db"]["health"] == "none"
    assert 250 < by_name["api"]["uptime_seconds"] < 400
    paths = _listed_paths(fake)
    assert paths.count("/_ping") == 1
    assert all(p.startswith("/v1.47/") for p in paths if p != "/_ping"), paths


def test_the_raw_reader_loads_neither_http_client_nor_docker_py() -> None:
    """Its reason to exist: ``http.client`` alone loads ``email`` and ``ssl`` (12-15 ms)."""
    import subprocess
    import sys

    code = (
        "import sys\nimport devenv.core.engine.rawapi, devenv.core.engine, devenv.core.engine.endpoint\n"
        "print(sorted(m for m in ('http.client', 'email', 'ssl', 'docker', 'requests') if m in sys.modules))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
