"""The backup manifest: building, (de)serialising, validating and comparing. Pure, no I/O.

``manifest.json`` is the last object written for a backup and the only thing that
makes it complete: it lists every part with its size and sha256, the per-table
row counts taken in the same snapshot as the dump, and the filestore's file
count, byte count and content digest. ``verify`` and ``restore-test`` judge a
backup only against its manifest, so everything they compare is here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from odoo_tenant_operator.backup import ids

FORMAT = "odoo-tenant-backup/v1"
STATUS_COMPLETE = "complete"
MANIFEST_NAME = "manifest.json"
DATABASE_PART = "database.dump"
FILESTORE_PART = "filestore.tar.gz"
REQUIRED_PARTS = (DATABASE_PART, FILESTORE_PART)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The manifest is unreadable or inconsistent; the backup must not be trusted."""


@dataclasses.dataclass(frozen=True)
class PartRecord:
    """One stored object of a backup, as written."""

    name: str
    size: int
    sha256: str
    content: str


@dataclasses.dataclass(frozen=True)
class DatabaseRecord:
    """What was dumped, and the row counts a restore must reproduce."""

    name: str
    server_version: str
    server_version_num: int
    size_bytes: int
    pg_dump_version: str
    # "snapshot": counted in the transaction whose exported snapshot pg_dump used,
    # so the counts are exactly what the dump holds even while Odoo keeps writing.
    row_counts_taken: str
    encoding: str
    tables: Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class FilestoreRecord:
    """What the filestore tar holds: regular files, their bytes and a content digest."""

    path: str
    files: int
    bytes: int
    digest: str
    # Entries not archived: files that vanished between listing and reading (Odoo's
    # garbage collector) and anything that is not a regular file or directory.
    skipped: int


@dataclasses.dataclass(frozen=True)
class Manifest:
    backup_id: str
    tenant: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime
    tool_version: str
    database: DatabaseRecord
    filestore: FilestoreRecord
    parts: tuple[PartRecord, ...]
    object_lock_until: dt.datetime | None = None
    format: str = FORMAT

    @property
    def complete(self) -> bool:
        return self.status == STATUS_COMPLETE

    @property
    def stored_bytes(self) -> int:
        return sum(part.size for part in self.parts)

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def part(self, name: str) -> PartRecord | None:
        for part in self.parts:
            if part.name == name:
                return part
        return None


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    return {
        "format": manifest.format,
        "backup_id": manifest.backup_id,
        "tenant": manifest.tenant,
        "status": manifest.status,
        "started_at": ids.format_time(manifest.started_at),
        "finished_at": ids.format_time(manifest.finished_at),
        "duration_seconds": round(manifest.duration_seconds, 3),
        "tool": {"name": "odoo-tenant-backup", "version": manifest.tool_version},
        "object_lock_until": (ids.format_time(manifest.object_lock_until) if manifest.object_lock_until else None),
        "database": {
            "name": manifest.database.name,
            "server_version": manifest.database.server_version,
            "server_version_num": manifest.database.server_version_num,
            "size_bytes": manifest.database.size_bytes,
            "pg_dump_version": manifest.database.pg_dump_version,
            "row_counts_taken": manifest.database.row_counts_taken,
            "encoding": manifest.database.encoding,
            "tables": dict(sorted(manifest.database.tables.items())),
        },
        "filestore": {
            "path": manifest.filestore.path,
            "files": manifest.filestore.files,
            "bytes": manifest.filestore.bytes,
            "digest": manifest.filestore.digest,
            "skipped": manifest.filestore.skipped,
        },
        "parts": [{"name": p.name, "size": p.size, "sha256": p.sha256, "content": p.content} for p in manifest.parts],
    }


def manifest_to_json(manifest: Manifest) -> bytes:
    problems = validate_manifest(manifest)
    if problems:
        raise ManifestError("refusing to write an invalid manifest: " + "; ".join(problems))
    return (json.dumps(manifest_to_dict(manifest), indent=2) + "\n").encode()


def parse_manifest(data: bytes, expected_backup_id: str) -> Manifest:
    """Parse and validate ``manifest.json`` of ``expected_backup_id``; raise ManifestError if unusable."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ManifestError("manifest is not a JSON object")
    try:
        if raw.get("format") != FORMAT:
            raise ManifestError(f"unknown manifest format {raw.get('format')!r} (expected {FORMAT!r})")
        db = _dict(raw, "database")
        fs = _dict(raw, "filestore")
        tables = _dict(db, "tables")
        lock = raw.get("object_lock_until")
        manifest = Manifest(
            backup_id=_str(raw, "backup_id"),
            tenant=_str(raw, "tenant"),
            status=_str(raw, "status"),
            started_at=ids.parse_time(_str(raw, "started_at")),
            finished_at=ids.parse_time(_str(raw, "finished_at")),
            tool_version=_str(_dict(raw, "tool"), "version"),
            object_lock_until=ids.parse_time(lock) if isinstance(lock, str) else None,
            database=DatabaseRecord(
                name=_str(db, "name"),
                server_version=_str(db, "server_version"),
                server_version_num=_int(db, "server_version_num"),
                size_bytes=_int(db, "size_bytes"),
                pg_dump_version=_str(db, "pg_dump_version"),
                row_counts_taken=_str(db, "row_counts_taken"),
                encoding=_str(db, "encoding"),
                tables={str(name): _int(tables, name) for name in tables},
            ),
            filestore=FilestoreRecord(
                path=_str(fs, "path"),
                files=_int(fs, "files"),
                bytes=_int(fs, "bytes"),
                digest=_str(fs, "digest"),
                skipped=_int(fs, "skipped"),
            ),
            parts=tuple(_part(p) for p in _list(raw, "parts")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"manifest is malformed: {exc}") from exc
    problems = validate_manifest(manifest)
    if manifest.backup_id != expected_backup_id:
        problems.append(f"manifest names backup {manifest.backup_id!r}, stored under {expected_backup_id!r}")
    if problems:
        raise ManifestError("manifest is inconsistent: " + "; ".join(problems))
    return manifest


def validate_manifest(manifest: Manifest) -> list[str]:
    """Everything wrong with a manifest, as readable sentences (empty when it is sound)."""
    problems: list[str] = []
    if not ids.is_backup_id(manifest.backup_id):
        problems.append(f"backup id {manifest.backup_id!r} is not a backup id")
    if manifest.finished_at < manifest.started_at:
        problems.append("finished_at is before started_at")
    names = [p.name for p in manifest.parts]
    for required in REQUIRED_PARTS:
        if required not in names:
            problems.append(f"part {required} is missing")
    if len(set(names)) != len(names):
        problems.append("a part is listed twice")
    for part in manifest.parts:
        if part.size < 0:
            problems.append(f"part {part.name} has a negative size")
        if not _SHA256_RE.match(part.sha256):
            problems.append(f"part {part.name} has no valid sha256")
    if manifest.filestore.files < 0 or manifest.filestore.bytes < 0:
        problems.append("filestore counts are negative")
    if not _SHA256_RE.match(manifest.filestore.digest):
        problems.append("filestore digest is not a sha256")
    for table, rows in manifest.database.tables.items():
        if rows < 0:
            problems.append(f"table {table} has a negative row count")
    return problems


def check_part(record: PartRecord, size: int, sha256: str) -> str | None:
    """Why a re-read part does not match its manifest record, or None if it does."""
    if size != record.size:
        return f"part {record.name}: read {size} bytes, manifest says {record.size}"
    if sha256 != record.sha256:
        return f"part {record.name}: sha256 {sha256} does not match the manifest's {record.sha256}"
    return None


def compare_tables(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    """Tables missing after a restore, and tables whose row count differs from the manifest."""
    problems = [f"table {name} is missing" for name in sorted(set(expected) - set(actual))]
    problems += [
        f"table {name} has {actual[name]} rows, manifest says {rows}"
        for name, rows in sorted(expected.items())
        if name in actual and actual[name] != rows
    ]
    # A restored table the dump did not announce means the counts were taken from
    # another state than the dump: as untrustworthy as a missing one.
    problems += [f"table {name} is not in the manifest" for name in sorted(set(actual) - set(expected))]
    return problems


def compare_filestore(expected: FilestoreRecord, files: int, size: int, digest: str) -> list[str]:
    problems = []
    if files != expected.files:
        problems.append(f"filestore has {files} files, manifest says {expected.files}")
    if size != expected.bytes:
        problems.append(f"filestore has {size} bytes, manifest says {expected.bytes}")
    if digest != expected.digest:
        problems.append("filestore content digest differs from the manifest")
    return problems


def _part(raw: Any) -> PartRecord:
    if not isinstance(raw, dict):
        raise ManifestError("a part entry is not an object")
    return PartRecord(
        name=_str(raw, "name"),
        size=_int(raw, "size"),
        sha256=_str(raw, "sha256"),
        content=_str(raw, "content"),
    )


def _dict(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw[key]
    if not isinstance(value, dict):
        raise ManifestError(f"{key} is not an object")
    return value


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw[key]
    if not isinstance(value, list):
        raise ManifestError(f"{key} is not a list")
    return value


def _str(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise ManifestError(f"{key} is not a string")
    return value


def _int(raw: Mapping[str, Any], key: str) -> int:
    value = raw[key]
    # bool is an int subclass; a true/false count is a broken manifest.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestError(f"{key} is not an integer")
    return value
