"""A service of an inactive Compose profile named on the command line is enabled, as Compose 2.40 does.

Compose (compose-go ``WithServicesEnabled``) enables a disabled service it is asked for by name,
with its dependencies among the services then enabled; a dependency that stays disabled fails
("no such service"). Each case runs under ``devenv`` and under plain ``docker compose`` (another
project) and both must leave the same containers.
"""

from __future__ import annotations

from typing import Any

import pytest
from devenv_testlib import Stack

pytestmark = pytest.mark.docker


def running_services(st: Stack, project: str) -> set[str]:
    return {s for s, doc in st.inspect_all(project=project).items() if doc["State"]["Running"]}


def test_up_and_actions_on_a_service_of_an_inactive_profile(stack: Any) -> None:
    st: Stack = stack("profiles_named")
    peer = st.adopt(f"{st.name}p")

    res = st.devenv("up", "tool", "--json", "--timeout", "90")
    assert res.returncode == 0, res.dump()
    assert {s["service"] for s in res.json()["services"]} == {"web", "tool"}
    st.compose("up", "-d", "--wait", "tool", project=peer)
    assert running_services(st, st.name) == running_services(st, peer) == {"web", "tool"}

    res = st.devenv("up", "tool2", "--timeout", "90")
    assert res.returncode == 0, res.dump()
    st.compose("up", "-d", "--wait", "tool2", project=peer)
    assert running_services(st, st.name) == running_services(st, peer) == {"web", "tool", "tool2", "helper"}

    # status lists them (named or not: they have containers), as `docker compose ps` does.
    res = st.devenv("status", "tool", "--json")
    assert res.returncode == 0, res.dump()
    assert [(s["service"], s["state"]) for s in res.json()["services"]] == [("tool", "running")]
    res = st.devenv("status", "--json")
    assert {s["service"] for s in res.json()["services"] if s["state"] == "running"} >= {"tool", "tool2", "helper"}

    # The per-service actions take the name as Compose's verbs do.
    res = st.devenv("stop", "tool", "--json")
    assert res.returncode == 0, res.dump()
    st.compose("stop", "tool", project=peer)
    assert "tool" not in running_services(st, st.name) and "tool" not in running_services(st, peer)
    res = st.devenv("start", "tool", "--json", "--wait-timeout", "90")
    assert res.returncode == 0, res.dump()
    st.compose("start", "tool", project=peer)
    res = st.devenv("restart", "tool2", "--json", "--wait-timeout", "90")
    assert res.returncode == 0, res.dump()
    assert running_services(st, st.name) == running_services(st, peer) == {"web", "tool", "tool2", "helper"}

    # A dependency in a profile that stays off fails under both, and nothing of it is created.
    peer_res = st.compose("up", "-d", "--wait", "admin", project=peer, check=False)
    assert peer_res.returncode != 0 and "no such service: db" in peer_res.stderr, peer_res
    res = st.devenv("up", "admin", "--timeout", "60")
    assert res.returncode != 0, res.dump()
    assert "no such service: db" in res.stderr, res.dump()
    assert "admin" not in st.services_present() and "db" not in st.services_present()

    # An unknown name is still a usage error.
    res = st.devenv("up", "toool")
    assert res.returncode == 2 and 'Unknown service "toool"' in res.stderr, res.dump()
