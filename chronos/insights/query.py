"""The analytics query for data teams: one metric per time bucket and group, as a tidy table.

``GET /api/analytics/query`` and the Explorer page both call ``run()``; the CSV either of them offers is
``to_csv(run(...))``, so the two never disagree. Rows are ``{bucket, group, value}``: ``bucket`` the ISO-8601
start of the bucket (runs are bucketed by ``startedAt``), ``group`` the group's value ("" when a run has none,
"all" without ``groupBy``), ``value`` a number or null. Buckets without runs are left out.

Percentiles come from RediSearch's QUANTILE reducer (``APPLY floor(@startedAt/B)*B`` then ``GROUPBY``).
Runs still in progress are left out unless ``status`` asks for them.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any, Mapping

import orjson
from redis import Redis

from chronos import search
from chronos.insights.history import FINAL, aggregate, num, owner_clause
from chronos.telemetry import STATUSES
from chronos.timeutil import now_ms, parse_instant, to_iso

METRICS = ("runs", "failures", "success_rate", "duration_avg", "duration_p50", "duration_p95", "duration_max")
STATS = {"avg": ("AVG", ()), "sum": ("SUM", ()), "min": ("MIN", ()), "max": ("MAX", ()),
         "p50": ("QUANTILE", ("0.5",)), "p95": ("QUANTILE", ("0.95",))}
GROUPS = {"job": "jobId", "app": "appId", "status": "status", "host": "host", "errorGroup": "errorGroup",
          "version": "version", "label": "labels"}
FIXED_BUCKETS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                 "6h": 21_600_000, "12h": 43_200_000, "1d": 86_400_000}
BUCKETS = (*FIXED_BUCKETS, "1w", "1M", "all")
WEEK_MS, MONDAY_OFFSET_MS = 604_800_000, 345_600_000  # 1970-01-05 was the first Monday
MAX_BUCKETS = 10_000
MAX_ROWS = 10_000
MAX_LABEL_GROUPS = 20
META_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
COLUMNS = ("bucket", "group", "value")


class QueryError(ValueError):
    """A parameter of the query is not valid; the message says which and why."""


@dataclass(frozen=True)
class QuerySpec:
    from_ms: int
    to_ms: int
    metric: str = "runs"
    group_by: str | None = None
    bucket: str = "1h"
    stat: str = "avg"
    job_id: str | None = None
    status: tuple[str, ...] = ()
    app: str | None = None
    label: str | None = None
    host: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any], *, now: int | None = None) -> "QuerySpec":
        """A validated spec from query parameters (``metric``, ``groupBy``, ``bucket``, ``stat``, ``from``,
        ``to``, ``jobId``, ``status``, ``app``, ``label``, ``host``); raises QueryError."""
        def arg(name: str) -> str | None:
            value = args.get(name)
            return str(value) if value not in (None, "") else None

        try:
            to = parse_instant(arg("to")) if arg("to") else (now if now is not None else now_ms())
            frm = parse_instant(arg("from")) if arg("from") else to - 86_400_000
        except ValueError as exc:
            raise QueryError(f"from/to: {exc}") from None
        status = tuple(s for s in (arg("status") or "").split(",") if s)
        spec = cls(from_ms=frm, to_ms=to, metric=arg("metric") or "runs", group_by=arg("groupBy"),
                   bucket=arg("bucket") or "1h", stat=arg("stat") or "avg", job_id=arg("jobId"), status=status,
                   app=arg("app"), label=arg("label"), host=arg("host"))
        spec.validate()
        return spec

    def validate(self) -> None:
        if self.from_ms >= self.to_ms:
            raise QueryError("from must be before to")
        if self.metric not in METRICS and not (self.metric.startswith("metadata.")
                                               and META_NAME.fullmatch(self.metric[len("metadata."):])):
            raise QueryError(f"metric must be one of {', '.join(METRICS)} or metadata.<name> (letters, digits, _)")
        if self.metric.startswith("metadata.") and self.stat not in STATS:
            raise QueryError(f"stat must be one of {', '.join(STATS)}")
        if self.group_by is not None and self.group_by not in GROUPS:
            raise QueryError(f"groupBy must be one of {', '.join(GROUPS)}")
        if self.bucket not in BUCKETS:
            raise QueryError(f"bucket must be one of {', '.join(BUCKETS)}")
        size = FIXED_BUCKETS.get(self.bucket)
        if size and (self.to_ms - self.from_ms) // size > MAX_BUCKETS:
            raise QueryError(f"too many buckets: at most {MAX_BUCKETS}; use a larger bucket or a shorter range")
        bad = [s for s in self.status if s not in STATUSES]
        if bad:
            raise QueryError(f"status must be among {', '.join(STATUSES)}")

    def query(self, owner: str | None, extra: str | None = None) -> str:
        return search.join([
            owner_clause(owner), search.tag("jobId", self.job_id) if self.job_id else None,
            search.tag("status", self.status or FINAL), search.tag("appId", self.app) if self.app else None,
            search.tag("labels", self.label) if self.label else None,
            search.tag("host", self.host) if self.host else None,
            search.numeric("startedAt", self.from_ms, self.to_ms), extra,
        ])


def _bucket_expr(bucket: str) -> str | None:
    if bucket in FIXED_BUCKETS:
        size = FIXED_BUCKETS[bucket]
        return f"floor(@startedAt/{size})*{size}"
    if bucket == "1w":
        return f"floor((@startedAt - {MONDAY_OFFSET_MS}) / {WEEK_MS}) * {WEEK_MS} + {MONDAY_OFFSET_MS}"
    if bucket == "1M":
        return "month(floor(@startedAt/1000))*1000"
    return None


def _pipeline(spec: QuerySpec, group_field: str | None) -> list[Any]:
    # startedAt and durationMs are sortable (read from the index); every other field is read from the
    # document, which is what costs: load only what this query needs.
    loads: list[Any] = ["@status"] if spec.metric in ("failures", "success_rate") else []
    if group_field == "version":
        loads += ["$.jobVersion", "AS", "version"]
    elif group_field:
        loads.append(f"@{group_field}")
    if spec.metric.startswith("metadata."):
        name = spec.metric[len("metadata."):]
        # The filter keeps numbers only: a string value would break the reducers.
        loads += [f"$.metadata.{name}[?(@ > -9007199254740991)]", "AS", "mv"]
    args: list[Any] = ["LOAD", len(loads), *loads] if loads else []
    expr = _bucket_expr(spec.bucket)
    if expr:
        args += ["APPLY", expr, "AS", "bucket"]
    if spec.metric in ("failures", "success_rate"):
        args += ["APPLY", "(@status=='failed')+(@status=='timeout')", "AS", "isfail",
                 "APPLY", "@status=='success'", "AS", "isok"]
    if spec.metric.startswith("duration_"):
        args += ["FILTER", "exists(@durationMs)"]
    if spec.metric.startswith("metadata."):
        args += ["FILTER", "exists(@mv)"]
    keys_ = (["@bucket"] if expr else []) + ([f"@{group_field}"] if group_field else [])
    args += ["GROUPBY", len(keys_), *keys_]
    metric = spec.metric
    if metric == "runs":
        args += ["REDUCE", "COUNT", 0, "AS", "value"]
    elif metric == "failures":
        args += ["REDUCE", "SUM", 1, "@isfail", "AS", "value"]
    elif metric == "success_rate":
        args += ["REDUCE", "SUM", 1, "@isok", "AS", "ok", "REDUCE", "SUM", 1, "@isfail", "AS", "bad"]
    elif metric.startswith("metadata."):
        fn, extra = STATS[spec.stat]
        args += ["REDUCE", fn, 1 + len(extra), "@mv", *extra, "AS", "value"]
    else:
        fn, extra = {"duration_avg": ("AVG", ()), "duration_p50": ("QUANTILE", ("0.5",)),
                     "duration_p95": ("QUANTILE", ("0.95",)), "duration_max": ("MAX", ())}[metric]
        args += ["REDUCE", fn, 1 + len(extra), "@durationMs", *extra, "AS", "value"]
    return args + ["LIMIT", 0, MAX_ROWS + 1, "DIALECT", 2]


def _value(spec: QuerySpec, row: dict[str, Any]) -> float | int | None:
    if spec.metric == "success_rate":
        ok, bad = num(row.get("ok")) or 0.0, num(row.get("bad")) or 0.0
        return round(ok / (ok + bad), 6) if ok + bad else None
    v = num(row.get("value"))
    if v is None:
        return None
    if spec.metric in ("runs", "failures"):
        return int(v)
    return round(v, 3) if spec.metric.startswith("duration_") else round(v, 6)


def _labels(r: Redis, owner: str | None, spec: QuerySpec) -> list[str]:
    """The most used labels among the matching runs (``key:value`` for map labels), at most MAX_LABEL_GROUPS."""
    rows = aggregate(r, spec.query(owner), "LOAD", 3, "$.labels", "AS", "lb", "GROUPBY", 1, "@lb",
                     "REDUCE", "COUNT", 0, "AS", "n", "LIMIT", 0, 10_000, "DIALECT", 2)
    counts: dict[str, int] = {}
    for row in rows:
        try:
            labels = orjson.loads(row["lb"]) if row.get("lb") else None
        except orjson.JSONDecodeError:
            continue
        items = [f"{k}:{v}" for k, v in labels.items()] if isinstance(labels, dict) else labels or []
        for item in items:
            if isinstance(item, str) and item:
                counts[item] = counts.get(item, 0) + int(num(row["n"]) or 0)
    return [k for k, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:MAX_LABEL_GROUPS]


def run(r: Redis, owner: str | None, spec: QuerySpec) -> dict[str, Any]:
    """The tidy table for ``spec``, scoped to ``owner`` (None: every owner, for admins)."""
    spec.validate()
    found: list[tuple[int, str, Any]] = []
    if spec.group_by == "label":
        for label in _labels(r, owner, spec):
            rows = aggregate(r, spec.query(owner, search.tag("labels", label)), *_pipeline(spec, None))
            found += [(int(num(x.get("bucket")) or spec.from_ms), label, _value(spec, x)) for x in rows]
    else:
        field = GROUPS.get(spec.group_by or "")
        rows = aggregate(r, spec.query(owner), *_pipeline(spec, field))
        for x in rows:
            group = ("" if x.get(field) is None else str(x[field])) if field else "all"
            found.append((int(num(x.get("bucket")) or spec.from_ms), group, _value(spec, x)))
    found.sort(key=lambda t: (t[0], t[1]))
    truncated = len(found) > MAX_ROWS
    return {
        "metric": spec.metric, "stat": spec.stat if spec.metric.startswith("metadata.") else None,
        "groupBy": spec.group_by, "bucket": spec.bucket, "from": to_iso(spec.from_ms), "to": to_iso(spec.to_ms),
        "columns": list(COLUMNS), "truncated": truncated,
        "rows": [{"bucket": to_iso(b), "group": g, "value": v} for b, g, v in found[:MAX_ROWS]],
    }


def to_csv(result: dict[str, Any]) -> str:
    """The rows of a ``run()`` result as CSV (header ``bucket,group,value``; null values empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in result["rows"]:
        v = row["value"]
        writer.writerow([row["bucket"], row["group"], "" if v is None else repr(v)])
    return buf.getvalue()
