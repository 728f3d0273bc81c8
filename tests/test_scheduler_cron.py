"""Schedule arithmetic and fire planning, checked against croniter (no Redis, no clock but the one given)."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from chronos.scheduling import cron
from chronos.scheduling.policy import FireAction, plan
from chronos.timeutil import parse_instant


def ms(text: str) -> int:
    return parse_instant(text)


def croniter_fires(expr: str, tz: str, start: str, n: int) -> list[datetime]:
    """croniter's own answers (aware datetimes) strictly after ``start`` (a UTC instant)."""
    zone = ZoneInfo(tz)
    begin = datetime.fromtimestamp(ms(start) / 1000, tz=zone)
    it = croniter(cron.MACROS.get(expr, expr), begin, second_at_beginning=len(expr.split()) == 6)
    return [it.get_next(datetime) for _ in range(n)]


def as_ms(dts: list[datetime]) -> list[int]:
    return [int(d.timestamp() * 1000) for d in dts]


def local(values: list[int], tz: str) -> list[str]:
    return [cron.describe_local(v, tz) for v in values]


@pytest.mark.parametrize("expr,tz,start", [
    ("*/5 * * * *", "UTC", "2025-06-01T10:02:00Z"),
    ("0 9 * * 1-5", "Europe/Berlin", "2025-06-06T12:00:00Z"),
    ("15 3 1 * *", "America/New_York", "2025-01-15T00:00:00Z"),
    ("*/10 * * * * *", "UTC", "2025-06-01T10:00:03Z"),
    ("30 */2 * * * *", "Asia/Tokyo", "2025-06-01T10:00:03Z"),
    ("0 0 12 * * 0", "Europe/Berlin", "2025-06-01T00:00:00Z"),
])
def test_five_and_six_field_cron_match_croniter(expr, tz, start):
    assert cron.next_n(expr, tz, ms(start), 20) == as_ms(croniter_fires(expr, tz, start, 20))


@pytest.mark.parametrize("macro,expanded", sorted(cron.MACROS.items()))
def test_macros_fire_like_their_expansion(macro, expanded):
    start = ms("2025-02-27T13:14:15Z")
    assert cron.next_n(macro, "Europe/Berlin", start, 5) == cron.next_n(expanded, "Europe/Berlin", start, 5)
    assert cron.next_n(macro, "UTC", start, 3) == as_ms(croniter_fires(macro, "UTC", "2025-02-27T13:14:15Z", 3))


def test_bad_expressions_and_zones_are_refused_with_a_reason():
    with pytest.raises(cron.ScheduleError, match="fields"):
        cron.parse("* * *")
    with pytest.raises(cron.ScheduleError, match="macro"):
        cron.parse("@reboot")
    with pytest.raises(cron.ScheduleError, match="not a valid"):
        cron.parse("61 * * * *")
    with pytest.raises(cron.ScheduleError, match="timezone"):
        cron.parse("* * * * *", "Mars/Olympus")


def test_a_fire_is_strictly_after_the_given_instant():
    t = ms("2025-06-01T10:00:00Z")
    assert cron.next_after("* * * * * *", "UTC", t) == t + 1000
    assert cron.next_after("* * * * * *", "UTC", t + 500) == t + 1000
    assert cron.next_after("* * * * *", "UTC", t) == t + 60_000


# ---- daylight saving -----------------------------------------------------------------------------

DST_CASES = [
    # zone, spring-forward night, fall-back night (UTC instants a little before each)
    ("Europe/Berlin", "2025-03-29T22:00:00Z", "2025-10-25T22:00:00Z"),
    ("America/New_York", "2025-03-09T03:00:00Z", "2025-11-02T02:00:00Z"),
]


@pytest.mark.parametrize("tz,spring,_fall", DST_CASES)
def test_spring_forward_loses_no_fire(tz, spring, _fall):
    # 02:30 does not exist that night: it fires once, at the end of the gap (03:00), as croniter says.
    got = cron.next_n("30 2 * * *", tz, ms(spring), 3)
    assert got == as_ms(croniter_fires("30 2 * * *", tz, spring, 3))
    assert local(got, tz)[0].endswith("T03:00:00" + local(got, tz)[0][-6:])
    assert [g - got[0] for g in got[1:]] == [(24 - 0.5) * 3600_000, (48 - 0.5) * 3600_000]
    # Several nonexistent times fire once between them.
    quarter = cron.next_n("*/15 2 * * *", tz, ms(spring), 2)
    assert local(quarter, tz)[0][11:19] == "03:00:00" and quarter[1] - quarter[0] > 20 * 3600_000
    # An hourly job keeps its real-time rhythm: one hour between fires across the gap.
    hourly = cron.next_n("0 * * * *", tz, ms(spring), 6)
    assert hourly == as_ms(croniter_fires("0 * * * *", tz, spring, 6))
    assert {b - a for a, b in zip(hourly, hourly[1:])} == {3600_000}


@pytest.mark.parametrize("tz,_spring,fall", DST_CASES)
def test_fall_back_fires_a_fixed_hour_job_once(tz, _spring, fall):
    hour = "2" if tz == "Europe/Berlin" else "1"
    expr = f"30 {hour} * * *"
    theirs = croniter_fires(expr, tz, fall, 4)
    assert [d.fold for d in theirs][:2] == [0, 1]  # croniter fires the repeated wall time twice
    ours = cron.next_n(expr, tz, ms(fall), 3)
    # Ours is croniter's list without the second pass through the repeated hour.
    assert ours == as_ms([d for d in theirs if d.fold == 0])[:3]
    assert ours[1] - ours[0] == 25 * 3600_000


@pytest.mark.parametrize("tz,_spring,fall", DST_CASES)
@pytest.mark.parametrize("expr", ["0 * * * *", "*/20 * * * *", "0 */2 * * *", "*/30 * * * * *"])
def test_fall_back_keeps_wildcard_hour_jobs_on_the_clock(tz, _spring, fall, expr):
    n = 200 if len(expr.split()) == 6 else 12
    assert cron.next_n(expr, tz, ms(fall), n) == as_ms(croniter_fires(expr, tz, fall, n))


def test_scheduling_from_inside_the_repeated_hour():
    # First pass through 02:xx CEST is over; the clocks fell back; a fixed-hour job waits for tomorrow.
    inside = ms("2025-10-26T01:10:00Z")  # 02:10 CET, the second pass
    assert local([cron.next_after("30 2 * * *", "Europe/Berlin", inside)], "Europe/Berlin") == [
        "2025-10-27T02:30:00+01:00"]
    assert local([cron.next_after("30 * * * *", "Europe/Berlin", inside)], "Europe/Berlin") == [
        "2025-10-26T02:30:00+01:00"]


# ---- planning: one-time jobs, misfire grace, coalescing -----------------------------------------------

def job(**fields):
    base = {"id": "j", "owner": "u", "runMode": "recurring", "schedule": "*/5 * * * * *"}
    base.update(fields)
    return base


def test_a_one_time_job_fires_once_at_run_at():
    cache = cron.CronCache()
    at = ms("2025-06-01T10:00:00Z")
    j = job(runMode="once", runAt=at, schedule=None, nextRunAt=at)
    assert plan(j, at - 1, cache) is None
    p = plan(j, at + 200, cache)
    assert [(f.due, f.action) for f in p.fires] == [(at, FireAction.RUN)]
    assert p.next_run_at is None and p.once_done
    assert plan({**j, "sched": {"cursor": p.cursor}}, at + 10**9, cache) is None


def test_a_one_time_job_without_run_at_fires_at_its_first_cron_match():
    cache = cron.CronCache()
    created = ms("2025-06-01T09:00:02Z")
    j = job(runMode="once", schedule="0 12 * * *", timezone="Europe/Berlin",
            nextRunAt=cron.next_after("0 12 * * *", "Europe/Berlin", created))
    p = plan(j, ms("2025-06-01T10:00:05Z"), cache)
    assert [cron.describe_local(f.due, "Europe/Berlin") for f in p.fires] == ["2025-06-01T12:00:00+02:00"]
    assert p.next_run_at is None


def test_a_late_fire_within_the_misfire_grace_runs_once():
    cache = cron.CronCache()
    due = ms("2025-06-01T10:00:05Z")
    p = plan(job(nextRunAt=due, misfireGraceSeconds=30), due + 12_000, cache)
    # Backlog 10:00:05 and :10 and :15; only the latest runs (coalesce=latest is the default).
    assert [(f.due - due, f.action) for f in p.fires] == [
        (0, FireAction.COALESCED), (5000, FireAction.COALESCED), (10_000, FireAction.RUN)]
    assert p.cursor == due + 10_000 and p.next_run_at == due + 15_000


def test_fires_beyond_the_grace_are_recorded_as_missed():
    cache = cron.CronCache()
    due = ms("2025-06-01T10:00:00Z")
    j = job(schedule="0 * * * *", nextRunAt=due, misfireGraceSeconds=60)
    p = plan(j, due + 2 * 3600_000 + 30_000, cache)
    assert [f.action for f in p.fires] == [FireAction.MISSED, FireAction.MISSED, FireAction.RUN]
    p2 = plan(j, due + 2 * 3600_000 + 90_000, cache)
    assert [f.action for f in p2.fires] == [FireAction.MISSED] * 3  # even the latest is too late
    assert p2.next_run_at == due + 3 * 3600_000


def test_coalesce_none_runs_every_backlogged_fire_in_grace():
    cache = cron.CronCache()
    due = ms("2025-06-01T10:00:05Z")
    p = plan(job(nextRunAt=due, coalesce="none", misfireGraceSeconds=7), due + 12_000, cache)
    assert [(f.due - due, f.action) for f in p.fires] == [
        (0, FireAction.MISSED), (5000, FireAction.RUN), (10_000, FireAction.RUN)]


def test_run_late_runs_however_late():
    cache = cron.CronCache()
    due = ms("2025-06-01T00:00:00Z")
    p = plan(job(schedule="@daily", nextRunAt=due, misfirePolicy="run_late"), due + 3 * 86_400_000 + 5, cache)
    assert [f.action for f in p.fires] == [FireAction.COALESCED] * 3 + [FireAction.RUN]


def test_a_backlog_longer_than_the_cap_skips_to_the_present():
    cache = cron.CronCache()
    due = ms("2025-06-01T10:00:00Z")
    now = due + 86_400_000  # a day of a seconds schedule: far more than MAX_BACKLOG fires
    p = plan(job(schedule="* * * * * *", nextRunAt=due), now, cache)
    assert p.missed_beyond_cap and len(p.fires) == cron.MAX_BACKLOG
    assert all(f.action is FireAction.MISSED for f in p.fires)
    assert p.cursor == now and p.next_run_at == now + 1000


def test_the_cursor_partitions_the_timeline():
    # Claims at arbitrary instants cover every fire exactly once.
    cache = cron.CronCache()
    start = ms("2025-10-25T23:59:58Z")
    j = job(schedule="*/7 * * * * *", timezone="Europe/Berlin", nextRunAt=cron.next_after("*/7 * * * * *",
            "Europe/Berlin", start), misfirePolicy="run_late", coalesce="none")
    seen = []
    for now in range(start, start + 3 * 3600_000, 4321):
        p = plan(j, now, cache)
        if p is not None:
            seen += [f.due for f in p.fires]
            j = {**j, "sched": {"cursor": p.cursor}, "nextRunAt": p.next_run_at}
    expected = cron.next_n("*/7 * * * * *", "Europe/Berlin", start, len(seen))
    assert seen == expected and len(set(seen)) == len(seen)


def test_the_scheduler_key_strings_are_exact():
    from chronos import keys

    assert keys.fire_claim("u_1", "job-a", 1_760_000_000_000) == "chr:fire:u_1:job-a:1760000000000"
    assert keys.fires("u_1", "job-a") == "chr:fires:u_1:job-a"
    assert keys.flips("u_1", "job-a") == "chr:flips:u_1:job-a"
    assert keys.job_versions("u_1", "job-a") == "chr:jobver:u_1:job-a"
    assert keys.job_dependents("u_1", "job-a") == "chr:deps:u_1:job-a"
    assert (keys.alert_channels("u_1"), keys.alert_rules("u_1"), keys.alert_history("u_1")) == (
        "chr:alertch:u_1", "chr:alertrules:u_1", "chr:alerts:u_1")
    assert (keys.sched_nodes(), keys.sched_node("h:1:ab"), keys.sched_deadlines(), keys.sched_expect(),
            keys.sched_retries()) == ("chr:sched:nodes", "chr:sched:node:h:1:ab", "chr:sched:deadlines",
                                      "chr:sched:expect", "chr:sched:retries")
    assert keys.sched_running("u_1", "job-a") == "chr:sched:running:u_1:job-a"
    assert (keys.sched_ingest_count(29_000_000), keys.sched_miss_count(29_000_000)) == (
        "chr:sched:ingest:29000000", "chr:sched:misses:29000000")
