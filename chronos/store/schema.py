"""Index creation. Idempotent and additive: an existing index is kept (never dropped), so a restart
loses nothing and does not re-index. A field added to a definition here is added to the live index with
``FT.ALTER``; a field whose type changes needs a new index name (a version suffix)."""
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

# Executions are the bulk of the index (millions of documents), so it keeps only what queries use: no
# execId (a document is found by its key; an admin's lookup across owners reads one key per account), and
# NOOFFSETS (no phrase queries or highlighting: searches are words and prefixes). Each saves ~100 bytes per
# execution. An index created before keeps both; FT.DROPINDEX it and restart to rebuild it smaller.
_EXECUTION_OPTIONS = ("NOOFFSETS",)
_EXECUTIONS = [
    "$.owner", "AS", "owner", "TAG",
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
    "$.errorGroup", "AS", "errorGroup", "TAG", "CASESENSITIVE",
    "$.sortKey", "AS", "sortKey", "NUMERIC", "SORTABLE",
]


def _fields(schema: list[str]) -> list[list[str]]:
    """Split a flat SCHEMA argument list into one list per field (each starts with a ``$.`` path)."""
    out: list[list[str]] = []
    for token in schema:
        if token.startswith("$"):
            out.append([token])
        else:
            out[-1].append(token)
    return out


def _add_missing_fields(r: Redis, name: str, schema: list[str], info: list) -> list[str]:
    """FT.ALTER the index to add fields the code defines but the index lacks (existing data is re-indexed
    in the background by Redis; nothing is dropped). Returns the names added."""
    present = set()
    attrs = dict(zip(info[::2], info[1::2])).get(b"attributes", [])
    for attr in attrs:
        d = dict(zip(attr[::2], attr[1::2]))
        present.add((d.get(b"attribute") or b"").decode())
    added = []
    for field in _fields(schema):
        alias = field[field.index("AS") + 1]
        if alias not in present:
            try:
                r.execute_command("FT.ALTER", name, "SCHEMA", "ADD", *field)
            except ResponseError as exc:
                if "duplicate" not in str(exc).lower():  # another process added it first
                    raise
            added.append(alias)
    if added:
        log.info("added fields %s to index %s", added, name)
    return added


def _create(r: Redis, name: str, prefix: str, schema: list[str], options: tuple[str, ...] = ()) -> bool:
    try:
        info = r.execute_command("FT.INFO", name)
    except ResponseError:
        info = None
    if info is not None:
        _add_missing_fields(r, name, schema, info)
        return False
    try:
        r.execute_command(
            "FT.CREATE", name, "ON", "JSON", "PREFIX", "1", prefix,
            "MAXTEXTFIELDS", *options, "SCHEMA", *schema,
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
        keys.IDX_EXECUTIONS: _create(r, keys.IDX_EXECUTIONS, keys.EXEC_PREFIX, _EXECUTIONS, _EXECUTION_OPTIONS),
    }
    r.hsetnx(keys.schema_meta(), "version", SCHEMA_VERSION)
    return created
