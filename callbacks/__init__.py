"""Dash callbacks, one module per page. Importing this package registers them (once per process)."""
from callbacks import admin, analytics, execution, executions, job, jobs, overview, profile, settings, shell  # noqa: F401
