"""A schedule's instants across both daylight-saving changes of the year, in several zones
(jobs/schedules/timing.py): each checked against every minute of the hours around the change,
as the scheduler walks them (its latest instant, once a minute) and as next_instant chains them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from jobs.schedules.timing import latest_instant, next_instant

ZONES = ("Europe/Paris", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe")
MINUTE = dt.timedelta(minutes=1)


def changes(tz: str, year: int = 2026) -> list[dt.datetime]:
    """The UTC instants `tz` changes its offset in `year` (to the minute)."""
    zone = zoneinfo.ZoneInfo(tz)
    found = []
    at = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    while at.year == year:
        if (at + dt.timedelta(hours=1)).astimezone(zone).utcoffset() != at.astimezone(
            zone
        ).utcoffset():
            step = at
            while step.astimezone(zone).utcoffset() == at.astimezone(zone).utcoffset():
                step += MINUTE
            found.append(step)
        at += dt.timedelta(hours=1)
    return found


def expected(
    cron_minutes: set[int], hour: int | None, tz: str, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """Every instant of the window the expression names, found minute by minute: a wildcard hour
    at each pass of a repeated hour, a fixed hour at the first pass only; a fixed time the
    spring change skips at the change."""
    zone = zoneinfo.ZoneInfo(tz)
    found = []
    at = start + MINUTE  # strictly after the start, as the scheduler and next_instant count
    while at < end:
        local = at.astimezone(zone)
        if local.minute in cron_minutes and (
            hour is None or (local.hour == hour and not local.fold)
        ):
            found.append(at)
        at += MINUTE
    return found


def walked_by_the_scheduler(
    cron: str, tz: str, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """What the scheduler enqueues ticking once a minute: each new latest instant."""
    last = latest_instant(cron, None, tz, start)
    runs = []
    now = start + dt.timedelta(seconds=5)
    while now < end:
        instant = latest_instant(cron, None, tz, now)
        if instant > last:
            runs.append(instant)
            last = instant
        now += MINUTE
    return runs


def chained(cron: str, tz: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    found = []
    at = next_instant(cron, None, tz, start)
    while at < end:
        found.append(at)
        at = next_instant(cron, None, tz, at)
    return found


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    ("cron", "minutes", "hour"),
    [
        ("0 * * * *", {0}, None),
        ("*/30 * * * *", {0, 30}, None),
        ("*/15 * * * *", {0, 15, 30, 45}, None),
        ("30 2 * * *", {30}, 2),
    ],
)
def test_every_instant_of_both_changes_runs_once(
    tz: str, cron: str, minutes: set[int], hour: int | None
):
    both = changes(tz)
    assert len(both) == 2, both
    zone = zoneinfo.ZoneInfo(tz)
    for change in both:
        start, end = change - dt.timedelta(hours=5), change + dt.timedelta(hours=5)
        want = expected(minutes, hour, tz, start, end)
        gained = (change.astimezone(zone).utcoffset() or dt.timedelta()) > (
            (change - MINUTE).astimezone(zone).utcoffset() or dt.timedelta()
        )
        if hour is not None and not want:
            # The spring change skipped 02:30: it runs at the change, as Vixie cron does.
            assert gained
            want = [change]
        label = f"{tz} {'spring' if gained else 'autumn'} change at {change:%Y-%m-%d %H:%MZ}"
        assert walked_by_the_scheduler(cron, tz, start, end) == want, label
        assert chained(cron, tz, start, end) == want, label


def test_the_autumn_change_in_paris_repeats_the_hour_as_distinct_instants():
    """The case found: an hourly cron skipped 01:00Z, a */30 lost two runs."""
    start = dt.datetime(2026, 10, 24, 23, 0, tzinfo=dt.UTC)
    end = dt.datetime(2026, 10, 25, 3, 0, tzinfo=dt.UTC)
    hourly = walked_by_the_scheduler("0 * * * *", "Europe/Paris", start, end)
    assert [f"{i:%H:%M}" for i in hourly] == ["00:00", "01:00", "02:00"]
    halves = walked_by_the_scheduler("*/30 * * * *", "Europe/Paris", start, end)
    assert [f"{i:%H:%M}" for i in halves] == [
        "23:30",
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "02:00",
        "02:30",
    ]
