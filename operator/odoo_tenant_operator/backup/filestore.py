"""The filestore part: a streamed tar.gz of the directory, its extraction, and its digest.

Entries are written in one deterministic order (a depth-first walk with names
sorted at each level), and while each regular file goes into the tar its content
is hashed. The *filestore digest* is the sha256 of the lines
``<relative path> NUL <size> NUL <sha256 of content> LF`` in that order: the
restore test extracts the tar, walks the result in the same order and recomputes
it, which proves the restored tree is byte-identical to what was read, without
holding a per-file list in memory.

The filestore is mounted read-only and Odoo may keep writing to it during a
backup: Odoo's attachment files are write-once, but its garbage collector may
delete a file between the walk and the read; such a file is skipped and counted
(the database snapshot taken first may still reference it, which Odoo tolerates).
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from odoo_tenant_operator.backup import errors
from odoo_tenant_operator.backup.compression import AdaptiveGzipWriter, worth_compressing
from odoo_tenant_operator.backup.streams import CHUNK_SIZE, HashingReader, Readable


@dataclasses.dataclass(frozen=True)
class TreeStats:
    files: int
    bytes: int
    digest: str
    skipped: int = 0


@dataclasses.dataclass(frozen=True)
class _Entry:
    relative: str
    path: str
    kind: str  # "dir", "file" or "other"


def walk(root: Path) -> Iterator[_Entry]:
    """Every entry under ``root`` (not following symlinks), depth first, names sorted at each level."""

    def visit(directory: str, prefix: str) -> Iterator[_Entry]:
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except FileNotFoundError:
            return  # removed while we walk: as for a vanished file, nothing to archive
        except OSError as exc:
            raise errors.SourceFailed(f"filestore: cannot read the directory {directory}: {exc.strerror}") from exc
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                yield _Entry(relative, entry.path, "dir")
                yield from visit(entry.path, relative + "/")
            elif entry.is_file(follow_symlinks=False):
                yield _Entry(relative, entry.path, "file")
            else:
                yield _Entry(relative, entry.path, "other")

    yield from visit(str(root), "")


def measure(root: Path) -> tuple[int, int]:
    """File count and total bytes of regular files (stat only; used to size upload parts)."""
    files = size = 0
    for entry in walk(root):
        if entry.kind == "file":
            try:
                size += os.stat(entry.path, follow_symlinks=False).st_size
                files += 1
            except FileNotFoundError:
                continue
    return files, size


class _DigestBuilder:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.files = 0
        self.bytes = 0

    def add(self, relative: str, size: int, sha256: str) -> None:
        self._hash.update(f"{relative}\0{size}\0{sha256}\n".encode("utf-8", "surrogateescape"))
        self.files += 1
        self.bytes += size

    def stats(self, skipped: int = 0) -> TreeStats:
        return TreeStats(self.files, self.bytes, self._hash.hexdigest(), skipped)


def write_tar(root: Path, sink: BinaryIO, level: int, warn: Callable[[str], None]) -> TreeStats:
    """Stream a gzip-compressed tar of ``root`` into ``sink``; return what it holds."""
    if not root.is_dir():
        raise errors.SourceFailed(f"filestore {root} does not exist or is not a directory (check FILESTORE_PATH)")
    gz = AdaptiveGzipWriter(sink, level)
    digest = _DigestBuilder()
    skipped = 0
    # PAX: long names and large files without GNU extensions; readable by every tar.
    try:
        # bufsize and copybufsize equal: the stream-mode buffer is an immutable bytes
        # object that tarfile re-slices per block, which is quadratic when the copy
        # size exceeds the 10 KiB default block and slow when both stay tiny.
        with tarfile.open(fileobj=cast(BinaryIO, gz), mode="w|", format=tarfile.PAX_FORMAT, bufsize=_TAR_BLOCK) as tar:
            tar.copybufsize = _TAR_BLOCK  # type: ignore[attr-defined]  # (not declared by typeshed)
            for entry in walk(root):
                try:
                    if entry.kind == "dir":
                        tar.addfile(_dir_info(entry))
                    elif entry.kind == "file":
                        with open(entry.path, "rb") as handle:
                            info = tar.gettarinfo(arcname=entry.relative, fileobj=handle)
                            if info.islnk():
                                # A second name of a hard-linked file: store the content again, so the
                                # restored tree (and its digest) has every name as a regular file.
                                info.type, info.linkname = tarfile.REGTYPE, ""
                                info.size = os.fstat(handle.fileno()).st_size
                            if info.size >= _SAMPLE_MIN_FILE:
                                gz.expect(worth_compressing(_sample(handle, info.size)))
                            reader = HashingReader(_SourceFile(handle, entry.path))
                            tar.addfile(info, cast(BinaryIO, reader))
                            digest.add(entry.relative, info.size, reader.sha256)
                    else:
                        skipped += 1
                        warn(f"filestore: skipping {entry.relative}: not a regular file or directory")
                except FileNotFoundError:
                    skipped += 1
                    warn(f"filestore: {entry.relative} vanished during the backup (garbage-collected?), skipped")
                except PermissionError as exc:
                    raise errors.SourceFailed(f"filestore: cannot read {entry.path}: {exc.strerror}") from exc
                except OSError as exc:
                    if isinstance(exc, BrokenPipeError):
                        raise  # the consumer gave up; not the filestore's fault
                    raise errors.SourceFailed(f"filestore: cannot read {entry.path}: {exc.strerror or exc}") from exc
    except BaseException:
        gz.abort()
        raise
    gz.close()
    return digest.stats(skipped)


# Files smaller than this keep the current compression mode: sampling them would
# cost about as much as compressing them, and switching modes per tiny file
# would cut the gzip stream into many small members.
_SAMPLE_MIN_FILE = 8 << 10
_SAMPLE = 4 << 10
_TAR_BLOCK = 256 << 10


def _sample(handle: BinaryIO, size: int) -> bytes:
    """A few KiB from the start and the middle of a file, read without moving its offset."""
    fd = handle.fileno()
    sample = os.pread(fd, _SAMPLE, 0)
    if size > 16 * _SAMPLE:
        sample += os.pread(fd, _SAMPLE, size // 2)
    return sample


class _SourceFile:
    """A filestore file being archived: read errors become SourceFailed, not volume or pipe errors."""

    def __init__(self, handle: BinaryIO, path: str) -> None:
        self._handle = handle
        self._path = path

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._handle.read(size)
        except OSError as exc:
            raise errors.SourceFailed(f"filestore: cannot read {self._path}: {exc.strerror or exc}") from exc


def _dir_info(entry: _Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.relative)
    info.type = tarfile.DIRTYPE
    try:
        st = os.stat(entry.path, follow_symlinks=False)
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = int(st.st_mtime)
    except FileNotFoundError:
        info.mode = 0o755
    return info


def extract_tar(source: Readable, destination: Path) -> None:
    """Extract a tar.gz stream into ``destination`` (which must exist), member by member.

    The ``data`` filter refuses absolute paths, ``..`` escapes, device files and
    links pointing outside ``destination``: a backup is input, not trusted code.
    """
    try:
        with (
            gzip.GzipFile(fileobj=cast(BinaryIO, source), mode="rb") as gz,
            tarfile.open(fileobj=gz, mode="r|", bufsize=_TAR_BLOCK) as tar,
        ):
            tar.copybufsize = _TAR_BLOCK  # type: ignore[attr-defined]
            for member in tar:
                tar.extract(member, destination, filter="data")
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise errors.BackupCorrupted(f"filestore archive is unreadable: {exc}") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise errors.NoSpace(f"no space left in the scratch directory {destination}: {exc.strerror}") from exc
        raise


def digest_tree(root: Path) -> TreeStats:
    """Recompute file count, bytes and content digest of an extracted tree (see module docstring)."""
    digest = _DigestBuilder()
    for entry in walk(root):
        if entry.kind != "file":
            continue
        content = hashlib.sha256()
        size = 0
        with open(entry.path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                content.update(chunk)
                size += len(chunk)
        digest.add(entry.relative, size, content.hexdigest())
    return digest.stats()
