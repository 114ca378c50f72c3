"""Backup ids, timestamps and derived names: pure functions, no I/O.

A backup id is the UTC start time plus a short random suffix,
``20261203T184200Z-3f9a``: ids sort in time order as plain strings, carry their
own age (so an incomplete backup without a manifest can still be aged out), and
two runs started in the same second do not collide. Anything under the backup
root that does not parse as an id is not ours and is never listed or deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

_ID_TIME, _ID_SUFFIX = r"\d{8}T\d{6}Z", r"[0-9a-f]{4,16}"
_ID_RE = re.compile(rf"^({_ID_TIME})-({_ID_SUFFIX})$")
_ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# PostgreSQL truncates identifiers at 63 bytes (NAMEDATALEN - 1).
_PG_MAX_IDENTIFIER = 63


def new_backup_id(started_at: dt.datetime, suffix: str) -> str:
    """The id of a backup started at ``started_at`` (timezone-aware) with a random hex ``suffix``."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    if not re.fullmatch(r"[0-9a-f]{4,16}", suffix):
        raise ValueError(f"suffix must be 4-16 lowercase hex digits, got {suffix!r}")
    return f"{started_at.astimezone(dt.UTC).strftime(_ID_TIME_FORMAT)}-{suffix}"


def is_backup_id(value: str) -> bool:
    return parse_backup_id(value) is not None


def parse_backup_id(value: str) -> dt.datetime | None:
    """The UTC start time encoded in a backup id, or None if ``value`` is not a backup id."""
    match = _ID_RE.match(value)
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match.group(1), _ID_TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix and microseconds dropped (manifest and JSON output)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp (as written by ``format_time``) into an aware UTC datetime."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(dt.UTC)


def database_tag(database: str) -> str:
    """8 hex digits of the database name's sha256: tells apart databases whose names lowercase or
    truncate alike (``Shop`` and ``shop``, two long names sharing 40 characters)."""
    return hashlib.sha256(database.encode()).hexdigest()[:8]


def scratch_database_name(database: str, backup_id: str) -> str:
    """The scratch database a restore test of ``backup_id`` uses: ``<db>_restoretest_<tag>_<id>``.

    Lowercase (an unquoted-looking name is friendlier in psql) and cut to PostgreSQL's
    identifier limit by shortening the database part, never the tag or id, so two backups
    or two databases never share a scratch name and the name never equals ``database``.
    """
    tail = f"_restoretest_{database_tag(database)}_" + backup_id.lower().replace("-", "_")
    head = database.lower()
    room = _PG_MAX_IDENTIFIER - len(tail.encode())
    while len(head.encode()) > room:
        head = head[:-1]
    return head + tail


_SCRATCH_DB_RE = re.compile(r".*_restoretest_[0-9a-f]{8}_(\d{8})t(\d{6})z_([0-9a-f]{4,16})")


def is_scratch_database_of(name: str, database: str) -> bool:
    """Whether ``name`` is exactly what a restore test of some backup of ``database`` creates."""
    match = _SCRATCH_DB_RE.fullmatch(name)
    if match is None or name == database:
        return False
    backup_id = f"{match.group(1)}T{match.group(2)}Z-{match.group(3)}"
    return is_backup_id(backup_id) and scratch_database_name(database, backup_id) == name


def scratch_directory_prefix(database: str, backup_id: str) -> str:
    return f"restoretest-{database_tag(database)}-{backup_id}-"


def is_scratch_directory_of(name: str, database: str) -> bool:
    """Whether ``name`` is a directory a restore test of some backup of ``database`` created."""
    match = re.fullmatch(rf"restoretest-{database_tag(database)}-({_ID_TIME}-{_ID_SUFFIX})-[^/]+", name)
    return match is not None and is_backup_id(match.group(1))
