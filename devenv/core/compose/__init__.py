"""Compose: the model of a project's compose files (``model``), their fast direct read (``files``) and the one
Compose runner (``runner``)."""

from devenv.core.compose.files import active_profiles, declared_services
from devenv.core.compose.model import ComposeModel, Dependency, Hook, ServiceSpec, check_services
from devenv.core.compose.runner import ComposeProcess, ComposeTarget, compose_error, pull_failures

__all__ = [
    "ComposeModel",
    "ComposeProcess",
    "ComposeTarget",
    "Dependency",
    "Hook",
    "ServiceSpec",
    "active_profiles",
    "check_services",
    "compose_error",
    "declared_services",
    "pull_failures",
]
