"""Cron expressions in a time zone, with the DST rules mega promises.

cronsim parses the expression and walks *wall-clock* times (naive datetimes); this module turns each
wall time into instants in the schedule's zone:

- a wall time that exists once is that instant;
- a wall time that occurs twice (the clock is set back) runs once, at its first occurrence, unless the
  entry is a step entry (its minute or hour field starts with `*`: `*/15 * * * *`, `0 * * * *`),
  which follows elapsed time and so runs at both;
- a wall time that does not exist (the clock jumps forward) runs at the end of the gap, unless the
  entry is a step entry, which follows elapsed time and skips it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

__all__ = ["Cron", "parse_cron"]

ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_WINDOW = timedelta(hours=3)  # longer than any DST shift: the candidates whose instants may interleave


class Cron:
    """A parsed expression: `next_after(instant)` is the first fire strictly after it (aware, UTC)."""

    __slots__ = ("_fields", "expr", "seconds", "step", "zone")

    def __init__(self, expr: str, zone: ZoneInfo) -> None:
        self.expr = expr
        text = ALIASES.get(expr.strip().lower(), expr.strip())
        fields = text.split()
        self.seconds = len(fields) == 6  # optional leading seconds
        self._fields = " ".join(fields)
        minute, hour = fields[-5], fields[-4]
        self.step = minute.startswith("*") or hour.startswith("*")
        self.zone = zone

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after `after` (an aware datetime), as an aware UTC datetime."""
        after = after.astimezone(UTC)
        wall = after.astimezone(self.zone).replace(tzinfo=None)
        if _steady(self.zone, after):  # the usual case: no offset change within hours of `after`
            first = next(CronSim(self._fields, wall))
            instants = self._instants(first)
            if len(instants) == 1 and instants[0] > after and _steady(self.zone, instants[0]):
                return instants[0]
        # Start early enough to see a wall time that repeats after `after` (the second pass of a fold).
        it = CronSim(self._fields, wall - _WINDOW)
        best: datetime | None = None
        best_wall: datetime | None = None
        for _ in range(100_000):
            candidate = next(it)
            if best_wall is not None and candidate > best_wall + _WINDOW:
                break
            for instant in self._instants(candidate):
                if instant > after and (best is None or instant < best):
                    best, best_wall = instant, candidate
        if best is None:  # pragma: no cover - cronsim raises first for an expression that never fires
            raise ValueError(f"{self.expr!r} never fires")
        return best

    def _instants(self, wall: datetime) -> list[datetime]:
        first = wall.replace(tzinfo=self.zone, fold=0)
        second = wall.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            return [first.astimezone(UTC)]
        a, b = first.astimezone(UTC), second.astimezone(UTC)
        if a.astimezone(self.zone).replace(tzinfo=None) == wall:  # it exists twice: a fold
            return [a, b] if self.step else [a]
        if self.step:  # a gap: elapsed time skips it
            return []
        return [_transition(min(a, b), max(a, b), self.zone)]


def _steady(zone: ZoneInfo, instant: datetime) -> bool:
    """No offset change within _WINDOW either side of `instant`."""
    offset = instant.astimezone(zone).utcoffset()
    return (instant - _WINDOW).astimezone(zone).utcoffset() == offset == \
        (instant + _WINDOW).astimezone(zone).utcoffset()


def _transition(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """The instant in [lo, hi] where the zone's offset changes (to the second): the end of a gap."""
    before = lo.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


def parse_cron(expr: object, zone: ZoneInfo) -> Cron:
    """A `Cron`, or ValueError saying what is wrong with `expr`."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("must be a cron expression string such as '0 3 * * *'")
    text = ALIASES.get(expr.strip().lower(), expr.strip())
    if text.startswith("@"):
        raise ValueError(f"unknown alias {expr.strip()!r} (aliases: {', '.join(sorted(ALIASES))})")
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"has {len(fields)} fields: 5 (minute hour day month weekday) or 6 with leading "
                         "seconds")
    cron = Cron(expr, zone)
    try:
        CronSim(cron._fields, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"is not a valid cron expression: {exc}") from None
    try:
        cron.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except Exception as exc:  # e.g. '0 0 30 2 *' never fires
        raise ValueError(f"never fires ({exc})") from None
    return cron
