"""develop.watch rules without Docker: Docker's patterns, ignore / include / .dockerignore / .git /
editor temp files, container paths, initial-sync file lists, and batching into one plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devenv.core.watch.patterns import PatternMatcher, read_ignore_file, translate
from devenv.core.watch.plan import plan
from devenv.core.watch.rules import initial_files, load_rules, watched_paths
from devenv.errors import ConfigError


# ---------------------------------------------------------------------------------------- patterns
@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*.tmp"], "/p/a.tmp", True),
        (["*.tmp"], "/p/sub/a.tmp", False),  # Docker patterns are anchored at the root, unlike .gitignore
        (["**/*.tmp"], "/p/sub/deep/a.tmp", True),
        (["**/*.tmp"], "/p/a.tmp", True),
        (["cache/"], "/p/cache/x/y.py", True),  # a directory pattern takes everything below it
        (["cache"], "/p/cache", True),
        (["cache"], "/p/cached.py", False),
        (["sub/*.py"], "/p/sub/a.py", True),
        (["sub/*.py"], "/p/sub/deep/a.py", False),  # "*" stays within one folder
        (["a?c"], "/p/abc", True),
        (["a?c"], "/p/a/c", False),
        (["[ab].txt"], "/p/b.txt", True),
        (["[ab].txt"], "/p/c.txt", False),
        (["*", "!keep.txt"], "/p/keep.txt", False),
        (["*", "!keep.txt"], "/p/other.txt", True),
        (["docs/**"], "/p/docs/a/b.md", True),
        (["docs/**"], "/p/docsx/a.md", False),
        (["a.b"], "/p/aXb", False),  # "." is literal
        (["/abs/only"], "/abs/only/x", True),
    ],
)
def test_docker_patterns(patterns: list[str], path: str, expected: bool) -> None:
    assert PatternMatcher("/p", patterns).matches(path) is expected


def test_translate_double_star_forms() -> None:
    assert translate("/p/**/x") == "^/p/(.*/)?x$"
    assert translate("/p/**") == "^/p/.*$"
    assert translate("/p/*.py") == "^/p/[^/]*\\.py$"


def test_read_ignore_file(tmp_path: Path) -> None:
    f = tmp_path / ".dockerignore"
    f.write_text("# comment\n\n  *.log  \n/build\n!keep.log\n./docs/../tmp\n")
    assert read_ignore_file(f) == ["*.log", "build", "!keep.log", "tmp"]


# ------------------------------------------------------------------------------------------ rules
def _config(root: Path, watch: list[dict[str, Any]], **svc: Any) -> dict[str, Any]:
    return {
        "name": "proj",
        "services": {
            "app": {"build": {"context": str(root), "dockerfile": "Dockerfile"}, "develop": {"watch": watch}, **svc}
        },
    }


def _tree(root: Path, *files: str) -> None:
    for f in files:
        p = root / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f)


def test_rule_matching_ignore_include_dockerignore_git_and_temp_files(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("**/*.log\n")
    src = tmp_path / "src"
    rules = load_rules(
        _config(
            tmp_path,
            [{"action": "sync", "path": str(src), "target": "/srv/app", "ignore": ["*.tmp", "cache/"]}],
        )
    )
    rule = rules["app"].rules[0]
    assert rule.matches(f"{src}/main.py")
    assert rule.matches(f"{src}/pkg/mod.py")
    assert not rule.matches(f"{tmp_path}/other/main.py")  # outside the rule's path
    assert not rule.matches(f"{src}/x.tmp")  # the rule's ignore
    assert rule.matches(f"{src}/pkg/x.tmp")  # ...anchored at the rule's path, like Compose
    assert not rule.matches(f"{src}/cache/a/b.py")
    assert not rule.matches(f"{src}/pkg/debug.log")  # .dockerignore of the build context
    assert not rule.matches(f"{src}/.git/HEAD")
    assert not rule.matches(f"{src}/pkg/.git/objects/ab")
    for temp in (".main.py.swp", "main.py~", "4913", ".#main.py", "main.py___jb_tmp___", ".idea/workspace.xml"):
        assert not rule.matches(f"{src}/{temp}"), temp
    assert rule.container_path(f"{src}/pkg/mod.py") == "/srv/app/pkg/mod.py"
    assert rule.container_path(str(src)) == "/srv/app"


def test_include_limits_a_rule(tmp_path: Path) -> None:
    rules = load_rules(
        _config(tmp_path, [{"action": "sync", "path": str(tmp_path), "target": "/app", "include": ["*.py"]}])
    )
    rule = rules["app"].rules[0]
    assert rule.matches(f"{tmp_path}/a.py")
    assert not rule.matches(f"{tmp_path}/a.txt")


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.a\n")
    (tmp_path / "Dockerfile.dockerignore").write_text("*.b\n")
    rule = load_rules(_config(tmp_path, [{"action": "sync", "path": str(tmp_path), "target": "/app"}]))["app"].rules[0]
    assert rule.matches(f"{tmp_path}/x.a")
    assert not rule.matches(f"{tmp_path}/x.b")


def test_bind_mounted_sync_path_is_skipped(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        [{"action": "sync", "path": str(tmp_path / "src"), "target": "/app"}],
        volumes=[{"type": "bind", "source": str(tmp_path), "target": "/app"}],
    )
    sr = load_rules(config)["app"]
    assert sr.rules == ()
    assert "bind-mounted" in sr.skipped[0]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"action": "sync", "path": "/x"}, "needs a target"),
        ({"action": "teleport", "path": "/x"}, "not one of"),
        ({"action": "sync+exec", "path": "/x", "target": "/y"}, "exec.command"),
    ],
)
def test_rules_compose_would_refuse(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_rules(_config(tmp_path, [entry]))


def test_rebuild_needs_a_build_section() -> None:
    config = {
        "name": "p",
        "services": {"db": {"image": "x", "develop": {"watch": [{"action": "rebuild", "path": "/x"}]}}},
    }
    with pytest.raises(ConfigError, match="build section"):
        load_rules(config)


def test_image_names_default_like_compose(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"action": "rebuild", "path": str(tmp_path)}])
    assert load_rules(config)["app"].image == "proj-app"
    config["services"]["app"]["image"] = "shared:dev"
    assert load_rules(config)["app"].image == "shared:dev"


def test_initial_files_skip_ignored_and_build_files(tmp_path: Path) -> None:
    _tree(
        tmp_path, "a.py", "pkg/b.py", "x.tmp", ".git/HEAD", "Dockerfile", "compose.yml", "cache/c.py", "pkg/.b.py.swp"
    )
    rule = load_rules(
        _config(tmp_path, [{"action": "sync", "path": str(tmp_path), "target": "/app", "ignore": ["*.tmp", "cache"]}])
    )["app"].rules[0]
    got = sorted(Path(p).relative_to(tmp_path).as_posix() for p in initial_files(rule))
    assert got == ["a.py", "pkg/b.py"]


def test_watched_paths_collapse_nested_and_use_a_files_folder(tmp_path: Path) -> None:
    _tree(tmp_path, "src/a.py", "src/sub/b.py", "requirements.txt")
    config = _config(
        tmp_path,
        [
            {"action": "sync", "path": str(tmp_path / "src"), "target": "/a"},
            {"action": "sync", "path": str(tmp_path / "src/sub"), "target": "/b"},
            {"action": "rebuild", "path": str(tmp_path / "requirements.txt")},
        ],
    )
    assert watched_paths(load_rules(config).values()) == [str(tmp_path)]


# ------------------------------------------------------------------------------------------ batching
def test_a_burst_is_one_plan_with_one_entry_per_file(tmp_path: Path) -> None:
    files = [f"{tmp_path}/src/f{i:03}.py" for i in range(200)]
    config = _config(tmp_path, [{"action": "sync", "path": str(tmp_path / "src"), "target": "/srv"}])
    todo = plan([*files, *files[:50]], load_rules(config))  # repeated events of the same file count once
    assert list(todo.syncs) == ["app"]
    assert len(todo.syncs["app"]) == 200
    assert not todo.rebuild and not todo.restart


def test_plan_actions_and_ignored_paths(tmp_path: Path) -> None:
    config = {
        "name": "p",
        "services": {
            "app": {
                "build": {"context": str(tmp_path)},
                "develop": {
                    "watch": [
                        {"action": "sync+restart", "path": f"{tmp_path}/conf", "target": "/conf"},
                        {"action": "rebuild", "path": f"{tmp_path}/requirements.txt"},
                        {
                            "action": "sync+exec",
                            "path": f"{tmp_path}/src",
                            "target": "/src",
                            "exec": {"command": ["kill", "-HUP", "1"]},
                        },
                    ]
                },
            },
            "worker": {
                "build": {"context": str(tmp_path)},
                "develop": {"watch": [{"action": "restart", "path": f"{tmp_path}/conf"}]},
            },
        },
    }
    rules = load_rules(config)
    todo = plan(
        [
            f"{tmp_path}/conf/a.ini",
            f"{tmp_path}/requirements.txt",
            f"{tmp_path}/src/a.py",
            f"{tmp_path}/src/b.py",
            "/elsewhere",
        ],
        rules,
    )
    assert todo.rebuild == ["app"]
    assert todo.restart == ["app", "worker"]
    assert sorted(m.container for m in todo.syncs["app"]) == ["/conf/a.ini", "/src/a.py", "/src/b.py"]
    assert len(todo.execs["app"]) == 1  # once per batch, not once per file
    assert todo.ignored == 1
    assert not plan(["/elsewhere"], rules)
