"""launch.json (JSONC) edits and the attach configurations for editors (no Docker)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devenv.core.debug.ide import LaunchJsonError, dap_config, nvim_config, vscode_config, write_launch_json
from devenv.core.debug.jsonc import JsoncError, loads, upsert_configuration
from devenv.core.debug.target import DebugTarget, PathMapping


def target(root: Path, port: int = 5678) -> DebugTarget:
    return DebugTarget(
        service="api",
        host="127.0.0.1",
        port=port,
        container_port=5678,
        path_mappings=(PathMapping(str(root / "compose" / "app" / "app"), "/srv/app"),),
        overlay=True,
    )


EXISTING = """// Launch configurations (keep this comment)
{
    "version": "0.2.0",
    /* a block comment */
    "configurations": [
        {
            "name": "Python: current file", // mine
            "type": "debugpy",
            "request": "launch",
            "program": "${file}",
        },
    ],
    "compounds": []
}
"""


def test_jsonc_reads_comments_and_trailing_commas() -> None:
    data = loads(EXISTING)
    assert data["configurations"][0]["name"] == "Python: current file"
    assert data["compounds"] == []
    with pytest.raises(JsoncError, match="line 3"):
        loads('{\n "a": 1\n "b": 2}')
    with pytest.raises(JsoncError):
        loads('{"a": 1} trailing')
    with pytest.raises(JsoncError):
        loads('{"a": /* open')


def test_merge_keeps_comments_and_other_entries(tmp_path: Path) -> None:
    out = upsert_configuration(EXISTING, vscode_config(target(tmp_path), tmp_path))
    for kept in ("// Launch configurations (keep this comment)", "/* a block comment */", "// mine", '"compounds": []'):
        assert kept in out
    data = loads(out)
    names = [c["name"] for c in data["configurations"]]
    assert names == ["Python: current file", "devenv: attach api"]
    # Everything before the new entry is unchanged, byte for byte.
    head = EXISTING[: EXISTING.index("        },\n    ],") + len("        },\n")]
    assert out.startswith(head)


def test_update_by_name_replaces_only_that_entry(tmp_path: Path) -> None:
    first = upsert_configuration(EXISTING, vscode_config(target(tmp_path, 5678), tmp_path))
    second = upsert_configuration(first, vscode_config(target(tmp_path, 6000), tmp_path))
    data = loads(second)
    assert len(data["configurations"]) == 2
    assert data["configurations"][1]["connect"] == {"host": "127.0.0.1", "port": 6000}
    assert second.replace("6000", "5678") == first
    assert upsert_configuration(second, vscode_config(target(tmp_path, 6000), tmp_path)) == second


@pytest.mark.parametrize(
    "text",
    ["{}", "{\n}", '{"version": "0.2.0"}', '{"configurations": []}', '{"configurations": [\n  // none\n]}', "\t{ }"],
)
def test_insert_into_sparse_files(text: str, tmp_path: Path) -> None:
    config = vscode_config(target(tmp_path), tmp_path)
    out = upsert_configuration(text, config)
    assert loads(out)["configurations"] == [config]
    if "// none" in text:
        assert "// none" in out


def test_not_a_launch_file_is_refused() -> None:
    with pytest.raises(JsoncError):
        upsert_configuration("[1, 2]", {"name": "x"})
    with pytest.raises(JsoncError, match="not a list"):
        upsert_configuration('{"configurations": {}}', {"name": "x"})


KEYS = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), max_size=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    others=st.lists(st.dictionaries(KEYS, VALUES, max_size=3), max_size=3),
    extra=st.dictionaries(KEYS.filter(lambda k: k != "configurations"), VALUES, max_size=3),
    indent=st.sampled_from([None, 2, 4, "\t"]),
)
def test_upsert_is_json_correct_for_any_document(others: list, extra: dict, indent: object) -> None:
    doc = {**extra, "configurations": [{**o, "name": f"other {i}"} for i, o in enumerate(others)]}
    text = json.dumps(doc, indent=indent)  # type: ignore[arg-type]
    config = {"name": "devenv: attach api", "type": "debugpy", "connect": {"port": 1}}
    out = upsert_configuration(text, config)
    data = loads(out)
    assert data == {**doc, "configurations": [*doc["configurations"], config]}
    assert json.loads(out) == data  # still plain JSON when it was
    assert upsert_configuration(out, config) == out


def test_vscode_config_maps_project_folders_to_the_workspace(tmp_path: Path) -> None:
    outside = PathMapping("/elsewhere/src", "/src")
    t = DebugTarget("api", "127.0.0.1", 5679, 5678, (*target(tmp_path).path_mappings, outside))
    config = vscode_config(t, tmp_path)
    assert config == {
        "name": "devenv: attach api",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": 5679},
        "pathMappings": [
            {"localRoot": "${workspaceFolder}/compose/app/app", "remoteRoot": "/srv/app"},
            {"localRoot": "/elsewhere/src", "remoteRoot": "/src"},
        ],
        "justMyCode": False,
    }
    raw = dap_config(t)
    assert raw["pathMappings"][0]["localRoot"] == str(tmp_path / "compose" / "app" / "app")
    lua = nvim_config(t)
    assert "table.insert(dap.configurations.python" in lua
    assert "port = 5679," in lua and 'remoteRoot = "/srv/app",' in lua and "justMyCode = false," in lua


def test_write_launch_json_creates_then_merges(tmp_path: Path) -> None:
    created = write_launch_json(tmp_path, target(tmp_path))
    assert created.created and created.changed
    data = json.loads((tmp_path / ".vscode" / "launch.json").read_text())
    assert data["version"] == "0.2.0" and data["configurations"][0]["name"] == "devenv: attach api"
    again = write_launch_json(tmp_path, target(tmp_path))
    assert not again.created and not again.changed
    path = tmp_path / ".vscode" / "launch.json"
    path.write_text(EXISTING)
    os.chmod(path, 0o640)
    merged = write_launch_json(tmp_path, target(tmp_path))
    assert merged.changed and not merged.created
    assert "// mine" in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)


def test_an_unparsable_launch_json_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".vscode" / "launch.json"
    path.parent.mkdir()
    broken = '{\n  "configurations": [\n    {"name": "x",,}\n  ]\n}\n'
    path.write_text(broken)
    with pytest.raises(LaunchJsonError, match=r"left it as it is") as info:
        write_launch_json(tmp_path, target(tmp_path))
    assert "line 3" in info.value.message
    assert "--print vscode" in (info.value.hint or "")
    assert path.read_text() == broken
    assert sorted(p.name for p in path.parent.iterdir()) == ["launch.json"]
