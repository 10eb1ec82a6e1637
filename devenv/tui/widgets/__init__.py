"""The TUI's panels: one module per panel."""
