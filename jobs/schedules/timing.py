"""When a schedule's instants fall: cron expressions (croniter) in the schedule's time zone, or
intervals aligned on the Unix epoch (every worker computes the same instants), and both in
words for the admin (cron-descriptor)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from cron_descriptor import Options, get_description
from croniter import croniter

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def valid_cron(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


def zone(name: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name)


def latest_instant(
    cron: str, interval: dt.timedelta | None, tz: str, now: dt.datetime
) -> dt.datetime:
    """The last instant at or before `now`."""
    if cron:
        # get_prev is strictly before its start: a second later counts `now` itself.
        start = now.astimezone(zone(tz)).replace(microsecond=0) + dt.timedelta(seconds=1)
        earlier = croniter(cron, start)
        candidate = _utc(earlier.get_prev(dt.datetime))
        while not _counts(cron, tz, candidate):
            candidate = _utc(earlier.get_prev(dt.datetime))
        # croniter's get_prev steps over the second pass of an autumn change's repeated hour
        # (an hourly cron in Europe/Paris lost 01:00Z): walk on with get_next, which does not.
        while (following := next_instant(cron, None, tz, candidate)) <= now:
            candidate = following
        return candidate
    interval = _interval(interval)
    steps = (now - EPOCH) // interval
    return EPOCH + steps * interval


def next_instant(
    cron: str, interval: dt.timedelta | None, tz: str, after: dt.datetime
) -> dt.datetime:
    """The first instant strictly after `after`."""
    if cron:
        later = croniter(cron, after.astimezone(zone(tz)))
        following = _utc(later.get_next(dt.datetime))
        while not _counts(cron, tz, following):
            following = _utc(later.get_next(dt.datetime))
        return following
    interval = _interval(interval)
    return EPOCH + ((after - EPOCH) // interval + 1) * interval


def _utc(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(dt.UTC)


def _counts(cron: str, tz: str, instant: dt.datetime) -> bool:
    """Daylight saving, as Vixie cron does it. Every instant is a distinct instant: in an autumn
    change's repeated hour an expression whose hour is a wildcard (`0 * * * *`, `*/30 * * * *`)
    runs at both passes; one with a fixed hour (`30 2 * * *`, a daily job) runs at the first
    only, once a day as its author meant. A wall time skipped by a spring change runs at the
    change (croniter's get_next gives that instant)."""
    fields = cron.split()
    hour = fields[1] if len(fields) >= 5 else ("*" if cron.strip() == "@hourly" else "0")
    if hour.startswith("*"):
        return True
    local = instant.astimezone(zone(tz))
    return local.fold == 0


#: English, as the admin is: cron-descriptor otherwise follows the process's locale, so one
#: schedule read "At 03:00 AM" under Python 3.11 and "At 03:00" under 3.12 on the same host.
DESCRIPTION = Options(locale_code="en_US")


def in_words(cron: str, interval: dt.timedelta | None, tz: str) -> str:
    if cron:
        try:
            text = str(get_description(cron, DESCRIPTION))
        except Exception:  # noqa: BLE001  # the library's own errors: say the expression instead
            text = cron
        return f"{text} ({tz})"
    interval = _interval(interval)
    seconds = int(interval.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    return f"Every {seconds} seconds"


def _interval(interval: dt.timedelta | None) -> dt.timedelta:
    if interval is None:
        raise ValueError("A schedule needs a cron expression or an interval.")
    return interval
