"""Web UI for department staff and hotline agents (served by the services app)."""
