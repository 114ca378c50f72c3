"""Retention selection for ``prune``: which backups to keep and why. Pure, no I/O.

The semantics are restic's ``forget --keep-*`` (borg's ``prune`` agrees):

- complete backups are walked newest first;
- ``keep_last N`` keeps the N newest;
- ``keep_daily N`` keeps, for each of the last N days that *have* a backup, the
  newest backup of that day; ``keep_weekly`` (ISO weeks), ``keep_monthly`` and
  ``keep_yearly`` likewise; a day without a backup does not use up a slot;
- one backup may satisfy several rules; it is kept if any rule keeps it, and the
  reasons list them all.

On top of that, and unlike restic, the newest complete backup is always kept,
whatever the policy says: prune must never leave a tenant without a restorable
backup. Incomplete backups (no manifest, or a manifest not marked complete) do
not count for any rule; they are removed once older than a grace period, because
a younger one may be a backup still being written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Hashable, Sequence


@dataclasses.dataclass(frozen=True)
class Policy:
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError(f"{field.name} must not be negative")

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in dataclasses.fields(self))


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A backup known to the retention logic: its id and the time it stands for."""

    backup_id: str
    time: dt.datetime


@dataclasses.dataclass(frozen=True)
class Decision:
    backup_id: str
    keep: bool
    reasons: tuple[str, ...]


def select_complete(backups: Sequence[Candidate], policy: Policy, tz: dt.tzinfo = dt.UTC) -> list[Decision]:
    """Decide keep/remove for every complete backup; newest first. ``tz`` defines days and weeks."""
    ordered = sorted(backups, key=lambda c: (c.time, c.backup_id), reverse=True)
    rules: list[tuple[str, int, Callable[[Candidate], Hashable], Callable[[Candidate], str]]] = [
        ("last", policy.keep_last, lambda c: c.backup_id, lambda c: ""),
        ("hourly", policy.keep_hourly, lambda c: _local(c, tz).strftime("%Y-%m-%d %H"), _hour_label(tz)),
        (
            "daily",
            policy.keep_daily,
            lambda c: _local(c, tz).date(),
            lambda c: _local(c, tz).date().isoformat(),
        ),
        ("weekly", policy.keep_weekly, lambda c: _local(c, tz).isocalendar()[:2], _week_label(tz)),
        ("monthly", policy.keep_monthly, lambda c: _local(c, tz).strftime("%Y-%m"), _month_label(tz)),
        ("yearly", policy.keep_yearly, lambda c: _local(c, tz).year, lambda c: str(_local(c, tz).year)),
    ]
    remaining = {name: count for name, count, _, _ in rules}
    last_bucket: dict[str, Hashable] = {}
    decisions: list[Decision] = []
    for index, candidate in enumerate(ordered):
        reasons: list[str] = []
        for name, _, bucket_of, label_of in rules:
            if remaining[name] <= 0:
                continue
            bucket = bucket_of(candidate)
            if name in last_bucket and last_bucket[name] == bucket:
                continue
            last_bucket[name] = bucket
            remaining[name] -= 1
            label = label_of(candidate)
            reasons.append(f"{name} {label}" if label else f"{name} #{index + 1}")
        if index == 0 and not reasons:
            reasons.append("newest complete backup (always kept)")
        decisions.append(Decision(candidate.backup_id, keep=bool(reasons), reasons=tuple(reasons)))
    return [d if d.keep else dataclasses.replace(d, reasons=("matched no keep rule",)) for d in decisions]


def select_incomplete(backups: Sequence[Candidate], now: dt.datetime, max_age: dt.timedelta) -> list[Decision]:
    """Incomplete backups: remove those whose last activity is older than ``max_age``."""
    decisions = []
    for candidate in sorted(backups, key=lambda c: (c.time, c.backup_id), reverse=True):
        age = now - candidate.time
        if age > max_age:
            decisions.append(Decision(candidate.backup_id, False, (f"incomplete and idle for {_human_age(age)}",)))
        else:
            decisions.append(
                Decision(
                    candidate.backup_id,
                    True,
                    (f"incomplete but only {_human_age(age)} old: may still be running",),
                )
            )
    return decisions


def _local(candidate: Candidate, tz: dt.tzinfo) -> dt.datetime:
    return candidate.time.astimezone(tz)


def _hour_label(tz: dt.tzinfo) -> Callable[[Candidate], str]:
    return lambda c: _local(c, tz).strftime("%Y-%m-%d %H:00")


def _week_label(tz: dt.tzinfo) -> Callable[[Candidate], str]:
    def label(c: Candidate) -> str:
        year, week, _ = _local(c, tz).isocalendar()
        return f"{year}-W{week:02d}"

    return label


def _month_label(tz: dt.tzinfo) -> Callable[[Candidate], str]:
    return lambda c: _local(c, tz).strftime("%Y-%m")


def _human_age(age: dt.timedelta) -> str:
    hours = age.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.1f}h"
    return f"{hours / 24:.1f}d"
