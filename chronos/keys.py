"""Every Redis key name and index name the product uses. Nothing else builds key strings.

Layout (prefix ``chr:``, colon-separated, ``idx:`` for indexes):

    chr:job:<owner>:<jobId>            JSON   job document
    chr:exec:<owner>:<execId>          JSON   execution document (expires after the retention)
    chr:user:<userId>                  JSON   user document
    chr:user:email:<email>             STRING userId, unique email lookup
    chr:user:<userId>:keys             SET    api-key ids of a user
    chr:users                          SET    all user ids
    chr:apikey:<sha256>                JSON   api key, looked up by the hash of the secret
    chr:apikey:id:<keyId>              STRING sha256 of that key (for revoke by id)
    chr:ts:<owner>:<scope>:<metric>:<tier>  TS  metric series (scope = a job id or "_all")
    chr:events:<owner>                 STREAM live events of an owner (bounded), resume buffer for SSE
    chr:events:<owner>                 PUBSUB channel of the same name: wake-up for live listeners
    chr:rl:<keyId>:<window>            STRING rate-limit counter
    chr:meta:schema                    HASH   schema version, created-at
    chr:meta:demo                      STRING set once the demo history has been seeded
    chr:ping:<uuid>                    STRING "<owner> <jobId>": a job's Healthchecks-style ping URL
    chr:pingkey:<key>                  STRING owner of a ping key (slug URLs /ping/<key>/<slug>)
    chr:user:<userId>:pingkey          STRING that user's ping key
    chr:pingrun:<owner>:<jobId>        STRING execId of the job's latest /start without ?rid
"""
from __future__ import annotations

PREFIX = "chr:"

IDX_JOBS = "idx:chr:jobs"
IDX_EXECUTIONS = "idx:chr:executions"

JOB_PREFIX = f"{PREFIX}job:"
EXEC_PREFIX = f"{PREFIX}exec:"
EVENTS_PREFIX = f"{PREFIX}events:"

ALL_JOBS_SCOPE = "_all"
METRICS = ("runs", "successes", "failures", "dur_sum", "dur_max")
TIERS = ("1m", "1h", "1d")
TIER_MS = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}


def job(owner: str, job_id: str) -> str:
    return f"{JOB_PREFIX}{owner}:{job_id}"


def execution(owner: str, exec_id: str) -> str:
    return f"{EXEC_PREFIX}{owner}:{exec_id}"


def user(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}"


def user_by_email(email: str) -> str:
    return f"{PREFIX}user:email:{email.strip().lower()}"


def user_keys(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}:keys"


def users() -> str:
    return f"{PREFIX}users"


def apikey(secret_hash: str) -> str:
    return f"{PREFIX}apikey:{secret_hash}"


def apikey_by_id(key_id: str) -> str:
    return f"{PREFIX}apikey:id:{key_id}"


def series(owner: str, scope: str, metric: str, tier: str) -> str:
    return f"{PREFIX}ts:{owner}:{scope}:{metric}:{tier}"


def events(owner: str) -> str:
    return f"{EVENTS_PREFIX}{owner}"


def rate_limit(key_id: str, window: int) -> str:
    return f"{PREFIX}rl:{key_id}:{window}"


def schema_meta() -> str:
    return f"{PREFIX}meta:schema"


def demo_seeded() -> str:
    return f"{PREFIX}meta:demo"


def ping(uuid: str) -> str:
    return f"{PREFIX}ping:{uuid}"


def ping_key(key: str) -> str:
    return f"{PREFIX}pingkey:{key}"


def user_ping_key(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}:pingkey"


def ping_open_run(owner: str, job_id: str) -> str:
    return f"{PREFIX}pingrun:{owner}:{job_id}"
