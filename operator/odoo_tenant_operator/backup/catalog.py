"""The catalog: what backups a target holds and the state of each.

``classify`` is pure: from a backup's stored objects and its manifest (bytes or
absent) it decides the status:

- ``complete``: a valid manifest marked complete, every listed part present with
  the listed size;
- ``incomplete``: no manifest, or a manifest not marked complete (a running or
  failed backup). Never "the latest", never counted by retention;
- ``damaged``: a manifest that cannot be trusted (unparseable) or parts missing
  or of the wrong size. It was meant to be complete, so it still competes for
  "latest": a verify or restore test of the newest backup must fail loudly
  rather than silently fall back to an older one.

``load`` does the I/O (listing, reading manifests) around it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

from odoo_tenant_operator.backup import errors, ids
from odoo_tenant_operator.backup.manifest import MANIFEST_NAME, Manifest, ManifestError, parse_manifest
from odoo_tenant_operator.backup.storage import BackupStore, StoredObject, read_small

COMPLETE = "complete"
INCOMPLETE = "incomplete"
DAMAGED = "damaged"


@dataclasses.dataclass(frozen=True)
class BackupEntry:
    backup_id: str
    status: str
    detail: str
    time: dt.datetime
    last_activity: dt.datetime
    stored_bytes: int
    names: tuple[str, ...]
    manifest: Manifest | None

    @property
    def counts_as_finished(self) -> bool:
        return self.status in (COMPLETE, DAMAGED)


def classify(backup_id: str, objects: Sequence[StoredObject], manifest_data: bytes | None) -> BackupEntry:
    id_time = ids.parse_backup_id(backup_id)
    if id_time is None:
        raise ValueError(f"not a backup id: {backup_id!r}")
    sizes: Mapping[str, int] = {o.name: o.size for o in objects if o.name}
    last_activity = max([o.modified for o in objects] + [id_time])

    def entry(status: str, detail: str, time: dt.datetime, manifest: Manifest | None) -> BackupEntry:
        return BackupEntry(
            backup_id=backup_id,
            status=status,
            detail=detail,
            time=time,
            last_activity=last_activity,
            stored_bytes=sum(sizes.values()),
            names=tuple(sorted(o.name for o in objects)),
            manifest=manifest,
        )

    if manifest_data is None:
        return entry(INCOMPLETE, "no manifest (unfinished or failed backup)", id_time, None)
    try:
        manifest = parse_manifest(manifest_data, backup_id)
    except ManifestError as exc:
        return entry(DAMAGED, str(exc), id_time, None)
    if not manifest.complete:
        return entry(INCOMPLETE, f"manifest marks it {manifest.status}", manifest.started_at, manifest)
    problems = []
    for part in manifest.parts:
        if part.name not in sizes:
            problems.append(f"part {part.name} is missing")
        elif sizes[part.name] != part.size:
            problems.append(f"part {part.name} is {sizes[part.name]} bytes, manifest says {part.size}")
    return entry(DAMAGED if problems else COMPLETE, "; ".join(problems), manifest.started_at, manifest)


def load(store: BackupStore) -> list[BackupEntry]:
    """Every backup on the target, newest first."""
    grouped: dict[str, list[StoredObject]] = {}
    for obj in store.list_objects():
        grouped.setdefault(obj.backup_id, []).append(obj)
    entries = []
    for backup_id, objects in grouped.items():
        has_manifest = any(o.name == MANIFEST_NAME for o in objects)
        data: bytes | None = None
        if has_manifest:
            try:
                data = read_small(store, backup_id, MANIFEST_NAME)
            except errors.BackupCorrupted as exc:
                # Listed a moment ago but unreadable now: damaged, or deleted meanwhile.
                data = f"unreadable: {exc.message}".encode()
        entries.append(classify(backup_id, objects, data))
    return sorted(entries, key=lambda e: (e.time, e.backup_id), reverse=True)


def latest(entries: Sequence[BackupEntry]) -> BackupEntry:
    """The newest backup that finished (complete or damaged); NoCompleteBackup if none."""
    for entry in sorted(entries, key=lambda e: (e.time, e.backup_id), reverse=True):
        if entry.counts_as_finished:
            return entry
    raise errors.NoCompleteBackup(
        "no complete backup found"
        + (f" ({len(entries)} incomplete backup(s) present)" if entries else " (the target holds no backups)")
    )


def find(entries: Sequence[BackupEntry], backup_id: str) -> BackupEntry:
    for entry in entries:
        if entry.backup_id == backup_id:
            return entry
    raise errors.NoCompleteBackup(f"backup {backup_id} not found")
