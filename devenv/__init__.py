"""devenv: one command and one terminal UI for a Docker Compose dev environment."""

__version__ = "0.1.0"
