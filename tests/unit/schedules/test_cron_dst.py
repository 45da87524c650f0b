"""Cron fire times in a zone, across the DST days of Berlin and New York (item: DST rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mega.schedules._cron import parse_cron

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def fires(expr: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[str]:
    cron = parse_cron(expr, zone)
    out, t = [], start
    while True:
        t = cron.next_after(t)
        if t >= end:
            return out
        out.append(t.astimezone(zone).strftime("%d %H:%M%z"))


def day(zone: ZoneInfo, y: int, m: int, d: int) -> tuple[datetime, datetime]:
    return datetime(y, m, d, 0, 0, tzinfo=zone), datetime(y, m, d, 6, 0, tzinfo=zone)


def test_berlin_spring_a_missing_wall_time_runs_at_the_end_of_the_gap_once() -> None:
    # 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist.
    assert fires("30 2 * * *", BERLIN, *day(BERLIN, 2026, 3, 29)) == ["29 03:00+0200"]
    assert fires("0 3 * * *", BERLIN, *day(BERLIN, 2026, 3, 29)) == ["29 03:00+0200"]


def test_berlin_autumn_a_repeated_wall_time_runs_once() -> None:
    # 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    assert fires("30 2 * * *", BERLIN, *day(BERLIN, 2026, 10, 25)) == ["25 02:30+0200"]


def test_berlin_step_entries_follow_elapsed_time() -> None:
    assert fires("0 * * * *", BERLIN, *day(BERLIN, 2026, 3, 29)) == [
        "29 01:00+0100", "29 03:00+0200", "29 04:00+0200", "29 05:00+0200"]
    assert fires("*/30 * * * *", BERLIN, datetime(2026, 10, 25, 1, 45, tzinfo=BERLIN),
                 datetime(2026, 10, 25, 3, 1, tzinfo=BERLIN)) == [
        "25 02:00+0200", "25 02:30+0200", "25 02:00+0100", "25 02:30+0100", "25 03:00+0100"]


def test_new_york_dst_days() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT; 2026-11-01: 02:00 EDT -> 01:00 EST.
    assert fires("30 2 * * *", NEW_YORK, *day(NEW_YORK, 2026, 3, 8)) == ["08 03:00-0400"]
    assert fires("30 1 * * *", NEW_YORK, *day(NEW_YORK, 2026, 11, 1)) == ["01 01:30-0400"]
    assert fires("0 * * * *", NEW_YORK, datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK),
                 datetime(2026, 11, 1, 3, 30, tzinfo=NEW_YORK)) == [
        "01 01:00-0400", "01 01:00-0500", "01 02:00-0500", "01 03:00-0500"]
    assert fires("15 * * * *", NEW_YORK, *day(NEW_YORK, 2026, 3, 8))[:3] == [
        "08 00:15-0500", "08 01:15-0500", "08 03:15-0400"]


def test_every_fire_is_strictly_later_and_each_instant_once_over_a_dst_year() -> None:
    cron = parse_cron("*/20 * * * *", BERLIN)
    t, seen = datetime(2026, 1, 1, tzinfo=UTC), []
    while t < datetime(2026, 12, 31, tzinfo=UTC):
        nxt = cron.next_after(t)
        assert nxt > t
        seen.append(nxt)
        t = nxt
    assert len(seen) == len(set(seen)) == 364 * 72  # elapsed time: every 20 minutes, DST or not


def test_seconds_and_aliases() -> None:
    start = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    ten = datetime(2026, 5, 1, 12, 0, 10, tzinfo=UTC)
    assert parse_cron("*/10 * * * * *", UTC_ZONE).next_after(start) == ten
    assert parse_cron("@daily", UTC_ZONE).next_after(start) == datetime(2026, 5, 2, tzinfo=UTC)
    assert parse_cron("@hourly", BERLIN).next_after(start) == datetime(2026, 5, 1, 13, tzinfo=UTC)


UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize("expr", ["", "* * *", "61 * * * *", "@sometimes", "* * * * * * *", "0 0 31 2 *", 5])
def test_bad_expressions_are_refused(expr: object) -> None:
    with pytest.raises(ValueError):
        parse_cron(expr, UTC_ZONE)
