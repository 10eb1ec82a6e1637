"""The ``devenv`` argument parser: help text everywhere, ``--profile``/``--json`` before or after the command."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.cli.main import build_parser, main
from devenv.errors import ExitCode


def _walk(parser: argparse.ArgumentParser, path: str = "devenv") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # the one-line help of each subcommand
                yield f"{path} {choice.dest}", choice
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")


def test_every_flag_positional_and_subcommand_has_help() -> None:
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, action in _walk(build_parser())
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == []


def test_the_walk_sees_nested_commands() -> None:
    paths = {path for path, _ in _walk(build_parser())}
    assert {"devenv db snapshots", "devenv db export", "devenv migrate down", "devenv profiles"} <= paths


# ------------------------------------------------------------------------- --profile / --json anywhere
@pytest.mark.parametrize(
    "command",
    [["up"], ["status"], ["logs"], ["down"], ["config"], ["db", "reset"], ["db", "snapshot"], ["migrate", "down"]],
    ids=" ".join,
)
def test_profile_before_or_after_the_command(command: list[str]) -> None:
    parse = build_parser().parse_args
    assert parse(command).profile is None
    assert parse(["--profile", "dev", *command]).profile == "dev"
    assert parse(["-p", "dev", *command]).profile == "dev"
    assert parse([*command, "--profile", "dev"]).profile == "dev"
    # Both given: the one after the command wins, in either spelling.
    assert parse(["--profile", "dev", *command, "--profile", "prod"]).profile == "prod"
    assert parse(["-p", "prod", *command, "-p", "dev"]).profile == "dev"


@pytest.mark.parametrize(
    "command", [["up"], ["status"], ["profiles"], ["config"], ["db", "snapshots"], ["migrate", "status"]], ids=" ".join
)
def test_json_before_or_after_the_command(command: list[str]) -> None:
    parse = build_parser().parse_args
    assert parse(command).json is False
    assert parse(["--json", *command]).json is True
    assert parse([*command, "--json"]).json is True
    assert parse(["--json", *command, "--json"]).json is True


def test_migrate_takes_both_options_at_every_level() -> None:
    parse = build_parser().parse_args
    args = parse(["--profile", "a", "--json", "migrate", "--profile", "b", "down", "2", "--profile", "c"])
    assert (args.profile, args.json, args.steps) == ("c", True, 2)
    args = parse(["-p", "a", "migrate", "-p", "b", "down"])
    assert (args.profile, args.json) == ("b", False)


@pytest.mark.parametrize("argv", [["--json", "logs"], ["--json", "down"], ["--json", "db", "reset"]], ids=" ".join)
def test_json_before_a_command_without_json_output_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"--json: `devenv {' '.join(argv[1:])}` has no JSON output" in err


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profiles dev and prod; no engine (DOCKER_HOST points at nothing)."""
    (tmp_path / "compose.yml").write_text("services:\n  app:\n    image: busybox\n")
    (tmp_path / "devenv.toml").write_text(
        '[project]\nname = "dvtorder"\n\n[profiles.dev]\ndescription = "d"\n\n[profiles.prod]\ndescription = "p"\n'
    )
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.delenv("DEVENV_PROFILE", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "profile"),
    [
        (["--profile", "prod", "status", "--json"], "prod"),
        (["--json", "status", "--profile", "prod"], "prod"),
        (["--json", "--profile", "dev", "status", "--profile", "prod"], "prod"),
        (["-p", "prod", "status", "-p", "dev", "--json"], "dev"),
    ],
    ids=" ".join,
)
def test_the_command_sees_the_options_from_either_side(
    project: Path, argv: list[str], profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The engine is unreachable (exit 3): the JSON error document still names the profile used.
    assert main(["-C", str(project), *argv]) == ExitCode.DOCKER_UNAVAILABLE
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == profile and doc["exit_code"] == 3 and doc["ok"] is False


def test_profiles_json_given_before_the_command(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(project), "--json", "profiles"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in doc["profiles"]] == ["default", "dev", "prod"]


def test_every_command_with_a_json_flag_takes_it_on_either_side() -> None:
    """A command parser that has --json must accept it before the command too (json_supported)."""
    wrong = []
    for path, action in _walk(build_parser()):
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            has_json = any("--json" in a.option_strings for a in sub._actions)
            if has_json and not sub.get_default("json_supported"):
                wrong.append(f"{path} {name}")
    assert wrong == []
    parse = build_parser().parse_args
    for command in (["start"], ["stop"], ["restart"], ["recreate"], ["rebuild"]):
        assert parse(["--json", *command]).json is True
        assert parse([*command, "--json"]).json is True
