"""``devenv watch``'s rendering without Docker: text lines and NDJSON of the watch events, and the
``up --watch --json`` refusal."""

from __future__ import annotations

import json

from devenv.cli.main import build_parser
from devenv.cli.output import Output
from devenv.cli.watch_cmds import event_json, render
from devenv.core.events import StepStarted
from devenv.core.watch.events import WatchConfigInvalid, WatchError, WatchRebuilt, WatchSynced


def test_text_lines() -> None:
    out = Output(color=False)
    (line,) = (
        render(WatchSynced("api", ("/srv/a.py", "/srv/b.py"), ("/srv/c.py",), 2, "change", 0.012, 0.03), out) or []
    )
    assert "api: synced 2 file(s), 1 deleted into 2 container(s) in 12 ms" in line and "/srv/a.py" in line
    lines = render(WatchRebuilt("img:dev", ("api", "worker"), "failed", 3.0, "requirements.txt", "line 1\nboom"), out)
    assert lines is not None and "rebuild of img:dev failed (api, worker)" in lines[0] and "boom" in lines[-1]
    lines = render(WatchConfigInvalid("compose.yml", 5, "invalid YAML"), out)
    assert lines is not None and "config: compose.yml:5: invalid YAML" in lines[0] and "left as it is" in lines[1]
    (line,) = render(WatchError("sync", "worker", "/srv/ro/x", "read-only file system"), out) or []
    assert line.endswith("✘ sync worker /srv/ro/x: read-only file system")
    assert render(StepStarted("wait"), out) is None  # the core's own events: rendered as `up` does


def test_ndjson() -> None:
    doc = json.loads(event_json(WatchSynced("api", ("/srv/a.py",), (), 1, "initial", 0.5)) or "")
    assert doc["event"] == "synced" and doc["files"] == ["/srv/a.py"] and doc["reason"] == "initial"
    assert isinstance(doc["time"], float) and doc["latency"] is None
    doc = json.loads(event_json(WatchConfigInvalid("compose.yml", None, "bad")) or "")
    assert doc["event"] == "config_invalid" and doc["line"] is None
    doc = json.loads(event_json(StepStarted("wait", "api")) or "")
    assert doc == {"time": doc["time"], "event": "core", "type": "StepStarted", "step": "wait", "detail": "api"}


def test_watch_parser() -> None:
    args = build_parser().parse_args(["watch", "api", "--logs", "--no-config", "--json"])
    assert args.services == ["api"] and args.logs and args.no_config and args.json
    assert build_parser().parse_args(["up", "--watch"]).watch


def test_up_watch_json_is_a_usage_error(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from devenv.cli.main import main

    (tmp_path / "compose.yml").write_text("services:\n  a:\n    image: x\n")
    assert main(["-C", str(tmp_path), "up", "--watch", "--json"]) == 2
    assert "drop --json" in capsys.readouterr().err
