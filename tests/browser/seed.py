"""Demo data for the page tests (and for trying the dashboard by hand): jobs and executions sent
through the public API, so the pages are tested on what ingestion really stores."""
from __future__ import annotations

import random
import time
from typing import Any, Callable

Post = Callable[[str, Any], Any]  # post(path, json) -> response (anything with .status_code)

JOBS = [
    {"id": "nightly-backup", "name": "Nightly backup", "schedule": "0 3 * * *", "timezone": "Europe/Berlin",
     "tags": ["backup", "db"], "appId": "ops", "version": "1.4.0", "description": "pg_dump of the main database"},
    {"id": "sync-crm", "name": "CRM sync", "schedule": "*/15 * * * *", "tags": ["sync"], "appId": "crm",
     "version": "2.0.1"},
    {"id": "send-invoices", "name": "Send invoices", "schedule": "30 9 * * 1-5", "timezone": "America/New_York",
     "tags": ["billing", "email"], "appId": "billing", "version": "0.9.3"},
    {"id": "cleanup-tmp", "name": "Clean temp files", "schedule": "@hourly", "tags": ["ops"], "appId": "ops"},
    {"id": "report-weekly", "name": "Weekly report", "schedule": "0 8 * * 1", "tags": ["reports"],
     "appId": "billing"},
]

SNIPPET = '''import smtplib


def send(invoice):
    server = smtplib.SMTP("mail.example.com", 25)
    server.sendmail("billing@example.com", invoice.to, invoice.body)
    server.quit()
'''
STACK = '''Traceback (most recent call last):
  File "/srv/billing/jobs.py", line 12, in run
    send(invoice)
  File "/srv/billing/mailer.py", line 5, in send
    server = smtplib.SMTP("mail.example.com", 25)
ConnectionRefusedError: [Errno 111] Connection refused by mail.example.com
'''


def executions(now_ms: int | None = None, seed: int = 7) -> list[dict[str, Any]]:
    """About 150 executions over the last two days; ``send-invoices`` fails its last three runs."""
    rnd = random.Random(seed)
    now = now_ms or int(time.time() * 1000)
    out: list[dict[str, Any]] = []
    plan = {"nightly-backup": (2, 60_000), "sync-crm": (90, 4_000), "send-invoices": (12, 1_500),
            "cleanup-tmp": (40, 800), "report-weekly": (1, 20_000)}
    for job_id, (count, typical) in plan.items():
        for i in range(count):
            finished = now - int((i + 1) * (46 * 3_600_000) / (count + 1)) - rnd.randint(0, 60_000)
            duration = int(typical * rnd.uniform(0.6, 1.6))
            failing = (job_id == "send-invoices" and i < 3) or (job_id == "sync-crm" and i % 23 == 5)
            ev: dict[str, Any] = {
                "execId": f"{job_id}-{i:03d}", "jobId": job_id, "status": "failed" if failing else "success",
                "startedAt": finished - duration, "finishedAt": finished, "durationMs": duration,
                "exitCode": 1 if failing else 0, "attempt": 1, "host": "worker-1",
                "jobVersion": "1.0.0", "appVersion": "2024.6", "labels": {"env": "prod"},
                "stdout": f"run {i} of {job_id}\nprocessed {rnd.randint(10, 900)} items\n",
            }
            if failing:
                ev.update(errorType="ConnectionRefusedError",
                          errorMessage="[Errno 111] Connection refused by mail.example.com"
                          if job_id == "send-invoices" else "CRM API answered 503 Service Unavailable",
                          errorStack=STACK, stderr="smtp: connection refused\n", codeSnippet=SNIPPET,
                          codeLanguage="python")
            out.append(ev)
    return sorted(out, key=lambda e: e["finishedAt"])  # in the order they happened


def seed(post: Post, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Register the demo jobs and send their executions; returns the executions sent."""
    resp = post("/api/ingest/jobs/register", {"jobs": JOBS})
    assert resp.status_code == 200, getattr(resp, "text", resp)
    evs = executions(now_ms)
    resp = post("/api/ingest/executions/batch", {"executions": evs})
    assert resp.status_code in (200, 207), getattr(resp, "text", resp)
    return evs


if __name__ == "__main__":  # python tests/browser/seed.py http://127.0.0.1:8050 <api key>
    import sys

    import requests

    base, key = sys.argv[1], sys.argv[2]
    seed(lambda path, body: requests.post(base + path, json=body, headers={"x-api-key": key}, timeout=30))
    print("seeded", base)
