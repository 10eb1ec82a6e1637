"""The TUI's widgets, one module per panel (Textual is imported by the modules, not here)."""
