"""The demo company's jobs and the runs they produce: deterministic from a seed, no I/O.

``chronos.demo`` sends what this module builds through the HTTP API.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from croniter import croniter

from chronos.demo_catalog import APPS, DemoJob

DAY_MS = 86_400_000
MINUTE_MS = 60_000


# ---- errors --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Error:
    type: str
    message: str
    frames: tuple[tuple[str, int, str, str], ...]  # (file, line, function, code)
    exit_code: int
    snippet: str


def _err_connection(rng: random.Random, job: DemoJob) -> _Error:
    host = job.remote
    if rng.random() < 0.5:
        msg = (f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: /v2/batch "
               f"(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f{rng.randrange(16**8):08x}>: "
               "Failed to establish a new connection: [Errno 111] Connection refused'))")
        lib = ("/usr/lib/python3.11/site-packages/requests/adapters.py", 519, "send",
               "raise ConnectionError(e, request=request)")
        etype = "requests.exceptions.ConnectionError"
    else:
        msg = f"Error connecting to {host}:{rng.choice((5432, 6379, 9200, 22, 8123))}. Connection reset by peer."
        lib = ("/usr/lib/python3.11/socket.py", 836, "create_connection", "sock.connect(sa)")
        etype = "ConnectionError"
    return _Error(etype, msg, (("client.py", 57, "fetch", "resp = session.post(f'https://{HOST}/v2/batch', json=payload, timeout=30)"), lib),
                  1, f"HOST = '{host}'\n\ndef fetch(session, payload):\n    resp = session.post(f'https://{{HOST}}/v2/batch', json=payload, timeout=30)\n    resp.raise_for_status()\n    return resp.json()")


def _err_timeout(rng: random.Random, job: DemoJob) -> _Error:
    secs = rng.choice((10, 30, 60))
    return _Error("TimeoutError", f"timed out after {secs}s waiting for {job.remote}",
                  (("client.py", 88, "wait_ready", "raise TimeoutError(f'timed out after {timeout}s waiting for {host}')"),),
                  1, "def wait_ready(host, timeout=30):\n    deadline = time.monotonic() + timeout\n    while not ping(host):\n        if time.monotonic() > deadline:\n            raise TimeoutError(f'timed out after {timeout}s waiting for {host}')\n        time.sleep(1)")


def _err_key(rng: random.Random, job: DemoJob) -> _Error:
    return _Error("KeyError", f"'{job.key}'",
                  (("transform.py", 112, "normalize", f"out['{job.key}'] = record['{job.key}'].strip()"),),
                  1, f"def normalize(record):\n    out = {{'source': record['source']}}\n    out['{job.key}'] = record['{job.key}'].strip()\n    out['updated_at'] = parse_ts(record['updated_at'])\n    return out")


def _err_value(rng: random.Random, job: DemoJob) -> _Error:
    row = rng.randrange(1_000, 250_000)
    bad = rng.choice(("'N/A'", "''", "'12,50'", "'—'"))
    return _Error("ValueError", f"invalid literal for int() with base 10: {bad} (row {row})",
                  (("parse.py", 64, "parse_rows", "qty = int(row['quantity'])"),),
                  1, "def parse_rows(reader):\n    for n, row in enumerate(reader, start=2):\n        try:\n            qty = int(row['quantity'])\n        except ValueError as exc:\n            raise ValueError(f'{exc} (row {n})') from None")


def _err_permission(rng: random.Random, job: DemoJob) -> _Error:
    path = f"{job.path.rstrip('/')}/{job.id}-{rng.randrange(16**6):06x}.tmp"
    return _Error("PermissionError", f"[Errno 13] Permission denied: '{path}'",
                  (("io.py", 31, "write_atomic", "with open(tmp, 'wb') as fh:"),),
                  2, "def write_atomic(path, data):\n    tmp = f'{path}.tmp'\n    with open(tmp, 'wb') as fh:\n        fh.write(data)\n    os.replace(tmp, path)")


ERRORS: dict[str, Callable[[random.Random, DemoJob], _Error]] = {
    "ConnectionError": _err_connection, "TimeoutError": _err_timeout, "KeyError": _err_key,
    "ValueError": _err_value, "PermissionError": _err_permission,
}


def _stack(job: DemoJob, err: _Error) -> str:
    root = APPS[job.app]["root"]
    module = job.id.replace("-", "_")
    lines = ["Traceback (most recent call last):",
             f'  File "{root}/jobs/runner.py", line 41, in main',
             "    result = job.run(ctx)",
             f'  File "{root}/jobs/{module}.py", line {60 + len(job.id)}, in run',
             "    for batch in self.batches(ctx):"]
    for file, line, func, code in err.frames:
        path = file if file.startswith("/") else f"{root}/lib/{file}"
        lines += [f'  File "{path}", line {line}, in {func}', f"    {code}"]
    lines.append(f"{err.type}: {err.message}")
    return "\n".join(lines)


# ---- run content ---------------------------------------------------------------------------------

def _content(job: DemoJob, rng: random.Random, ok: bool, dur_ms: int, at_ms: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """stdout lines, stderr lines and metadata of one run."""
    secs = dur_ms / 1000
    k = job.kind
    day = datetime.fromtimestamp(at_ms / 1000, timezone.utc).strftime("%Y-%m-%d")
    if k == "cache":
        n = rng.randrange(4_200, 5_000)
        out = [f"warming {n} keys (top products, category pages)", f"hit ratio before: {rng.uniform(0.55, 0.8):.2f}",
               f"warmed {n} keys in {secs:.1f}s"]
        meta = {"keysWarmed": n, "cacheNode": job.remote}
    elif k == "probe":
        ms = rng.randrange(80, 900)
        out = [f"GET https://{job.remote}/health -> 200 in {ms} ms", "POST /checkout/sandbox -> 201",
               "assertions: 7/7 passed"]
        meta = {"latencyMs": ms, "checks": 7}
    elif k == "etl":
        rows = int(rng.uniform(8_000, 60_000) * (1 + 0.5 * math.sin(at_ms / DAY_MS * 2 * math.pi)))
        dropped = rng.randrange(0, 40)
        table = job.id.split("-", 1)[-1]
        out = [f"extract: {rows} rows from shop.{table} changed since last watermark",
               f"transform: {rows - dropped} rows ({dropped} dropped: schema mismatch)",
               f"load: upserted into analytics.{table} in {secs * 0.4:.1f}s", f"watermark -> {day}T..Z"]
        meta = {"rowsProcessed": rows, "rowsDropped": dropped, "table": f"analytics.{table}"}
    elif k == "payments":
        n = rng.randrange(1_800, 4_500)
        u = rng.randrange(0, 6)
        out = [f"fetching settlement files from {job.remote}", f"parsed {n} settlement lines",
               f"matched {n - u}/{n} transactions", f"unmatched: {u} (queued for review)"]
        meta = {"settlements": n, "unmatched": u, "currency": "EUR"}
    elif k == "sync":
        n = rng.randrange(50, 4_000)
        mb = round(n * rng.uniform(0.2, 1.8), 1)
        out = [f"sync start -> {job.remote}", f"copied {n} objects ({mb} MB), skipped {rng.randrange(100_000, 180_000)} unchanged",
               f"elapsed {secs:.1f}s"]
        meta = {"objectsCopied": n, "megabytes": mb}
    elif k == "search":
        docs = rng.randrange(300, 9_000)
        out = [f"reindexing products changed since last run: {docs} docs", f"bulk: {math.ceil(docs / 500)} requests, 0 rejected",
               "alias products -> products-v7 (no swap needed)"]
        meta = {"docsIndexed": docs, "deleted": rng.randrange(0, 60)}
    elif k == "backup":
        gb = round(rng.uniform(38, 44), 2)
        out = ["pg_dump: dumping database 'shop'", f"dump size: {gb} GB (gzip level 6)",
               f"upload s3://acme-backups/pg/shop-{day}.sql.gz: {int(gb * 32)} parts",
               "retention: pruned 1 backup older than 35 days"]
        meta = {"database": "shop", "sizeBytes": int(gb * 1024 ** 3), "parts": int(gb * 32)}
    elif k == "email":
        n = rng.randrange(40, 2_500)
        b = rng.randrange(0, max(1, n // 200))
        out = [f"rendering {n} messages", f"sent {n - b}/{n} via {job.remote}", f"bounced: {b}"]
        meta = {"emailsSent": n - b, "bounced": b}
    elif k in ("ml", "ml_batch"):
        rows = rng.randrange(2_000_000, 3_000_000) if k == "ml" else rng.randrange(800, 4_000)
        auc = round(rng.uniform(0.83, 0.88), 4)
        if k == "ml":
            out = [f"features: {rows} rows, 212 columns", "epoch 1/5 loss=0.4121", "epoch 5/5 loss=0.2217",
                   f"validation AUC={auc} (prod 0.8512)", "promoted" if auc > 0.8512 else "kept production model"]
        else:
            out = [f"scoring {rows} orders", f"held {rng.randrange(0, 9)} orders above 0.92"]
        meta = {"rows": rows, "auc": auc} if k == "ml" else {"ordersScored": rows}
    elif k == "sitemap":
        urls = rng.randrange(118_000, 124_000)
        out = [f"collected {urls} URLs", f"wrote {math.ceil(urls / 50_000)} sitemap parts + index", "pinged 2 search engines"]
        meta = {"urls": urls}
    elif k == "logs":
        files = rng.randrange(18, 30)
        out = [f"compressed {files} files ({rng.randrange(800, 2400)} MB -> {rng.randrange(90, 260)} MB)",
               f"deleted {rng.randrange(15, 30)} archives older than 14 days"]
        meta = {"files": files}
    elif k == "rollup":
        events = rng.randrange(150_000, 900_000)
        out = [f"rolled up {events} events into 15-minute buckets", "upserted 48 metric rows"]
        meta = {"eventsRead": events}
    elif k == "cleanup":
        n = rng.randrange(1_000, 40_000)
        out = [f"deleted {n} expired rows", f"vacuumed {rng.randrange(3, 20)} tables"]
        meta = {"rowsDeleted": n}
    elif k == "report":
        out = ["building weekly KPI report", "rendered 12 charts", "posted to #leadership (14 recipients)"]
        meta = {"charts": 12, "recipients": 14}
    elif k == "rates":
        out = [f"fetched {rng.randrange(30, 32)} reference rates from {job.remote}", "updated 4 display price lists"]
        meta = {"rates": 31}
    elif k == "thumbs":
        n = rng.randrange(20, 900)
        out = [f"found {n} new images", f"generated {n * 6} thumbnails (webp, avif)"]
        meta = {"images": n}
    else:
        out = ["started", "done"]
        meta = {}
    out = [f"[{job.id}] {line}" for line in out]
    err: list[str] = []
    if ok and rng.random() < 0.08:
        err.append(rng.choice((f"WARNING slow query ({rng.randrange(1200, 9000)} ms) on {job.remote}",
                               "DeprecationWarning: datetime.utcnow() is deprecated",
                               "WARNING retrying request after HTTP 503 (attempt 2/5)")))
    if not ok:
        out = out[: max(1, len(out) // 2)]
        meta = {k2: v for k2, v in list(meta.items())[:1]}
    return out, err, meta


def _version_at(releases: Sequence[tuple[str, int]], at_ms: int, now: int) -> str:
    current = releases[0][0]
    for version, days_ago in releases:
        if at_ms >= now - days_ago * DAY_MS:
            current = version
    return current


def _labels(job: DemoJob, attempt: int) -> list[str] | dict[str, str]:
    if isinstance(job.labels, dict):
        out = dict(job.labels)
        if attempt > 1:
            out["retry"] = str(attempt - 1)
        return out
    out_list = list(job.labels)
    if attempt > 1:
        out_list.append("retry")
    return out_list


def _event(job: DemoJob, rng: random.Random, *, exec_id: str, started: int, dur: int, status: str,
           attempt: int, now: int, error_kind: str | None = None, running: bool = False) -> dict[str, Any]:
    app = APPS[job.app]
    ev: dict[str, Any] = {
        "execId": exec_id, "jobId": job.id, "status": "running" if running else status, "startedAt": started,
        "attempt": attempt, "host": rng.choice(app["hosts"]), "labels": _labels(job, attempt),
        "jobVersion": _version_at(job.versions, started, now), "appVersion": _version_at(app["releases"], started, now),
        "appId": job.app, "pid": rng.randrange(2_000, 60_000),
    }
    if running:
        ev["stdout"] = f"[{job.id}] started on {ev['host']} (attempt {attempt})"
        return ev
    ev["finishedAt"] = started + dur
    ev["durationMs"] = dur
    ok = status == "success"
    out, err, meta = _content(job, rng, ok, dur, started)
    if status in ("failed", "timeout") or status == "cancelled":
        if status == "timeout":
            e = _Error("TimeoutError", f"exceeded maxRuntimeSeconds={job.max_runtime_seconds}: killed with SIGTERM",
                       (), 124, "")
            ev["exitCode"] = 124
            ev["errorType"], ev["errorMessage"] = e.type, e.message
            err.append(f"SIGTERM received after {dur // 1000}s, shutting down")
        elif status == "cancelled":
            ev["exitCode"] = 130
            ev["errorMessage"] = "cancelled by operator (ops@acme.example)"
            err.append("KeyboardInterrupt: cancelled")
        else:
            e = ERRORS[error_kind or job.errors[0]](rng, job)
            ev["exitCode"] = e.exit_code
            ev["errorType"], ev["errorMessage"] = e.type, e.message
            ev["errorStack"] = _stack(job, e)
            ev["codeSnippet"], ev["codeLanguage"] = e.snippet, "python"
            err += [f"ERROR {e.type}: {e.message}", "job failed, see errorStack"]
    else:
        ev["exitCode"] = 0
    ev["stdout"] = "\n".join(out)
    if err:
        ev["stderr"] = "\n".join(err)
    ev["metadata"] = meta
    ev["cpuTimeMs"] = int(dur * rng.uniform(0.2, 0.9))
    ev["peakMemoryKb"] = rng.randrange(60_000, 900_000)
    return ev


# ---- history -------------------------------------------------------------------------------------

def _fire_times(job: DemoJob, start_ms: int, end_ms: int) -> list[int]:
    """Scheduled times in (start_ms, end_ms], in the job's timezone (DST included)."""
    tz = ZoneInfo(job.timezone or "UTC")
    it = croniter(job.schedule, datetime.fromtimestamp(start_ms / 1000, tz))
    out = []
    while True:
        t = int(it.get_next(datetime).timestamp() * 1000)
        if t > end_ms:
            return out
        out.append(t)


def _history(job: DemoJob, fires: list[int], *, seed: int, now: int, window_start: int) -> list[dict[str, Any]]:
    events = []
    span = max(1, now - window_start)
    forced = set(fires[-job.failing_last:]) if job.failing_last else set()
    for ft in fires:
        rng = random.Random(f"{seed}:{job.id}:{ft}")
        started = ft + int(rng.uniform(50, 4_000))
        attempt = 1
        while True:
            if started > now:
                break
            dur = int(job.base_ms * math.exp(rng.gauss(0, job.spread)) * (1 + job.drift * (ft - window_start) / span))
            if rng.random() < job.outlier_rate:
                dur *= rng.randint(8, 12)
            status, kind = "success", None
            roll = rng.random()
            if ft in forced:
                status, kind = "failed", job.errors[0]
            elif job.max_runtime_seconds and roll < job.timeout_rate:
                status = "timeout"
            elif roll < job.timeout_rate + job.cancel_rate:
                status = "cancelled"
                dur = int(dur * rng.uniform(0.1, 0.8))
            elif roll < job.timeout_rate + job.cancel_rate + job.failure_rate * (1.5 if attempt > 1 else 1):
                status = "failed"
                r2 = rng.random()
                kind = job.errors[0] if r2 < 0.6 or len(job.errors) == 1 else job.errors[1 + int((r2 - 0.6) / 0.4 * (len(job.errors) - 1))]
                dur = int(dur * rng.uniform(0.05, 0.9))
            if status == "timeout":
                dur = job.max_runtime_seconds * 1000  # type: ignore[operator]
            elif job.max_runtime_seconds:
                dur = min(dur, int(job.max_runtime_seconds * 1000 * 0.95))
            dur = max(5, dur)
            exec_id = f"demo{seed}-{job.id}-{ft // 1000:x}-{attempt}"
            running = started + dur > now
            events.append(_event(job, rng, exec_id=exec_id, started=started, dur=dur, status=status,
                                 attempt=attempt, now=now, error_kind=kind, running=running))
            if running or status != "failed" or attempt > job.retries or ft in forced:
                break
            attempt += 1
            started = started + dur + 30_000 * attempt + int(rng.uniform(0, 5_000))
    return events


def _plan(jobs: list[DemoJob], *, days: int, now: int, cap: int) -> dict[str, list[int]]:
    window_start = now - days * DAY_MS
    fires = {j.id: _fire_times(j, window_start, now) for j in jobs}
    total = sum(len(f) for f in fires.values())
    # Over the cap (many jobs or days): keep only the newest runs of the busiest jobs.
    while total > cap:
        busiest = max(fires, key=lambda k: len(fires[k]))
        cut = min(total - cap, len(fires[busiest]) // 2)
        if cut <= 0:
            break
        fires[busiest] = fires[busiest][cut:]
        total -= cut
    return fires
