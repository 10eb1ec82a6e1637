"""The interpolation scanner (Compose's grammar), env files as Compose reads them, every missing variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.core.compose.interpolation import (
    missing_required,
    missing_variables_error,
    parse_dotenv,
    scan,
    scan_text,
)
from devenv.errors import ComposeFileError, ExitCode


def names(text: str) -> list[tuple[str, str, int]]:
    refs, _bad = scan(text)
    return [(r.name, r.op, r.depth) for r in refs]


def test_plain_braced_and_every_operator() -> None:
    text = "$A ${B} ${C:-d} ${D-d} ${E:+a} ${F+a} ${G:?m} ${H?m}"
    assert names(text) == [
        ("A", "", 0),
        ("B", "", 0),
        ("C", ":-", 0),
        ("D", "-", 0),
        ("E", ":+", 0),
        ("F", "+", 0),
        ("G", ":?", 0),
        ("H", "?", 0),
    ]
    refs, _ = scan(text)
    assert [r.name for r in refs if r.required] == ["G", "H"]
    assert [r.name for r in refs if r.nonempty] == ["G"]


def test_dollar_dollar_is_an_escape_and_a_lone_dollar_is_literal() -> None:
    assert names("$${NOT:?x} $$NOT2 cost 5$ $1 $-x") == []
    assert names("$$$${NOT:?x}") == []
    # three dollars: an escaped one, then a real reference
    assert names("$$${YES:?x}") == [("YES", ":?", 0)]


def test_nested_references_inside_defaults_alternatives_and_messages() -> None:
    assert names("${A:-${B:?msg}}") == [("A", ":-", 0), ("B", ":?", 1)]
    assert names("${A:+${B:-${C:?deep}}}") == [("A", ":+", 0), ("B", ":-", 1), ("C", ":?", 2)]
    assert names("${A:?needs ${B:?too}}") == [("A", ":?", 0), ("B", ":?", 1)]
    assert names("${A:-$${B:?escaped}}") == [("A", ":-", 0)]
    refs, _ = scan("${A:-x}-${B:?y}")
    assert [(r.name, r.arg) for r in refs] == [("A", "x"), ("B", "y")]
    # Compose counts only "${" as an opening: the default of ${A:-{x}} is "{x" and "}" follows it
    refs, bad = scan("${A:-{x}}")
    assert [(r.name, r.arg) for r in refs] == [("A", "{x")] and not bad


def test_offsets_point_at_each_dollar() -> None:
    text = "ab ${A:-${B}} $C"
    refs, _ = scan(text)
    assert [text[r.offset :].split("}")[0] for r in refs] == ["${A:-${B", "${B", "$C"]


def test_invalid_interpolations_are_reported() -> None:
    _refs, bad = scan("${A B} ${C:=x} ${1X} ${OPEN")
    assert [b.reason for b in bad] == [
        "unknown operator after A",
        "unknown operator after C",
        "not a variable name",
        "no closing brace",
    ]


COMPOSE = """\
# ${IN_COMMENT:?a comment is not interpolated}
x-env: &env
  URL: "postgres://${USER:-u}:${PASSWORD:?set PASSWORD}@db"
services:
  api:
    image: ${IMAGE:-app}  # ${ALSO_COMMENT:?no}
    environment: *env
    command:
      - echo
      - "$${ESCAPED:?no}"
    ${KEY_IS_NOT_INTERPOLATED:?no}: value
  worker:
    environment:
      <<: *env
      TOKEN: >-
        first line
        ${TOKEN:?set TOKEN}
"""


def test_compose_text_values_with_line_numbers_no_comments_no_keys_aliases_once() -> None:
    scanned = scan_text(COMPOSE, Path("compose.yml"))
    assert scanned.yaml_error is None
    found = [(loc.ref.name, loc.line) for loc in scanned.refs]
    assert found == [("USER", 3), ("PASSWORD", 3), ("IMAGE", 6), ("TOKEN", 17)]


def test_a_file_whose_yaml_does_not_parse_is_read_line_by_line_without_comments() -> None:
    text = "services:\n  a: [\n    ${REQ:?r}  # ${NOT:?c}\n# ${NOT2:?c}\n"
    scanned = scan_text(text, Path("broken.yml"))
    assert scanned.yaml_error is not None
    assert [(loc.ref.name, loc.line) for loc in scanned.refs] == [("REQ", 3)]


def test_dotenv_parsing_like_compose() -> None:
    text = (
        "# comment\n"
        "A=1\n"
        "export B=two\n"
        "C= # kept as '# c' by Compose\n"
        "D=val # comment\n"
        'E="quoted # not a comment"\n'
        "F='single'\n"
        "G: yaml-ish\n"
        "H=\n"
        "BARE\n"
        "A=last wins\n"
    )
    parsed = {k: v for k, (v, _line) in parse_dotenv(text).items()}
    assert parsed == {
        "A": "last wins",
        "B": "two",
        "C": "# kept as '# c' by Compose",
        "D": "val",
        "E": "quoted # not a comment",
        "F": "single",
        "G": "yaml-ish",
        "H": "",
    }
    assert parse_dotenv(text)["B"][1] == 3


def test_every_missing_variable_across_files_with_empty_and_environment(tmp_path: Path) -> None:
    base = tmp_path / "compose.yml"
    base.write_text(
        "services:\n  a:\n    image: x\n    environment:\n"
        "      A: ${FIRST:?first}\n      B: ${EMPTY_OK?may be empty}\n      C: ${EMPTY_NOT:?not empty}\n"
        "      D: ${SET:?x}\n      E: ${FROM_ENV:?x}\n      F: ${FIRST:?again}\n"
    )
    overlay = tmp_path / "compose.dev.yml"
    overlay.write_text("services:\n  a:\n    environment:\n      G: ${OUTER:-${NESTED:?nested}}\n")
    env = tmp_path / ".env.dev"
    env.write_text("EMPTY_OK=\nEMPTY_NOT=\nSET=1\nOUTER=1\n")
    missing = missing_required([base, overlay], [env], {"FROM_ENV": "x"})
    assert [(m.name, m.empty) for m in missing] == [("FIRST", False), ("EMPTY_NOT", True), ("NESTED", False)]
    assert [u.line for u in missing[0].uses] == [5, 10]
    assert missing[2].uses[0].file == overlay and missing[2].uses[0].line == 4
    error = missing_variables_error(
        missing, profile="dev", compose_files=[base, overlay], env_files=[env], root=tmp_path
    )
    assert isinstance(error, ComposeFileError) and error.exit_code == ExitCode.USAGE
    assert "3 required variables" in error.message and ".env.dev" in error.message
    assert "FIRST  required at compose.yml:5, compose.yml:10: first" in error.message
    assert "EMPTY_NOT (set but empty)" in error.message
    assert "NESTED  required at compose.dev.yml:4: nested" in error.message


def test_without_env_files_compose_reads_the_project_folders_dotenv(tmp_path: Path) -> None:
    base = tmp_path / "compose.yml"
    base.write_text("services:\n  a:\n    image: ${IMG:?img}\n")
    assert [m.name for m in missing_required([base], [], {})] == ["IMG"]
    (tmp_path / ".env").write_text("IMG=busybox\n")
    assert missing_required([base], [], {}) == []
    assert missing_variables_error([], profile="p", compose_files=[base], env_files=[], root=tmp_path) is None


@pytest.mark.parametrize("text", ["", "services: {}\n", "just text"])
def test_files_without_references(text: str) -> None:
    assert scan_text(text, Path("c.yml")).refs == []


def test_a_compose_error_on_one_missing_variable_becomes_one_error_naming_all(tmp_path: Path) -> None:
    from devenv.config import load_project
    from devenv.core.stack import Stack

    (tmp_path / "compose.yml").write_text(
        "services:\n  a:\n    image: x\n    environment:\n      A: ${ONE:?one}\n      B: ${TWO:?two}\n"
    )
    project = load_project(tmp_path, {})
    stack = Stack(project, project.resolve_profile("default", {}))
    compose_said = "error while interpolating services.a.environment.A: required variable ONE is missing a value: one"
    for what in ("config", "create", "down"):
        error = stack.map_compose_error(what, ["docker", "compose"], compose_said)
        assert isinstance(error, ComposeFileError) and error.exit_code == ExitCode.USAGE
        assert "ONE  required at compose.yml:5: one" in error.message
        assert "TWO  required at compose.yml:6: two" in error.message
    # set in the meantime (or Compose disagrees): Compose's own message stands
    (tmp_path / ".env").write_text("ONE=1\nTWO=2\n")
    error = stack.map_compose_error("config", ["docker", "compose"], compose_said)
    assert isinstance(error, ComposeFileError) and "required variable ONE is missing" in error.message
