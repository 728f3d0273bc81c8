"""Index creation. Idempotent and additive: an existing index is kept (never dropped), so a restart
loses nothing and does not re-index. A changed definition gets a new index name (a version suffix)."""
from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import ResponseError

from chronos import keys

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

_JOBS = [
    "$.owner", "AS", "owner", "TAG",
    "$.id", "AS", "id", "TAG", "CASESENSITIVE",
    "$.name", "AS", "name", "TEXT", "WEIGHT", "2", "SORTABLE",
    "$.appId", "AS", "appId", "TAG", "CASESENSITIVE",
    "$.tags[*]", "AS", "tags", "TAG",
    "$.lastStatus", "AS", "lastStatus", "TAG",
    "$.state", "AS", "state", "TAG",
    "$.registered", "AS", "registered", "TAG",
    "$.runMode", "AS", "runMode", "TAG",
    "$.lastRunAt", "AS", "lastRunAt", "NUMERIC", "SORTABLE",
    "$.nextRunAt", "AS", "nextRunAt", "NUMERIC", "SORTABLE",
    "$.createdAt", "AS", "createdAt", "NUMERIC", "SORTABLE",
    "$.consecutiveFailures", "AS", "consecutiveFailures", "NUMERIC", "SORTABLE",
]

_EXECUTIONS = [
    "$.owner", "AS", "owner", "TAG",
    "$.execId", "AS", "execId", "TAG", "CASESENSITIVE",
    "$.jobId", "AS", "jobId", "TAG", "CASESENSITIVE",
    "$.jobName", "AS", "jobName", "TEXT", "WEIGHT", "2",
    "$.status", "AS", "status", "TAG",
    "$.errorType", "AS", "errorType", "TEXT",
    "$.errorMessage", "AS", "errorMessage", "TEXT",
    "$.appId", "AS", "appId", "TAG", "CASESENSITIVE",
    "$.host", "AS", "host", "TAG", "CASESENSITIVE",
    "$.labelTags[*]", "AS", "labels", "TAG", "CASESENSITIVE",
    "$.triggerId", "AS", "triggerId", "TAG", "CASESENSITIVE",
    "$.startedAt", "AS", "startedAt", "NUMERIC", "SORTABLE",
    "$.finishedAt", "AS", "finishedAt", "NUMERIC", "SORTABLE",
    "$.durationMs", "AS", "durationMs", "NUMERIC", "SORTABLE",
]


def _create(r: Redis, name: str, prefix: str, schema: list[str]) -> bool:
    try:
        r.execute_command("FT.INFO", name)
        return False
    except ResponseError:
        pass
    try:
        r.execute_command(
            "FT.CREATE", name, "ON", "JSON", "PREFIX", "1", prefix,
            "MAXTEXTFIELDS", "SCHEMA", *schema,
        )
    except ResponseError as exc:
        # Another process created it between our FT.INFO and FT.CREATE.
        if "already exists" not in str(exc).lower():
            raise
        return False
    log.info("created index %s", name)
    return True


def ensure_schema(r: Redis) -> dict[str, bool]:
    """Create the search indexes that are missing. Returns which ones were created now."""
    created = {
        keys.IDX_JOBS: _create(r, keys.IDX_JOBS, keys.JOB_PREFIX, _JOBS),
        keys.IDX_EXECUTIONS: _create(r, keys.IDX_EXECUTIONS, keys.EXEC_PREFIX, _EXECUTIONS),
    }
    r.hsetnx(keys.schema_meta(), "version", SCHEMA_VERSION)
    return created
