"""The Details view: containers, image, command, healthcheck, restart policy, mounts, networks,
environment (secrets masked with the CLI's rule) and the failure diagnostics of the last action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from devenv.core.models import Failure

__all__ = ["DetailsPanel", "describe"]


def _failure(text: Text, f: Failure) -> None:
    """The failure as :meth:`Failure.report` words it (the CLI prints the same lines)."""
    for kind, lead, line in f.report():
        if kind == "title":
            text.append(lead + line + "\n", style="bold red")
        elif kind == "log":
            text.append(lead, style="dim")
            text.append(line + "\n", style="dim")
        else:
            text.append(lead + line + "\n")
    text.append("\n")


def describe(service: str, docs: Sequence[Mapping[str, Any]], failure: Failure | None = None) -> Text:
    """Everything Details shows about ``service`` (inspect documents of its containers), masked."""
    from devenv.core.engine.containers import container_masker
    from devenv.core.secrets import mask_command, mask_env

    text = Text()
    text.append(f"{service}\n", style="bold underline")
    if failure is not None:
        _failure(text, failure)
    if not docs:
        text.append("no container (run `u` up to create it)\n", style="dim")
        return text
    for doc in docs:
        mask = container_masker(doc)
        config = doc.get("Config") or {}
        state = doc.get("State") or {}
        host = doc.get("HostConfig") or {}
        name = str(doc.get("Name") or "?").lstrip("/")
        text.append(f"\ncontainer {name}", style="bold")
        text.append(f"  {str(doc.get('Id') or '')[:12]}\n", style="dim")
        status = str(state.get("Status") or "?")
        if status == "exited":
            status += f" (exit code {state.get('ExitCode')})"
        if state.get("OOMKilled"):
            status += ", OOM-killed"
        text.append(f"  state:    {status}, restarts {doc.get('RestartCount', 0)}\n")
        if state.get("StartedAt"):
            text.append(f"  started:  {state.get('StartedAt')}\n")
        text.append(f"  image:    {config.get('Image') or doc.get('Image')}\n")
        command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        text.append(f"  command:  {mask(' '.join(mask_command(command) or []))}\n")
        policy = host.get("RestartPolicy") or {}
        retries = f":{policy.get('MaximumRetryCount')}" if policy.get("MaximumRetryCount") else ""
        text.append(f"  restart:  {policy.get('Name') or 'no'}{retries}\n")
        health = state.get("Health") or {}
        if health:
            text.append(f"  health:   {health.get('Status')} (failing streak {health.get('FailingStreak', 0)})\n")
            runs = health.get("Log") or []
            if runs:
                last = runs[-1]
                text.append(f"  last healthcheck: exit code {last.get('ExitCode')}\n")
                for line in str(last.get("Output") or "").strip().splitlines()[-8:]:
                    text.append(f"    {mask(line)}\n", style="dim")
        mounts = doc.get("Mounts") or []
        if mounts:
            text.append("  mounts:\n")
            for m in mounts:
                source = m.get("Name") or m.get("Source")
                mode = "ro" if not m.get("RW", True) else "rw"
                text.append(f"    {m.get('Type')}: {source} -> {m.get('Destination')} ({mode})\n")
        networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
        if networks:
            text.append("  networks: ")
            text.append(", ".join(f"{n} ({(v or {}).get('IPAddress') or '-'})" for n, v in networks.items()) + "\n")
        env = config.get("Env") or []
        if env:
            text.append("  environment (secrets masked):\n")
            for item in mask_env(list(env)):
                text.append(f"    {mask(str(item))}\n")
    return text


class DetailsPanel(VerticalScroll):
    """Shows :func:`describe` of the selected service (the app loads the inspect in a worker)."""

    DEFAULT_CSS = """
    DetailsPanel > Static {
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("select a service", id="details-body")

    def show(self, content: Text | str) -> None:
        self.query_one("#details-body", Static).update(content)
