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
    chr:ingest:queue                   STREAM acknowledged execution batches waiting to be recorded (queued mode)
    chr:ingest:dead                    STREAM queued batches that failed to record too often (capped, for an admin)
    chr:rl:<keyId>:<window>            STRING rate-limit counter
    chr:meta:schema                    HASH   schema version, created-at
    chr:meta:demo                      STRING set once the demo history has been seeded
    chr:ping:<uuid>                    STRING "<owner> <jobId>": a job's Healthchecks-style ping URL
    chr:pingkey:<key>                  STRING owner of a ping key (slug URLs /ping/<key>/<slug>)
    chr:user:<userId>:pingkey          STRING that user's ping key
    chr:pingrun:<owner>:<jobId>        STRING execId of the job's latest /start without ?rid
    chr:fire:<owner>:<jobId>:<dueMs>   STRING fire claim (scheduler; short TTL, the job's cursor CAS is the guard)
    chr:fires:<owner>:<jobId>          LIST   the job's latest fires (dispatched, missed, coalesced), capped
    chr:flips:<owner>:<jobId>          LIST   the job's monitoring state changes, newest first, capped
    chr:jobver:<owner>:<jobId>         LIST   a server-side job's definition versions, newest first, capped
    chr:deps:<owner>:<jobId>           SET    ids of the jobs that depend on this one
    chr:alertch:<owner>                HASH   alert channels of an owner: channelId -> JSON
    chr:alertrules:<owner>             HASH   per-job alert rules: jobId -> JSON list
    chr:alerts:<owner>                 LIST   alert history of an owner, newest first, capped
    chr:sched:nodes                    HASH   scheduler processes: nodeId -> JSON (birth, last beat)
    chr:sched:node:<nodeId>            STRING a scheduler's heartbeat (TTL)
    chr:sched:deadlines                ZSET   "<owner> <jobId>" scored by the job's next late/missed check
    chr:sched:expect                   HASH   "<owner> <jobId>" -> due ms of the run the job is expected to report
    chr:sched:retries                  ZSET   pending server-side retries (JSON) scored by due time
    chr:sched:running:<owner>:<jobId>  STRING a server-side job's no-overlap lease (token, TTL)
    chr:sched:ingest:<minute>          STRING executions seen in that minute (outage guard)
    chr:sched:misses:<minute>          STRING missed deadlines in that minute (outage guard)
    chr:badge:<token>                  STRING JSON {owner, kind, target}: what a public badge URL shows
    chr:badgetok:<owner>:<kind>:<target>  STRING the badge token of an owner's job or tag (kind job|tag)
    chr:errnew:<owner>:<fingerprint>   STRING set once an error group's "new error" alert went out (TTL)
    chr:explain:<owner>:<execId>       STRING JSON cached LLM explanation of an execution (TTL)
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


def ingest_queue() -> str:
    return f"{PREFIX}ingest:queue"


def ingest_dead() -> str:
    return f"{PREFIX}ingest:dead"


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


# ---- scheduler, monitoring, alerts, server-side jobs (chronos.scheduling) ----------------------

INGEST_GROUP = "recorders"  # consumer group of the web workers' recorders on the ingest queue
SCHED_GROUP = "chr-scheduler"  # consumer group of the schedulers on every owner's event stream


def fire_claim(owner: str, job_id: str, due_ms: int | str) -> str:
    return f"{PREFIX}fire:{owner}:{job_id}:{due_ms}"


def fires(owner: str, job_id: str) -> str:
    return f"{PREFIX}fires:{owner}:{job_id}"


def flips(owner: str, job_id: str) -> str:
    return f"{PREFIX}flips:{owner}:{job_id}"


def job_versions(owner: str, job_id: str) -> str:
    return f"{PREFIX}jobver:{owner}:{job_id}"


def job_dependents(owner: str, job_id: str) -> str:
    return f"{PREFIX}deps:{owner}:{job_id}"


def alert_channels(owner: str) -> str:
    return f"{PREFIX}alertch:{owner}"


def alert_rules(owner: str) -> str:
    return f"{PREFIX}alertrules:{owner}"


def alert_history(owner: str) -> str:
    return f"{PREFIX}alerts:{owner}"


def sched_nodes() -> str:
    return f"{PREFIX}sched:nodes"


def sched_node(node_id: str) -> str:
    return f"{PREFIX}sched:node:{node_id}"


def sched_deadlines() -> str:
    return f"{PREFIX}sched:deadlines"


def sched_expect() -> str:
    return f"{PREFIX}sched:expect"


def sched_retries() -> str:
    return f"{PREFIX}sched:retries"


def sched_pending() -> str:
    """Triggers claimed ahead of their due time, scored by it, until they are released."""
    return f"{PREFIX}sched:pending"


def sched_running(owner: str, job_id: str) -> str:
    return f"{PREFIX}sched:running:{owner}:{job_id}"


def sched_ingest_count(minute: int) -> str:
    return f"{PREFIX}sched:ingest:{minute}"


def sched_miss_count(minute: int) -> str:
    return f"{PREFIX}sched:misses:{minute}"


BATCH_GROUP = "runners"


def batch(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}"


def batch_records(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:records"


def batch_results(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:results"


def batch_failed(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:failed"


def batch_hist(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:hist"


def batch_rejected(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:rejected"


def batch_ids(batch_id: str, bucket: int) -> str:
    return f"{PREFIX}batch:{batch_id}:ids:{bucket}"


def batch_tick(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:tick"


def batch_rate(batch_id: str, window: int) -> str:
    return f"{PREFIX}batch:{batch_id}:rate:{window}"


def batch_lock(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}:lock"


def owner_batches(owner: str) -> str:
    return f"{PREFIX}batches:{owner}"


def active_batches() -> str:
    return f"{PREFIX}batches:active"


def batch_by_primarykey(owner: str, primarykey: str) -> str:
    return f"{PREFIX}batchpk:{owner}:{primarykey}"


def batch_runner(name: str) -> str:
    return f"{PREFIX}batchrunner:{name}"


def batch_runners() -> str:
    return f"{PREFIX}batchrunners"


# ---- insights: public badges, LLM explanations (chronos.insights) -----------------------------


def badge(token: str) -> str:
    return f"{PREFIX}badge:{token}"


def badge_token(owner: str, kind: str, target: str) -> str:
    return f"{PREFIX}badgetok:{owner}:{kind}:{target}"


def llm_explanation(owner: str, exec_id: str) -> str:
    return f"{PREFIX}explain:{owner}:{exec_id}"


def error_group_announced(owner: str, fingerprint: str) -> str:
    return f"{PREFIX}errnew:{owner}:{fingerprint}"
