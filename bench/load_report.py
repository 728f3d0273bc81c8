"""The load's figures, its exact-count check, and the ``make bench`` / ``make soak`` table (bench/load.py).

Shared by bench/load.py and bench/scaleout.py.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import redis
import requests
from load_clients import API_KEY, job_definitions
from servers import BenchError, log

from chronos import keys

# ---- figures -------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values; 0 when empty."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summarize(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """The figures of a run (rates, latencies, errors, stream counts) from the client results."""
    ing = results["ingest"]
    acked = sum(c["acked"] for c in ing)
    lat = [x for c in ing for x in c["lat"]]
    errors: Counter = Counter()
    for c in ing:
        errors.update(c["errors"])
    per_second: Counter = Counter()
    for c in ing:
        per_second.update({int(k): v for k, v in c["per_second"].items()})
    seconds = args.seconds
    whole = int(seconds) // 10 * 10
    slices = [sum(per_second.get(s, 0) for s in range(a, a + 10)) / 10 for a in range(0, whole, 10)]
    if not slices:  # a run shorter than 10 s: the window itself
        slices = [sum(v for k, v in per_second.items() if k < seconds) / seconds]
    slow_by_s: Counter = Counter()
    for c in ing:
        for k, v in c.get("slow", {}).items():
            slow_by_s[int(k)] += v
    slow: Counter = Counter()
    for k, v in slow_by_s.items():
        slow[k // 10 * 10] += v
    # Queued ingestion answers 503 queue_full when the recorders are behind by CHRONOS_INGEST_QUEUE_LIMIT
    # batches: back-pressure (the client waits and sends the batch again), counted apart from errors.
    queue_full = errors.pop("503", 0) if not getattr(args, "direct", True) else 0
    fig: dict[str, Any] = {
        "queue_full_answers": queue_full,
        "slow_by_10s": dict(slow), "slow_by_s": dict(slow_by_s),
        "acknowledged": acked, "rate": acked / seconds, "slowest_10s_rate": min(slices) if slices else 0.0,
        "ingest_requests": len(lat), "ingest_p50_ms": pct(lat, .5), "ingest_p99_ms": pct(lat, .99),
        "ingest_max_ms": max(lat, default=0.0), "ingest_errors": sum(errors.values()), "ingest_error_kinds": dict(errors),
        "retries": sum(c["retries"] for c in ing), "duplicates_answered": sum(c["duplicates"] for c in ing),
        "unacked_batches": sum(len(c["unacked"]) for c in ing),
    }
    rd = results.get("readers")
    if rd:
        fig["reads"] = {name: {"n": len(v), "p50_ms": pct(v, .5), "p99_ms": pct(v, .99)} for name, v in
                        sorted(rd["lat"].items())}
        allr = [x for v in rd["lat"].values() for x in v]
        fig["read_p50_ms"], fig["read_p99_ms"] = pct(allr, .5), pct(allr, .99)
        fig["read_errors"] = sum(rd["errors"].values())
        fig["read_error_kinds"] = rd["errors"]
    st = results.get("streams")
    if st:
        fig["stream_clients"] = sorted(st["clients"], key=lambda c: c["client"])
    # The load generator runs on the same machine: the CPU its processes used (stream clients until drained).
    fig["client_cpu_s"] = {role: round(v, 1) for role, v in sorted(results.get("client_cpu", {}).items())}
    return fig


def report(args: argparse.Namespace, fig: dict[str, Any]) -> None:
    log("")
    log(f"ingest: {fig['acknowledged']:,} executions acknowledged in {args.seconds:.0f} s = {fig['rate']:,.0f}/s "
        f"(slowest 10 s: {fig['slowest_10s_rate']:,.0f}/s); {fig['ingest_requests']:,} requests of {args.batch}, "
        f"latency p50 {fig['ingest_p50_ms']:.0f} ms, p99 {fig['ingest_p99_ms']:.0f} ms, max {fig['ingest_max_ms']:.0f} ms")
    log(f"ingest errors: {fig['ingest_errors']} {fig['ingest_error_kinds'] or ''} (retried {fig['retries']}, "
        f"never acknowledged {fig['unacked_batches']} batches)" +
        (f"; {fig['queue_full_answers']:,} answered 503 queue_full (the recorders were "
         f"CHRONOS_INGEST_QUEUE_LIMIT batches behind) and sent again" if fig["queue_full_answers"] else ""))
    if "reads" in fig:
        log(f"reads: p50 {fig['read_p50_ms']:.0f} ms, p99 {fig['read_p99_ms']:.0f} ms, errors {fig['read_errors']} "
            f"{fig['read_error_kinds'] or ''}")
        for name, v in fig["reads"].items():
            log(f"  {name:<24}{v['n']:>7,} requests  p50 {v['p50_ms']:>7.0f} ms  p99 {v['p99_ms']:>7.0f} ms")
    for c in fig.get("stream_clients", []):
        share = c["received"] / fig["acknowledged"] * 100 if fig["acknowledged"] else 0.0
        log(f"stream client {c['client']}: {c['received']:,} execution events of {fig['acknowledged']:,} "
            f"({share:.1f} %), reconnects {c['reconnects']}, out of order {c['out_of_order']}, "
            f"errors {c['errors'] or 0}")


# ---- verification --------------------------------------------------------------------------------

def exists_count(r: redis.Redis, owner: str, run_id: str, batches: list[tuple[int, list[tuple[int, int]]]],
                 batch: int) -> int:
    """How many executions of never-acknowledged batches are stored anyway."""
    n = 0
    for client, spans in batches:
        pipe = r.pipeline(transaction=False)
        for first, size in spans:
            for seq in range(first, first + size):
                pipe.exists(keys.execution(owner, f"ld-{run_id}-{client:03d}-{seq:09d}"))
        n += sum(int(x) for x in pipe.execute())
    return n


def verify(r: redis.Redis, url: str, owner: str, acked: int, stored_unacked: int, t0_ms: int) -> tuple[dict, list]:
    """Counts from the index, the ``_all`` 1m runs series, the summary and the jobs; the problems found."""
    index = int(r.execute_command("FT.SEARCH", keys.IDX_EXECUTIONS, "*", "LIMIT", 0, 0, "DIALECT", 2)[0])
    rows = r.execute_command("TS.RANGE", keys.series(owner, keys.ALL_JOBS_SCOPE, "runs", "1m"), "-", "+")
    series = int(sum(float(v) for _, v in rows))
    now = int(time.time() * 1000)
    summary = requests.get(url + "/api/analytics/summary", params={"from": t0_ms - 3_600_000, "to": now + 60_000},
                           headers={"x-api-key": API_KEY}, timeout=120).json()
    pipe = r.pipeline(transaction=False)
    for d in job_definitions():
        pipe.execute_command("JSON.GET", keys.job(owner, d["id"]), "$.totalRuns")
    job_runs = sum(int(orjson.loads(x)[0]) for x in pipe.execute() if x)
    counts = {"acknowledged": acked, "stored_unacknowledged": stored_unacked, "index": index,
              "series_1m": series, "summary_runs": int(summary.get("runs", -1)), "jobs_total_runs": job_runs}
    expected = acked + stored_unacked
    problems = []
    if index < acked:
        problems.append(f"LOSS: the index holds {index} executions, {acked} were acknowledged")
    for name in ("index", "series_1m", "summary_runs", "jobs_total_runs"):
        if counts[name] != expected:
            kind = "DUPLICATE" if counts[name] > expected else "LOSS"
            problems.append(f"{kind}: {name} = {counts[name]}, expected {expected} "
                            f"({acked} acknowledged + {stored_unacked} stored from unacknowledged batches)")
    return counts, problems


def owner_of(r: redis.Redis) -> str:
    from chronos.store import users

    key = users.lookup_key(r, API_KEY)
    if key is None:
        raise BenchError("the bootstrap API key was not created by the server")
    return key.owner


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to one decimal (for the RESULT line)."""
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


# ---- make bench / make soak: the figures of every log, as a table in docs/reliability.md ------------

# Lines worth quoting from the other benchmarks' output (they print no RESULT line).
FIGURE_LINES = {
    "ingest": (r"^HTTP API", r"^ratio API/raw", r"^Redis memory per execution", r"^verified", r"VERIFICATION FAILED"),
    "scheduler": (r"^fires expected", r"^lag ms", r"^duplicates"),
    "batch": (r"records/s", r"^goal"),
    "sdk_overhead": (r"^goal", r"^HTTP|events/s \(runs"),
    "dashboard": (r"^loaded in", r"callbacks, \d+ within"),
}


def _mode(d: dict[str, Any]) -> str:
    return f" ({d['mode']} ingestion)" if d.get("mode") else ""


def _figures_of(name: str, lines: list[str]) -> list[tuple[str, str, bool | None]]:
    """(what, figure, ok) rows of one log: one per RESULT line, else the quoted lines."""
    import re

    rows: list[tuple[str, str, bool | None]] = []
    for line in lines:
        if not line.startswith("RESULT "):
            continue
        d = json.loads(line[7:])
        kind = d.get("bench") or d.get("test", name)
        if kind in ("load", "scaleout"):
            streams = d.get("stream_clients") or []
            got = min((c["received"] for c in streams), default=None)
            fig = (f"{d['rate']:,.0f} executions/s over {d['seconds']:.0f} s (slowest 10 s {d['slowest_10s_rate']:,.0f}/s); "
                   f"ingest p50 {d['ingest_p50_ms']:.0f} ms / p99 {d['ingest_p99_ms']:.0f} ms; reads p50 "
                   f"{d.get('read_p50_ms', 0):.0f} / p99 {d.get('read_p99_ms', 0):.0f} ms; errors "
                   f"{d['ingest_errors'] + d.get('read_errors', 0)}; stream clients got "
                   f"{'n/a' if got is None else f'{got:,}'} of {d['acknowledged']:,}; stored exactly once: "
                   f"{'yes' if d['verified'] else 'NO'}")
            if d.get("queued"):
                fig = "queued ingestion: " + fig.replace(" executions/s over", " executions/s acknowledged over", 1)
                if "queue_age_p99_ms" in d:
                    fig += (f"; queue: at most {d['queue_max_batches']} batches waiting, oldest waiting p50 "
                            f"{d['queue_age_p50_ms']:,} ms / p99 {d['queue_age_p99_ms']:,} ms")
                if d.get("queue_full_answers"):
                    fig += f"; {d['queue_full_answers']:,} batches answered 503 queue_full and sent again"
                if "recorded_rate" in d:
                    fig += f"; recorded {d['recorded_rate']:,}/s (queue empty {d['queue_drain_s']} s after the load)"
            if kind == "load":
                fig += (f"; {d['exec_per_server_cpu_s']:,} executions per server CPU-second; "
                        f"{d['redis_bytes_per_exec']:,} B/execution in Redis")
            else:
                fig += (f"; fires {d['fires']:,}/{d['fires_expected']:,}, duplicates {d['duplicates']}, gaps "
                        f"{d['gaps']}, lag p99 {d['lag_p99_ms']:,.0f} ms; batch {d['batch_delivered']:,} delivered")
            rows.append((f"bench/{kind}.py", fig, bool(d["verified"])))
        elif kind == "redis_sigkill":
            rows.append((f"Redis SIGKILL under load{_mode(d)}", (
                f"{d['kills']} kill(s), {d['down_s']:.0f} s down each, over {d['seconds']:.0f} s; "
                f"{d['raw_acknowledged']:,} acknowledged by plain clients ({d['raw_errors']} failed attempts retried), "
                f"lost {d['lost']}; SDK: {d['sdk_runs']:,} runs x 2 clients, spooled {d['sdk_spooled']} + "
                f"{d['eager_sdk_spooled']}, replayed {d['eager_sdk_replayed']}, all stored once"), None))
        elif kind == "gunicorn_worker_sigkill":
            rows.append((f"gunicorn worker SIGKILL{_mode(d)}", (
                f"{d['kills']} workers killed over {d['seconds']:.0f} s; {d['raw_acknowledged']:,} acknowledged, "
                f"{d['raw_errors']} cut requests retried ({d['duplicates_answered']} executions answered as "
                f"duplicates on retry); SDK {d['sdk_runs']:,} runs; lost 0, doubled 0"), None))
        elif kind == "batch_runner_sigkill":
            rows.append(("batch runner SIGKILL under ingest", (
                f"{d['kills']} runner(s) killed mid-batch; {d['delivered']:,}/{d['records']:,} records delivered, "
                f"{d['failed']} failed, {d['sent_twice']} sent twice (held by the victim, unreported); "
                f"{d['raw_acknowledged']:,} executions posted meanwhile, stored once"), None))
        elif kind == "scheduler_sigkill":
            rows.append(("scheduler SIGKILL (1 of 2)", (
                f"{d['kills']} kill(s) over {d['seconds']:.0f} s, {d['jobs']} jobs '{d['schedule']}': fires "
                f"{d['fires']}/{d['fires_expected']}, duplicates {d['duplicates']}, gaps {d['gaps']}, lag max "
                f"{d['lag_max_ms']} ms, widest interval {d['widest_interval_ms']} ms"), None))
    if rows:
        return rows
    picks = [re.compile(p) for p in FIGURE_LINES.get(name, ())]
    quoted = [" ".join(line.split()) for line in lines if any(p.search(line) for p in picks)]
    if not quoted:
        quoted = [" ".join(line.split()) for line in lines if line.strip() and not line.startswith("#")][-2:]
    return [(f"bench/{name}.py" if name not in ("faults",) else name, "; ".join(quoted), None)]


def collect(log_dir: Path, section: str, doc: Path | None) -> str:
    """A markdown table of every ``<name>.log`` in ``log_dir`` (written by ``make bench`` / ``make soak``);
    replaces the ``section`` block of ``doc`` when given. Returns the table."""
    head = ("| what | command | figures | passed | date | load average (start → end) |\n"
            "|---|---|---|---|---|---|")
    out = [head]
    py = sys.executable
    for path in sorted(log_dir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        meta = {k: v for k, _, v in (line[2:].partition(": ") for line in lines if line.startswith("# "))}
        command = meta.get("command", "?").replace(py, "python").replace(".venv/bin/python", "python")
        command = " ".join(command.split())
        body = [line for line in lines if not line.startswith("# ")]
        code = meta.get("exit", "?")
        if path.stem == "faults":
            tail = [line for line in body if " passed" in line or " failed" in line]
            if tail:
                body.append(f"pytest: {tail[-1].strip('= ')}")
        for what, figures, ok in _figures_of(path.stem, body):
            passed = "yes" if code == "0" and ok is not False else f"NO (exit {code})"
            figures = figures.replace("|", "\\|")
            out.append(f"| {what} | `{command}` | {figures} | {passed} | {meta.get('started', '?')} | "
                       f"{meta.get('loadavg', '?')} → {meta.get('loadavg-after', '?')} |")
    table = "\n".join(out)
    if doc is not None:
        begin, end = f"<!-- make {section}: begin -->", f"<!-- make {section}: end -->"
        text = doc.read_text() if doc.exists() else ""
        block = f"{begin}\n{table}\n{end}"
        if begin in text and end in text:
            text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
        else:
            text = text.rstrip("\n") + f"\n\n{block}\n"
        doc.write_text(text)
    return table
