"""``$$`` escapes: devenv's compose model holds what Compose gives the containers, not ``config``'s text.

``docker compose config --format json`` prints every ``$`` as ``$$`` (so that it can be read again);
Compose reads it back with ``$$`` -> ``$``. The model is built from that real output and compared
with what Compose itself put in the containers (``docker compose create``, then inspect).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from devenv_testlib import Stack, docker

pytestmark = pytest.mark.docker


def core_stack(st: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    from devenv.config import load_project
    from devenv.core.stack import Stack as CoreStack

    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", st.name)
    project = load_project(st.path)
    return CoreStack(project, project.resolve_profile(None))


def test_the_model_holds_what_compose_gives_the_containers(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.core.db.target import resolve_database
    from devenv.core.secrets import Masker

    st: Stack = stack("escapes")
    raw_config = json.loads(st.compose("config", "--format", "json").stdout)
    assert raw_config["services"]["app"]["environment"]["API_TOKEN"] == "tok$$en-5501"  # Compose's own text

    core = core_stack(st, monkeypatch)
    model = core.model
    app = model.services["app"]
    assert app.environment == {"API_TOKEN": "tok$en-5501", "PLAIN": "a$$b"}
    assert app.command == ("sh", "-c", "echo $HOME and ${X} cost $5; sleep infinity")
    assert app.post_start[0].command == ("sh", "-c", "echo $PWD > /tmp/hooked")
    assert app.post_start[0].environment == {"HOOK": "h$1"}
    raw_app = model.raw["services"]["app"]
    assert raw_app["healthcheck"]["test"] == ["CMD-SHELL", "test $HOME = /root"]

    st.compose("create")  # Compose's own containers, never started
    doc = json.loads(docker("inspect", st.container_ids("app")[0], check=True).stdout)[0]
    config = doc["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert {k: env[k] for k in app.environment} == app.environment
    assert tuple(config["Cmd"]) == app.command
    assert config["Entrypoint"] == raw_app["entrypoint"]
    assert config["WorkingDir"] == raw_app["working_dir"] == "/tmp/$d"
    assert config["Labels"]["dvt.label"] == raw_app["labels"]["dvt.label"] == "v$1"
    assert config["Healthcheck"]["Test"] == raw_app["healthcheck"]["test"]

    # Secrets are masked by the values the containers really have.
    mask = Masker.from_config(model.raw)
    assert mask("token is tok$en-5501") == "token is ********"
    # Database credentials from the model (no container running) are the server's real ones.
    target = resolve_database(core)
    assert (target.service, target.user, target.password, target.name) == ("db", "app", "pa$w0rd", "shop")
