"""Insights: deterministic, offline analysis of an owner's executions (no model, no network).

Modules (each a set of pure-ish functions over Redis that the API, the dashboard and the scheduler share):

    stats       median, MAD, quantiles, "nice" rounding, durations in plain words
    history     reading a job's recent finished runs and FT.AGGREGATE replies
    anomalies   duration anomalies (too slow / too fast / upward drift), failure spikes and streaks;
                ``detect_anomaly()`` for one just-finished execution (alert rules)
    errors      error groups (by the ingest-time fingerprint), one group's detail, ``is_new_group()``
    schedule    hour x weekday heatmap of load and failures, a suggested cron slot for a job
    retry       error classes, retry advice, suggested max runtime and grace
    jobs        everything above for one job in one answer
    query       the tidy analytics query (``GET /api/analytics/query`` and the Explorer page), CSV
    badges      public status badges (SVG, shields.io JSON) behind random tokens
    llm         the optional explanation of a failure by an OpenAI-compatible chat API

Every function takes the owner it is scoped to; ``None`` (all owners) is for admins only.
"""
