"""The Textual TUI (``devenv`` with no arguments). Importing this package does not import Textual."""
