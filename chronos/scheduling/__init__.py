"""Scheduling, monitoring, alerting and server-side jobs: the domain and storage the scheduler process uses.

Modules (none imports Flask):

    cron        schedule arithmetic (cron 5/6 fields, macros, IANA zones, DST rules)
    policy      misfire and coalescing policies, and ``plan()``: what one claim of a job fires
    claims      the atomic claim that advances a job before anything is dispatched; SDK triggers; fire log
    triggers    live events (``job:trigger``, ``job:state``) and trigger acknowledgements
    monitor     monitoring states as pure transitions;  flips: writing them (state, flip log, deadlines)
    outage      the guard that holds back "missed" alerts while ingestion as a whole is silent
    alerts      channels, rules and history;  notify: delivering alerts;  smtp: sending one email
    jobdefs     server-side job definitions: validation, templates, dry run
    jobstore    server-side jobs in Redis: versions, dependencies, pause, run now, delete, history
    runners     http / shell / email runners (sandbox: the shell trampoline);  execute: attempts and retries
    registry    scheduler processes: birth, heartbeat, death
"""
