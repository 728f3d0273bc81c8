"""Dash callbacks, one module per page. Importing this package registers them (once per process)."""
from callbacks import admin, analytics, execution, executions, job, jobs, overview, profile, settings, shell  # noqa: F401
from callbacks import batches  # noqa: F401,E402  (batches page)
from callbacks import job_new  # noqa: F401,E402  (new server-side job form)
from callbacks import insights  # noqa: F401,E402  (insights page)
from callbacks import explorer  # noqa: F401,E402  (explorer page for data teams)
