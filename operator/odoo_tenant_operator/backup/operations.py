"""What each subcommand does, as a straight sequence of steps returning a result value.

Each ``run_*`` function takes a target, the settings it needs, a ``log`` callable
for progress lines and a ``clock``; it returns a frozen result (printed by
``cli`` as text or JSON) or raises one of ``errors``' types. Nothing here parses
arguments or prints directly.

Safety rules kept here:
- a backup writes its parts under a fresh, reserved id and its manifest last; if
  anything fails it deletes what it wrote under *that id only* and re-raises;
- verify and restore-test only read the target; restore-test writes only to its
  own scratch database and scratch directory, and removes both;
- prune decides with the pure ``retention`` rules, skips locked backups, checks the
  checksums of the newest backup it keeps before removing any other, and deletes
  nothing when asked for a dry run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import io
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from odoo_tenant_operator.backup import catalog, errors, filestore, ids, postgres, retention
from odoo_tenant_operator.backup.manifest import (
    DATABASE_PART,
    FILESTORE_PART,
    MANIFEST_NAME,
    STATUS_COMPLETE,
    DatabaseRecord,
    FilestoreRecord,
    Manifest,
    PartRecord,
    check_part,
    compare_filestore,
    compare_tables,
    manifest_to_json,
)
from odoo_tenant_operator.backup.storage import BackupStore
from odoo_tenant_operator.backup.streams import HashingReader, ThreadPipe

Log = Callable[[str], None]
Clock = Callable[[], dt.datetime]
MB = 1_000_000


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def tool_version() -> str:
    try:
        return importlib.metadata.version("odoo-tenant-operator")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _rate(size: int, seconds: float) -> float:
    return round(size / MB / seconds, 2) if seconds > 0 else 0.0


# --- backup ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BackupSettings:
    tenant: str
    filestore: Path
    # 1: most of deflate's gain at a third of level 6's CPU (see compression.py).
    compression_level: int = 1


@dataclasses.dataclass(frozen=True)
class BackupResult:
    manifest: Manifest
    target: str
    duration_seconds: float
    source_bytes: int

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "result": "backup",
            "backup_id": m.backup_id,
            "tenant": m.tenant,
            "target": self.target,
            "started_at": ids.format_time(m.started_at),
            "finished_at": ids.format_time(m.finished_at),
            "duration_seconds": round(self.duration_seconds, 3),
            "source_bytes": self.source_bytes,
            "stored_bytes": m.stored_bytes,
            "throughput_mb_per_s": _rate(self.source_bytes, self.duration_seconds),
            "tables": len(m.database.tables),
            "rows": sum(m.database.tables.values()),
            "filestore_files": m.filestore.files,
            "filestore_bytes": m.filestore.bytes,
            "object_lock_until": ids.format_time(m.object_lock_until) if m.object_lock_until else None,
            "parts": [dataclasses.asdict(p) for p in m.parts],
        }


def run_backup(
    store: BackupStore,
    pg: postgres.PgSettings,
    settings: BackupSettings,
    log: Log,
    clock: Clock = utc_now,
) -> BackupResult:
    t0 = time.monotonic()
    started = clock()
    store.check()
    lock_until = store.prepare_write(started)
    for notice in store.notices:
        log(f"warning: {notice}")
    if not settings.filestore.is_dir():
        raise errors.SourceFailed(
            f"filestore {settings.filestore} does not exist or is not a directory (check FILESTORE_PATH)"
        )
    pg_dump_version = postgres.client_version(pg, "pg_dump")
    fs_files, fs_bytes = filestore.measure(settings.filestore)

    # The database is read first: files Odoo adds afterwards are harmless orphans in
    # the tar, while the reverse order could miss files the dump references.
    # From the moment an id is reserved, any failure or signal (SIGTERM arrives between any two
    # statements, the snapshot session's exit included) removes that backup's own objects.
    backup_id: str | None = None
    try:
        with postgres.SnapshotSession(pg) as session:
            info = session.server_info()
            counts = session.table_row_counts()
            log(
                f"database {info.database} (PostgreSQL {info.server_version}, {info.size_bytes / MB:.1f} MB, "
                f"{len(counts)} tables, {sum(counts.values())} rows) in snapshot {session.snapshot}"
            )
            backup_id = _reserve_new_id(store, started)
            log(f"backup {backup_id} -> {store.describe()}")
            with postgres.dump(pg, session.snapshot, settings.compression_level) as dump_stream:
                store.put(backup_id, DATABASE_PART, dump_stream, size_hint=info.size_bytes)
            db_part = PartRecord(DATABASE_PART, dump_stream.bytes_read, dump_stream.sha256, "pg_dump --format=custom")
            log(f"  {DATABASE_PART}: {db_part.size / MB:.1f} MB sha256 {db_part.sha256}")
        log(f"  filestore {settings.filestore}: {fs_files} files, {fs_bytes / MB:.1f} MB")
        fs_part, tree = _upload_filestore(store, backup_id, settings, fs_bytes, log)
        log(f"  {FILESTORE_PART}: {fs_part.size / MB:.1f} MB sha256 {fs_part.sha256}")
        manifest = Manifest(
            backup_id=backup_id,
            tenant=settings.tenant,
            status=STATUS_COMPLETE,
            started_at=started,
            finished_at=clock(),
            tool_version=tool_version(),
            object_lock_until=lock_until,
            database=DatabaseRecord(
                name=info.database,
                server_version=info.server_version,
                server_version_num=info.server_version_num,
                size_bytes=info.size_bytes,
                pg_dump_version=pg_dump_version,
                row_counts_taken="snapshot",
                encoding=info.encoding,
                tables=counts,
            ),
            filestore=FilestoreRecord(
                path=str(settings.filestore),
                files=tree.files,
                bytes=tree.bytes,
                digest=tree.digest,
                skipped=tree.skipped,
            ),
            parts=(db_part, fs_part),
        )
        # Last write: from here on the backup exists for list, verify, restore-test and prune.
        store.put(backup_id, MANIFEST_NAME, io.BytesIO(manifest_to_json(manifest)), size_hint=None)
    except BaseException:
        if backup_id is not None:
            _discard(store, backup_id, log)
        raise
    duration = time.monotonic() - t0
    log(f"backup {backup_id} complete in {duration:.1f}s")
    return BackupResult(manifest, store.describe(), duration, info.size_bytes + tree.bytes)


def _reserve_new_id(store: BackupStore, started: dt.datetime) -> str:
    for _ in range(5):
        backup_id = ids.new_backup_id(started, secrets.token_hex(2))
        try:
            store.reserve(backup_id)
            return backup_id
        except FileExistsError:
            continue
    raise errors.BackupError("could not find an unused backup id after 5 attempts")


def _upload_filestore(
    store: BackupStore, backup_id: str, settings: BackupSettings, size_hint: int, log: Log
) -> tuple[PartRecord, filestore.TreeStats]:
    results: list[filestore.TreeStats] = []

    def produce(sink: Any) -> None:
        results.append(filestore.write_tar(settings.filestore, sink, settings.compression_level, log))

    pipe = ThreadPipe(produce, name="filestore-tar")
    reader = HashingReader(pipe)
    try:
        store.put(backup_id, FILESTORE_PART, reader, size_hint=size_hint + (1 << 20))
    finally:
        pipe.close()
    pipe.check()
    content = f"tar (pax), gzip level {settings.compression_level} (multi-member, incompressible files stored)"
    return PartRecord(FILESTORE_PART, reader.bytes_read, reader.sha256, content), results[0]


def _discard(store: BackupStore, backup_id: str, log: Log) -> None:
    """Best-effort removal of a failed backup's own objects; never touches another id."""
    try:
        store.delete_backup(backup_id, [MANIFEST_NAME, DATABASE_PART, FILESTORE_PART])
        log(f"removed the partial backup {backup_id}")
    except Exception as exc:  # noqa: BLE001 - the original failure matters more; this one is logged
        log(
            f"warning: could not remove the partial backup {backup_id} ({exc}); it has no manifest, "
            "is never used as a backup, and prune removes it once it is old enough"
        )


# --- list ------------------------------------------------------------------------------------


def entry_to_dict(entry: catalog.BackupEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "backup_id": entry.backup_id,
        "time": ids.format_time(entry.time),
        "status": entry.status,
        "detail": entry.detail,
        "size_bytes": entry.stored_bytes,
    }
    if entry.manifest is not None:
        m = entry.manifest
        out.update(
            {
                "finished_at": ids.format_time(m.finished_at),
                "database": m.database.name,
                "tables": len(m.database.tables),
                "rows": sum(m.database.tables.values()),
                "filestore_files": m.filestore.files,
                "filestore_bytes": m.filestore.bytes,
                "object_lock_until": ids.format_time(m.object_lock_until) if m.object_lock_until else None,
            }
        )
    return out


def run_list(store: BackupStore) -> list[catalog.BackupEntry]:
    store.check()
    return catalog.load(store)


# --- verify ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    backup_id: str
    parts: tuple[PartRecord, ...]
    bytes_read: int
    duration_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "verify",
            "backup_id": self.backup_id,
            "ok": True,
            "parts": [dataclasses.asdict(p) for p in self.parts],
            "bytes_read": self.bytes_read,
            "duration_seconds": round(self.duration_seconds, 3),
            "throughput_mb_per_s": _rate(self.bytes_read, self.duration_seconds),
        }


def _select(store: BackupStore, backup_id: str | None) -> tuple[catalog.BackupEntry, Manifest]:
    entries = catalog.load(store)
    entry = catalog.find(entries, backup_id) if backup_id else catalog.latest(entries)
    if entry.status == catalog.INCOMPLETE:
        raise errors.NoCompleteBackup(f"backup {entry.backup_id} is incomplete: {entry.detail}")
    if entry.manifest is None:
        raise errors.BackupCorrupted(f"backup {entry.backup_id}: {entry.detail}")
    return entry, entry.manifest


def run_verify(store: BackupStore, backup_id: str | None, log: Log) -> VerifyResult:
    t0 = time.monotonic()
    store.check()
    entry, manifest = _select(store, backup_id)
    log(f"verifying backup {entry.backup_id} on {store.describe()}")
    problems, total = _checksum_problems(store, entry.backup_id, manifest, log)
    if problems:
        raise errors.BackupCorrupted(f"backup {entry.backup_id} is corrupted: " + "; ".join(problems))
    return VerifyResult(entry.backup_id, manifest.parts, total, time.monotonic() - t0)


def _checksum_problems(store: BackupStore, backup_id: str, manifest: Manifest, log: Log) -> tuple[list[str], int]:
    """Re-read every part; what does not match the manifest, and how many bytes were read."""
    problems: list[str] = []
    total = 0
    for part in manifest.parts:
        try:
            with store.open(backup_id, part.name) as source:
                reader = HashingReader(source)
                reader.drain()
        except errors.BackupCorrupted as exc:
            problems.append(exc.message)
            continue
        total += reader.bytes_read
        problem = check_part(part, reader.bytes_read, reader.sha256)
        log(f"  {part.name}: {reader.bytes_read} bytes, sha256 {'OK' if problem is None else 'MISMATCH'}")
        if problem:
            problems.append(problem)
    return problems, total


# --- restore-test ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RestoreTestResult:
    backup_id: str
    backup_time: dt.datetime
    scratch_database: str
    duration_seconds: float
    stored_bytes: int
    restored_bytes: int
    tables: int
    rows: int
    filestore_files: int
    filestore_bytes: int
    rto_seconds: float | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "restore-test",
            "ok": self.ok,
            "backup_id": self.backup_id,
            "backup_time": ids.format_time(self.backup_time),
            "scratch_database": self.scratch_database,
            "duration_seconds": round(self.duration_seconds, 3),
            "stored_bytes": self.stored_bytes,
            "restored_bytes": self.restored_bytes,
            "throughput_mb_per_s": _rate(self.stored_bytes, self.duration_seconds),
            "restored_mb_per_s": _rate(self.restored_bytes, self.duration_seconds),
            "tables": self.tables,
            "rows": self.rows,
            "filestore_files": self.filestore_files,
            "filestore_bytes": self.filestore_bytes,
            "rto_seconds": self.rto_seconds,
            "rto_met": None if self.rto_seconds is None else self.duration_seconds <= self.rto_seconds,
            "problems": list(self.problems),
        }


def run_restore_test(
    store: BackupStore,
    pg: postgres.PgSettings,
    backup_id: str | None,
    scratch_parent: Path | None,
    rto_seconds: float | None,
    log: Log,
) -> RestoreTestResult:
    t0 = time.monotonic()
    store.check()
    entry, manifest = _select(store, backup_id)
    if entry.status == catalog.DAMAGED:
        raise errors.BackupCorrupted(f"backup {entry.backup_id} is damaged: {entry.detail}")
    scratch_db = ids.scratch_database_name(manifest.database.name, entry.backup_id)
    # Admin statements run from the tenant database (the one the backup user may
    # surely connect to), never from the scratch database they create and drop.
    admin = dataclasses.replace(pg, database=pg.database or manifest.database.name)
    if scratch_db == admin.database:
        raise errors.ConfigError(f"scratch database name {scratch_db} equals the connection database")
    if scratch_parent is not None and not scratch_parent.is_dir():
        raise errors.ConfigError(f"RESTORE_SCRATCH_DIR {scratch_parent} does not exist")
    # One restore test per database at a time: two would drop each other's scratch copies and report
    # the wreckage as a broken backup. Holding the lock, anything left by a killed run is stale.
    # Advisory locks belong to the database a session is connected to: always take it in the backed-up
    # database itself, whatever PGDATABASE says, so every run of it meets the same lock.
    lock = postgres.AdvisoryLock(
        dataclasses.replace(pg, database=manifest.database.name),
        f"odoo-tenant-backup restore-test {manifest.database.name}",
        f"another restore test of database {manifest.database.name} is running on {admin.describe()}; "
        "not starting a second one (the CronJob's concurrencyPolicy Forbid keeps scheduled runs apart, "
        "a manual Job does not)",
    )
    with lock:
        _remove_stale_scratch(admin, manifest.database.name, scratch_parent, log)
        return _restore_test_locked(store, admin, entry, manifest, scratch_db, scratch_parent, rto_seconds, log, t0)


def _remove_stale_scratch(admin: postgres.PgSettings, database: str, scratch_parent: Path | None, log: Log) -> None:
    """Drop the scratch databases and directories that killed restore tests of ``database`` left.

    Only names this tool makes for exactly this database (its tag and a backup id) are touched.
    """
    candidates = postgres.run_sql(
        admin,
        "SELECT datname FROM pg_database WHERE position('_restoretest_' in datname) > 0",
        what="listing stale scratch databases",
    )
    for name in candidates.splitlines():
        if not ids.is_scratch_database_of(name, database):
            continue
        log(f"dropping the scratch database {name} left by an interrupted restore test")
        try:
            postgres.run_sql(
                admin, f"DROP DATABASE IF EXISTS {postgres.quote_ident(name)} WITH (FORCE)", what="dropping it"
            )
        except errors.BackupError as exc:
            # Not ours to drop (another owner): it costs space, not correctness; this run uses its own name.
            log(f"warning: could not drop {name}: {exc.message}")
    parent = scratch_parent or Path(tempfile.gettempdir())
    for directory in parent.iterdir():
        if ids.is_scratch_directory_of(directory.name, database) and not directory.is_symlink() and directory.is_dir():
            log(f"removing the scratch directory {directory} left by an interrupted restore test")
            shutil.rmtree(directory, ignore_errors=True)


def _restore_test_locked(
    store: BackupStore,
    admin: postgres.PgSettings,
    entry: catalog.BackupEntry,
    manifest: Manifest,
    scratch_db: str,
    scratch_parent: Path | None,
    rto_seconds: float | None,
    log: Log,
    t0: float,
) -> RestoreTestResult:
    log(f"restore test of backup {entry.backup_id} into database {scratch_db}")
    quoted = postgres.quote_ident(scratch_db)
    postgres.run_sql(
        admin,
        f"CREATE DATABASE {quoted} TEMPLATE template0 ENCODING {postgres.quote_literal(manifest.database.encoding)} "
        "LC_COLLATE 'C' LC_CTYPE 'C'",
        what="creating the scratch database",
    )
    try:
        prefix = ids.scratch_directory_prefix(manifest.database.name, entry.backup_id)
        scratch_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_parent))
    except OSError as exc:
        postgres.run_sql(admin, f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)", what="dropping the scratch database")
        raise errors.ConfigError(f"cannot create a scratch directory: {exc}") from exc
    try:
        _restore_parts(store, admin, entry.backup_id, manifest, scratch_db, scratch_dir, log)
        counts = postgres.table_row_counts(admin, scratch_db)
        problems = compare_tables(manifest.database.tables, counts)
        tree = filestore.digest_tree(scratch_dir)
        problems += compare_filestore(manifest.filestore, tree.files, tree.bytes, tree.digest)
        duration = time.monotonic() - t0
        if rto_seconds is not None and duration > rto_seconds:
            problems.append(f"restore took {duration:.1f}s, above the RTO of {rto_seconds:g}s")
    finally:
        try:
            postgres.run_sql(
                admin, f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)", what="dropping the scratch database"
            )
        except errors.BackupError as exc:
            log(f"warning: could not drop the scratch database {scratch_db}: {exc.message}")
        shutil.rmtree(scratch_dir, ignore_errors=True)
    log(
        f"restored {len(counts)} tables, {sum(counts.values())} rows, {tree.files} files "
        f"({tree.bytes / MB:.1f} MB) in {duration:.1f}s"
    )
    return RestoreTestResult(
        backup_id=entry.backup_id,
        backup_time=manifest.started_at,
        scratch_database=scratch_db,
        duration_seconds=duration,
        stored_bytes=manifest.stored_bytes,
        restored_bytes=manifest.database.size_bytes + tree.bytes,
        tables=len(counts),
        rows=sum(counts.values()),
        filestore_files=tree.files,
        filestore_bytes=tree.bytes,
        rto_seconds=rto_seconds,
        problems=tuple(problems),
    )


def _restore_parts(
    store: BackupStore,
    pg: postgres.PgSettings,
    backup_id: str,
    manifest: Manifest,
    scratch_db: str,
    scratch_dir: Path,
    log: Log,
) -> None:
    """Restore the dump and extract the filestore concurrently; check both checksums.

    A checksum mismatch wins over any other error: pg_restore choking on a
    corrupted dump is a corrupted backup, not a failed restore.
    """

    def restore_database() -> tuple[HashingReader, postgres.RestoreOutcome]:
        with store.open(backup_id, DATABASE_PART) as source:
            reader = HashingReader(source)
            outcome = postgres.restore(pg, scratch_db, reader)
        return reader, outcome

    def extract_filestore() -> tuple[HashingReader, errors.BackupError | None]:
        with store.open(backup_id, FILESTORE_PART) as source:
            reader = HashingReader(source)
            failure: errors.BackupError | None = None
            try:
                filestore.extract_tar(reader, scratch_dir)
            except (errors.BackupCorrupted, errors.NoSpace) as exc:
                failure = exc
            # The tar ends before the gzip trailer and any padding: read it all for the checksum.
            reader.drain()
        return reader, failure

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="restore") as pool:
        db_future: Future[tuple[HashingReader, postgres.RestoreOutcome]] = pool.submit(restore_database)
        fs_future: Future[tuple[HashingReader, errors.BackupError | None]] = pool.submit(extract_filestore)
        db_error = db_future.exception()
        fs_error = fs_future.exception()
    for error in (db_error, fs_error):
        if error is not None:
            raise error
    db_reader, outcome = db_future.result()
    fs_reader, fs_failure = fs_future.result()
    mismatches = [
        problem
        for part_name, reader in ((DATABASE_PART, db_reader), (FILESTORE_PART, fs_reader))
        if (record := manifest.part(part_name)) is not None
        and (problem := check_part(record, reader.bytes_read, reader.sha256)) is not None
    ]
    if mismatches:
        raise errors.BackupCorrupted(f"backup {backup_id} is corrupted: " + "; ".join(mismatches))
    log(f"  checksums of {DATABASE_PART} and {FILESTORE_PART} match the manifest")
    if outcome.returncode != 0:
        raise postgres.classify_failure(
            outcome.stderr,
            "pg_restore into the scratch database",
            pg.describe(scratch_db),
            default=errors.RestoreCheckFailed,
        )
    if fs_failure is not None:
        raise fs_failure


# --- prune -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PruneItem:
    backup_id: str
    status: str
    time: dt.datetime
    size_bytes: int
    action: str  # keep | remove | removed | skip | failed
    reasons: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PruneResult:
    items: tuple[PruneItem, ...]
    dry_run: bool
    failures: tuple[errors.BackupError, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "prune",
            "dry_run": self.dry_run,
            "ok": not self.failures,
            "items": [
                {
                    "backup_id": i.backup_id,
                    "status": i.status,
                    "time": ids.format_time(i.time),
                    "size_bytes": i.size_bytes,
                    "action": i.action,
                    "reasons": list(i.reasons),
                }
                for i in self.items
            ],
        }


def run_prune(
    store: BackupStore,
    policy: retention.Policy,
    incomplete_max_age: dt.timedelta,
    tz: dt.tzinfo,
    dry_run: bool,
    log: Log,
    clock: Clock = utc_now,
) -> PruneResult:
    if policy.empty:
        raise errors.ConfigError(
            "no retention policy: set at least one of BACKUP_KEEP_LAST, BACKUP_KEEP_HOURLY, BACKUP_KEEP_DAILY, "
            "BACKUP_KEEP_WEEKLY, BACKUP_KEEP_MONTHLY, BACKUP_KEEP_YEARLY above 0 (or the --keep-* flags)"
        )
    store.check()
    now = clock()
    entries = {e.backup_id: e for e in catalog.load(store)}

    def plan() -> list[retention.Decision]:
        decisions = retention.select_complete(
            [retention.Candidate(e.backup_id, e.time) for e in entries.values() if e.status == catalog.COMPLETE],
            policy,
            tz,
        )
        decisions += retention.select_incomplete(
            [retention.Candidate(e.backup_id, e.last_activity) for e in entries.values()
             if e.status == catalog.INCOMPLETE],
            now,
            incomplete_max_age,
        )  # fmt: skip
        decisions += [
            retention.Decision(e.backup_id, True, (f"damaged, kept for inspection: {e.detail}",))
            for e in entries.values()
            if e.status == catalog.DAMAGED
        ]
        return decisions

    decisions = plan()
    # Sizes can match while bytes do not: before removing any complete backup, prove that the newest
    # one kept is restorable. One that fails its checksums is damaged and no longer counts.
    while any(not d.keep and entries[d.backup_id].status == catalog.COMPLETE for d in decisions):
        newest = next(entries[d.backup_id] for d in decisions if entries[d.backup_id].status == catalog.COMPLETE)
        assert newest.manifest is not None
        log(f"checking backup {newest.backup_id} before removing older ones")
        problems, _ = _checksum_problems(store, newest.backup_id, newest.manifest, log)
        if not problems:
            break
        detail = "fails its checksums: " + "; ".join(problems)
        log(f"warning: backup {newest.backup_id} {detail}; the next older backup takes its place")
        entries[newest.backup_id] = dataclasses.replace(newest, status=catalog.DAMAGED, detail=detail)
        decisions = plan()
    items: list[PruneItem] = []
    failures: list[errors.BackupError] = []
    for decision in decisions:
        entry = entries[decision.backup_id]
        action, reasons = ("keep", decision.reasons)
        if not decision.keep:
            protected = store.protection(entry.backup_id, entry.names, now)
            if protected:
                action, reasons = "skip", (*decision.reasons, f"protected: {protected}")
            elif dry_run:
                action = "remove"
            else:
                try:
                    store.delete_backup(entry.backup_id, entry.names)
                    action = "removed"
                except errors.BackupError as exc:
                    failures.append(exc)
                    action, reasons = "failed", (*decision.reasons, f"delete failed: {exc.message}")
        items.append(PruneItem(entry.backup_id, entry.status, entry.time, entry.stored_bytes, action, reasons))
    for key in store.abort_stale_uploads(now - incomplete_max_age, dry_run):
        log(f"{'would abort' if dry_run else 'aborted'} the unfinished upload of {key} (an interrupted backup)")
    items.sort(key=lambda i: (i.time, i.backup_id), reverse=True)
    return PruneResult(tuple(items), dry_run, tuple(failures))
