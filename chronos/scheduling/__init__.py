"""Scheduling, monitoring, alerting and server-side jobs: the domain and storage the scheduler process uses.

Modules (none imports Flask):

    cron        schedule arithmetic (cron 5/6 fields, macros, IANA zones, DST rules)
    policy      misfire and coalescing policies, and ``plan()``: what one claim of a job fires
    claims      the atomic claim that advances a job's cursor and next run before anything is dispatched
    triggers    ``job:trigger`` events for SDK-run jobs, and their acknowledgement
    monitor     monitoring states, flips and the late/missed deadlines
    outage      the guard that holds back "missed" alerts while ingestion as a whole is silent
    alerts      channels, rules, incidents and history;  notify: delivering them
    jobdefs     server-side job definitions: validation, versions, dependencies, import/export, dry run
    runners     http / shell / email runners;  execute: attempts, retries and recording
    registry    scheduler processes: birth, heartbeat, death
"""
