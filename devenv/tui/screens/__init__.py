"""Modal and full screens of the TUI (confirmation, help, profiles, prompts)."""
