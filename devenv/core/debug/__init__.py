"""Debugger attach: enable debugpy on a service, and a DAP client."""
