"""Backup targets: the small interface every target implements, and the volume target.

A target stores objects named ``<backup id>/<part name>`` under its root (an S3
bucket and prefix, or a mounted directory). It knows nothing about manifests or
retention; ``catalog`` and ``operations`` build those on top of six operations.
Two rules every target keeps, because the rest of the tool relies on them:

- ``put`` never exposes a partial object under the final name: S3 multipart
  uploads complete only when all parts arrived, and the volume target writes a
  hidden temp file and renames it after fsync;
- ``delete_backup`` deletes the manifest first, so a backup interrupted half-way
  through deletion is seen as incomplete, never as a complete backup with holes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from odoo_tenant_operator.backup import errors, ids
from odoo_tenant_operator.backup.manifest import MANIFEST_NAME
from odoo_tenant_operator.backup.streams import CHUNK_SIZE, Readable


@dataclasses.dataclass(frozen=True)
class StoredObject:
    backup_id: str
    name: str
    size: int
    modified: dt.datetime


class BackupStore(Protocol):
    """What the tool needs from a place that holds backups."""

    # Warnings a target wants shown to the user (e.g. object lock requested but unavailable).
    notices: list[str]

    def describe(self) -> str:
        """Human-readable location, e.g. ``s3://bucket/prefix`` (no secrets)."""
        ...

    def check(self) -> None:
        """Fail early with a classified error if the target is missing or the credentials are wrong."""
        ...

    def prepare_write(self, now: dt.datetime) -> dt.datetime | None:
        """Called once before a backup; returns the object-lock retain-until date it will apply, if any."""
        ...

    def list_objects(self) -> list[StoredObject]:
        """Every object that belongs to a backup (its first path segment is a backup id)."""
        ...

    def reserve(self, backup_id: str) -> None:
        """Claim ``backup_id``; raise FileExistsError if anything is stored under it already."""
        ...

    def put(self, backup_id: str, name: str, source: Readable, size_hint: int | None) -> None:
        """Store ``source`` (read to its end, in bounded chunks) as ``backup_id/name``."""
        ...

    def open(self, backup_id: str, name: str) -> AbstractContextManager[Readable]:
        """Stream ``backup_id/name``; raise BackupCorrupted if it is missing or unreadable."""
        ...

    def delete_backup(self, backup_id: str, names: Sequence[str]) -> None:
        """Delete these objects of ``backup_id`` (manifest first) and nothing else."""
        ...

    def protection(self, backup_id: str, names: Sequence[str], now: dt.datetime) -> str | None:
        """Why the backup may not be deleted now (object lock, legal hold), or None."""
        ...

    def abort_stale_uploads(self, started_before: dt.datetime, dry_run: bool) -> list[str]:
        """Discard unfinished writes older than ``started_before`` that no backup lists; what they were."""
        ...


def read_small(store: BackupStore, backup_id: str, name: str, limit: int = 16 << 20) -> bytes:
    """Read a small object (the manifest) whole; refuse anything absurdly large."""
    with store.open(backup_id, name) as reader:
        data = reader.read(limit + 1)
    if len(data) > limit:
        raise errors.BackupCorrupted(f"{backup_id}/{name} is larger than {limit} bytes; not a manifest")
    return data


class VolumeStore:
    """Backups as directories on a mounted volume (a PVC): ``<root>/<backup id>/<part>``.

    The directory is the tenant's backup root: give each tenant its own PVC or
    subPath. Only entries whose name parses as a backup id are ever touched.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notices: list[str] = []

    def describe(self) -> str:
        return f"volume {self.root}"

    def check(self) -> None:
        if not self.root.is_dir():
            raise errors.StorageNotFound(
                f"backup directory {self.root} does not exist (is the backup volume mounted? check BACKUP_DIR)"
            )
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise errors.StorageAccessDenied(f"backup directory {self.root} is not readable by this user")

    def prepare_write(self, now: dt.datetime) -> dt.datetime | None:
        if not os.access(self.root, os.W_OK):
            raise errors.StorageAccessDenied(
                f"backup directory {self.root} is not writable by this user (check fsGroup / volume mode)"
            )
        return None

    def list_objects(self) -> list[StoredObject]:
        found: list[StoredObject] = []
        try:
            # A symlink named like a backup is not one: following it, prune would delete elsewhere.
            backup_dirs = sorted(
                p for p in self.root.iterdir() if ids.is_backup_id(p.name) and p.is_dir() and not p.is_symlink()
            )
        except FileNotFoundError as exc:
            raise errors.StorageNotFound(f"backup directory {self.root} does not exist") from exc
        for directory in backup_dirs:
            for path in sorted(directory.iterdir()):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                found.append(
                    StoredObject(directory.name, path.name, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))
                )
            if not any(o.backup_id == directory.name for o in found):
                # An empty directory is a reserved id with nothing written yet: still
                # an (incomplete) backup, so prune can age it out.
                st = directory.stat()
                found.append(StoredObject(directory.name, "", 0, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))
        return found

    def reserve(self, backup_id: str) -> None:
        self._directory(backup_id).mkdir()

    def put(self, backup_id: str, name: str, source: Readable, size_hint: int | None) -> None:
        directory = self._directory(backup_id)
        final = directory / name
        if final.exists():
            raise FileExistsError(f"{final} exists; refusing to overwrite it")
        temp = directory / f".{name}.tmp-{secrets.token_hex(4)}"
        try:
            with _translated(f"writing {final}"):
                out = open(temp, "xb")
            try:
                # Only errors of the writes are the volume's; a failing source raises its own.
                while chunk := source.read(CHUNK_SIZE):
                    with _translated(f"writing {final}"):
                        out.write(chunk)
                with _translated(f"writing {final}"):
                    out.flush()
                    os.fsync(out.fileno())
            finally:
                # Closing flushes what is buffered, so it can run out of space too.
                with _translated(f"writing {final}"):
                    out.close()
            with _translated(f"writing {final}"):
                os.replace(temp, final)
                _fsync_directory(directory)
        except BaseException:
            _unlink_quietly(temp)
            raise

    def open(self, backup_id: str, name: str) -> AbstractContextManager[Readable]:
        return self._open(backup_id, name)

    @contextmanager
    def _open(self, backup_id: str, name: str) -> Iterator[Readable]:
        path = self._directory(backup_id) / name
        try:
            handle = open(path, "rb")
        except FileNotFoundError as exc:
            raise errors.BackupCorrupted(f"backup {backup_id}: part {name} is missing ({path})") from exc
        except OSError as exc:
            raise errors.BackupCorrupted(f"backup {backup_id}: cannot read {path}: {exc.strerror}") from exc
        with handle:
            yield handle

    def delete_backup(self, backup_id: str, names: Sequence[str]) -> None:
        directory = self._directory(backup_id)
        if directory.is_symlink():
            raise errors.BackupError(f"{directory} is a symlink, not a backup directory; not deleting through it")
        ordered = sorted(names, key=lambda n: n != MANIFEST_NAME)
        try:
            for name in ordered:
                if name:
                    _unlink_quietly(directory / name)
            # Leftover temp files of an interrupted write belong to this backup too.
            if directory.is_dir():
                for leftover in directory.iterdir():
                    if leftover.name.startswith("."):
                        _unlink_quietly(leftover)
                directory.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _translate_os_error(exc, f"deleting backup {backup_id}") from exc

    def protection(self, backup_id: str, names: Sequence[str], now: dt.datetime) -> str | None:
        return None

    def abort_stale_uploads(self, started_before: dt.datetime, dry_run: bool) -> list[str]:
        return []  # a volume's temp files sit in their backup's directory and go with it

    def _directory(self, backup_id: str) -> Path:
        if not ids.is_backup_id(backup_id):
            raise ValueError(f"not a backup id: {backup_id!r}")
        return self.root / backup_id


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _translate_os_error(exc, doing) from exc


def _translate_os_error(exc: OSError, doing: str) -> errors.BackupError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return errors.NoSpace(f"no space left on the backup volume while {doing}: grow the volume or prune")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return errors.StorageAccessDenied(f"permission denied while {doing}: {exc.strerror}")
    return errors.BackupError(f"I/O error while {doing}: {exc.strerror or exc}")


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable: after a node crash the part exists under its final
    # name with its full content, or not at all.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
