"""Confirmation for destructive operations on protected profiles, shared by every front end."""

from __future__ import annotations

from collections.abc import Callable

from devenv.errors import ConfirmationRequired


def confirm_destructive(
    profile_name: str,
    protected: bool,
    action: str,
    *,
    yes: bool = False,
    confirm_profile: str | None = None,
    ask: Callable[[str], str] | None = None,
) -> None:
    """Return if ``action`` may run on ``profile_name``; raise ConfirmationRequired (exit 2) otherwise.

    Unprotected profiles need nothing. Protected ones need, in a script, ``--yes`` together with
    ``--confirm-profile <name>``; interactively (``ask`` given, i.e. a TTY), typing the profile name.
    """
    if not protected:
        return
    if yes and confirm_profile is not None:
        if confirm_profile == profile_name:
            return
        raise ConfirmationRequired(
            f'Refusing to {action}: --confirm-profile "{confirm_profile}" does not match the '
            f'protected profile "{profile_name}". Nothing was changed.'
        )
    if ask is not None and not yes:
        answer = ask(f'Profile "{profile_name}" is protected. Type its name to {action}: ').strip()
        if answer == profile_name:
            return
        raise ConfirmationRequired(f"Refusing to {action}: confirmation did not match. Nothing was changed.")
    raise ConfirmationRequired(
        f'Refusing to {action} on the protected profile "{profile_name}" without confirmation. Nothing was changed.',
        hint=f"In a script, pass: --yes --confirm-profile {profile_name}",
    )
