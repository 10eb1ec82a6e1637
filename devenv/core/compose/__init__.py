"""Compose: the model of a project's compose files (``model``) and the one Compose runner (``runner``)."""

from devenv.core.compose.model import ComposeModel, Dependency, ServiceSpec, check_services, declared_services
from devenv.core.compose.runner import ComposeProcess, ComposeTarget, compose_error, pull_failures

__all__ = [
    "ComposeModel",
    "ComposeProcess",
    "ComposeTarget",
    "Dependency",
    "ServiceSpec",
    "check_services",
    "compose_error",
    "declared_services",
    "pull_failures",
]
