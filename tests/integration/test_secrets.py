"""Secrets stay masked in what devenv prints: failure diagnostics of `up` (text and --json) and `config`.

The stack (stacks/secrets) marks every secret value with "leak-"; none may reach stdout or stderr.
"""

from __future__ import annotations

import re

import pytest

MASK = "********"
LEAK = re.compile(r"leak-[a-z]+|ghp_[0-9A-Za-z]{20,}|p@ss-5502|ss-5502")


def assert_no_leak(text: str, dump: str) -> None:
    found = sorted(set(LEAK.findall(text)))
    assert not found, f"secret values in the output: {found}\n{dump}"


def test_crashed_service_logs_are_masked(stack):
    st = stack("secrets")
    res = st.devenv("up", "crashy", "--timeout", "120")
    assert res.returncode == 1, res.dump()
    assert_no_leak(res.stdout + res.stderr, res.dump())
    assert "exited with code 3" in res.stderr, res.dump()
    assert f"connecting with password {MASK}" in res.stderr, res.dump()
    assert f"dsn postgres://app:{MASK}@db:5432/shop" in res.stderr, res.dump()

    res = st.devenv("up", "crashy", "--json", "--timeout", "120")
    assert res.returncode == 1, res.dump()
    assert_no_leak(res.stdout + res.stderr, res.dump())
    failure = {s["service"]: s for s in res.json()["services"]}["crashy"]["failure"]
    assert f"connecting with password {MASK}" in failure["logs"], failure
    assert f"dsn postgres://app:{MASK}@db:5432/shop" in failure["logs"], failure


def test_unhealthy_service_health_output_and_logs_are_masked(stack):
    st = stack("secrets")
    res = st.devenv("up", "sick", "--json", "--timeout", "120")
    assert res.returncode == 1, res.dump()
    assert_no_leak(res.stdout + res.stderr, res.dump())
    failure = {s["service"]: s for s in res.json()["services"]}["sick"]["failure"]
    assert "unhealthy" in failure["reason"], failure
    assert failure["health_output"] == f"auth failed with token {MASK}", failure
    assert f"sick started with token {MASK}" in failure["logs"], failure
    # The text report of the same failure (the container is already unhealthy: it fails at once).
    res = st.devenv("up", "sick", "--timeout", "120")
    assert res.returncode == 1, res.dump()
    assert_no_leak(res.stdout + res.stderr, res.dump())
    assert f"auth failed with token {MASK}" in res.stderr, res.dump()
    assert f"sick started with token {MASK}" in res.stderr, res.dump()


@pytest.mark.parametrize("as_json", [False, True], ids=["yaml", "json"])
def test_config_masks_every_secret_of_the_issue(stack, as_json):
    st = stack("secrets")
    res = st.devenv("config", *(["--json"] if as_json else []))
    assert res.returncode == 0, res.dump()
    assert_no_leak(res.stdout + res.stderr, res.dump())
    assert MASK in res.stdout, res.dump()
    assert "/usr/local/bin:/usr/bin:/bin" in res.stdout, res.dump()  # PATH is no secret
    shown = st.devenv("config", "--show-secrets", *(["--json"] if as_json else []))
    assert shown.returncode == 0, shown.dump()
    for value in ("leak-dbpass-5501", "leak-p@ss-5502", "leak-mysqlpwd-5506", "leak-hcpass-5517"):
        assert value in shown.stdout, shown.dump()
