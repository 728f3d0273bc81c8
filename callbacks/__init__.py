"""Dash callbacks, one module per page. Importing this package registers them (once per process)."""
from callbacks import overview, shell  # noqa: F401
