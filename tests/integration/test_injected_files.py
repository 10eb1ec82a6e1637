"""Secrets and configs with ``environment:`` / ``content:`` sources are in the containers devenv starts.

Compose 2.40 copies those into a container before every start it makes (``file:`` sources are bind
mounts from the create step); devenv starts containers through the Engine API and must do the same.
The same stack runs under ``devenv up`` and under ``docker compose up --wait`` (another project);
every file must be there with the same content, mode and owner, also after a ``devenv restart``.
"""

from __future__ import annotations

from typing import Any

import pytest
from devenv_testlib import Stack, docker

pytestmark = pytest.mark.docker

FILES = (
    "/run/secrets/env_secret",
    "/run/secrets/s_file",
    "/run/secrets/relative_secret",
    "/etc/app/conf.txt",
    "/c_env",
    "/c_file",
)


def files_in(st: Stack, service: str, project: str) -> dict[str, str]:
    """path -> "mode uid:gid|content" for every expected file, read as root in the container."""
    cid = st.container_ids(service, project=project)[0]
    script = (
        'for f in "$@"; do printf "%s=" "$f"; stat -c "%a %u:%g" "$f" | tr -d "\\n"; printf "|"; '
        'cat "$f" | base64 -w0; echo; done'
    )
    proc = docker("exec", "-u", "0", cid, "sh", "-c", script, "sh", *FILES)
    assert proc.returncode == 0, proc.stderr
    import base64

    out = {}
    for line in proc.stdout.splitlines():
        path, _, rest = line.partition("=")
        meta, _, data = rest.partition("|")
        out[path] = f"{meta}|{base64.b64decode(data).decode()}"
    return out


def test_devenv_up_puts_every_secret_and_config_where_compose_does(stack: Any) -> None:
    st: Stack = stack("injected", env={"DVT_CONFIG": "from-the-environment"})
    peer = st.adopt(f"{st.name}p")
    st.compose("up", "-d", "--wait", project=peer)

    res = st.devenv("up", "--timeout", "90")
    assert res.returncode == 0, res.dump()
    for service in ("app", "app_user"):
        mine, theirs = files_in(st, service, st.name), files_in(st, service, peer)
        assert mine == theirs, (service, mine, theirs)
    app = files_in(st, "app", st.name)
    assert app["/run/secrets/env_secret"] == "440 103:104|dotenv-secret-5504"  # long syntax: mode, uid, gid
    assert app["/run/secrets/relative_secret"] == "444 0:0|dotenv-secret-5504"
    assert app["/etc/app/conf.txt"] == "640 0:0|line one ${NOT_A_VAR}\nline two\n"
    assert app["/c_env"] == "444 0:0|from-the-environment"  # the process environment beats .env
    assert app["/run/secrets/s_file"].endswith("|file-secret-5503\n")  # bind mounts from the create step

    # Before every start, as Compose: a changed variable shows after a restart.
    res = st.devenv("restart", "app", "--wait-timeout", "90", env={"DVT_CONFIG": "changed"})
    assert res.returncode == 0, res.dump()
    assert files_in(st, "app", st.name)["/c_env"] == "444 0:0|changed"


def test_an_unset_variable_fails_the_start_with_composes_message(stack: Any) -> None:
    st: Stack = stack("injected")
    (st.path / ".env").write_text("DVT_SECRET=x\n")  # DVT_CONFIG unset
    peer = st.adopt(f"{st.name}p")
    theirs = st.compose("up", "-d", "--wait", "app", project=peer, check=False)
    message = 'environment variable "DVT_CONFIG" required by config "{}_c_env" is not set'
    assert theirs.returncode != 0 and message.format(peer) in theirs.stderr, theirs
    res = st.devenv("up", "app", "--timeout", "60")
    assert res.returncode == 1, res.dump()
    assert message.format(st.name) in res.stderr, res.dump()
