"""Which secrets and configs Compose copies into a container, where, and with which mode and owner."""

from __future__ import annotations

import io
import tarfile

import pytest

from devenv.core.compose.injected import InjectedFile, archive, injected_files, resolve
from devenv.errors import DevenvError

CONFIG = {
    "secrets": {
        "s_env": {"environment": "PW", "name": "p_s_env"},
        "s_file": {"file": "/x/s.txt", "name": "p_s_file"},
        "s_ext": {"external": True, "name": "ext"},
    },
    "configs": {
        "c_content": {"content": "a\nb\n", "name": "p_c_content"},
        "c_env": {"environment": "CONF", "name": "p_c_env"},
    },
}


def test_only_content_and_environment_sources_with_composes_defaults() -> None:
    service = {
        "secrets": [
            {"source": "s_env", "target": "/run/secrets/x", "uid": "103", "gid": "104", "mode": "0440"},
            {"source": "s_env", "target": "rel"},
            {"source": "s_file"},
            "s_ext",
        ],
        "configs": [{"source": "c_content", "target": "/etc/c.txt", "mode": 420}, {"source": "c_env"}],
    }
    files = injected_files(CONFIG, service)
    assert [(f.kind, f.target, oct(f.mode), f.uid, f.gid, f.owner_given) for f in files] == [
        ("secret", "/run/secrets/x", "0o440", 103, 104, True),
        ("secret", "/run/secrets/rel", "0o444", 0, 0, False),
        ("config", "/etc/c.txt", "0o644", 0, 0, False),
        ("config", "/c_env", "0o444", 0, 0, False),
    ]
    assert files[2].content == "a\nb\n" and files[3].environment == "CONF"


def test_archive_and_an_unset_variable() -> None:
    f = InjectedFile("config", "c_env", "/c_env", 0o400, 5, 6, environment="CONF", name="p_c_env")
    with pytest.raises(DevenvError, match='environment variable "CONF" required by config "p_c_env" is not set'):
        resolve((f,), lambda _name: None)
    data = archive(resolve((f,), {"CONF": "v"}.get))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mode, member.uid, member.gid, member.size) == ("c_env", 0o400, 5, 6, 1)
