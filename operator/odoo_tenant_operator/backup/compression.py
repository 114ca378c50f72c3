"""A gzip writer that does not waste CPU on data that does not compress.

An Odoo filestore is mostly attachments that are already compressed (JPEG, PNG,
PDF, Office zips). zlib crawls through such data (about 35 MB/s per core here)
for no gain, which would make the filestore tar the bottleneck of every backup.
This writer emits the stream as a sequence of gzip members, each one deflated
at the configured level or stored (level 0, several hundred MB/s), as told by
its producer: the filestore tar samples every file and announces whether the
bytes that follow are worth compressing.

A sequence of gzip members is a valid gzip file (RFC 1952, section 2.2):
``gzip -d``, ``tar -xz`` and Python's ``gzip`` module read it as one stream, and
every member carries its own CRC32, so corruption is still detected on read.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

# Bounds the buffered data; large enough that the per-member cost (a fresh
# compressor, 18 bytes of header and trailer) is noise.
DEFAULT_CHUNK = 1 << 20
# A sample that deflates to more than this fraction of its size is treated as
# incompressible: the saving would not pay for the CPU.
_WORTHWHILE_RATIO = 0.92
_GZIP_WBITS = 31  # zlib's "gzip wrapper" mode: header and CRC32/size trailer per member


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class AdaptiveGzipWriter:
    """Write-only file object producing multi-member gzip; ``close`` flushes but leaves ``sink`` open.

    The producer says what comes next with ``expect(compressible)`` (the filestore
    tar samples each file before adding it); a change of mind ends the current
    member, so every member is deflated or stored as a whole. Within one mode the
    stream is still cut into bounded members.

    Members are independent, so they are compressed on ``threads`` worker threads
    (zlib releases the GIL) and written in order, like pigz; at most
    ``2 * threads`` members are in flight, so memory stays bounded.
    """

    def __init__(
        self, sink: Writable, level: int = 1, chunk_size: int = DEFAULT_CHUNK, threads: int | None = None
    ) -> None:
        if not 0 <= level <= 9:
            raise ValueError("compression level must be 0-9")
        self._sink = sink
        self._level = level
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._compressible = True
        self._threads = default_threads() if threads is None else max(1, threads)
        self._pool = ThreadPoolExecutor(self._threads, "gzip") if self._threads > 1 else None
        self._pending: deque[Future[bytes]] = deque()
        self.bytes_in = 0
        self.stored_members = 0
        self.deflated_members = 0

    def expect(self, compressible: bool) -> None:
        if compressible != self._compressible:
            if self._buffer:
                self._emit(bytes(self._buffer))
                self._buffer.clear()
            self._compressible = compressible

    def write(self, data: bytes, /) -> int:
        self._buffer += data
        self.bytes_in += len(data)
        while len(self._buffer) >= self._chunk_size:
            self._emit(bytes(self._buffer[: self._chunk_size]))
            del self._buffer[: self._chunk_size]
        return len(data)

    def close(self) -> None:
        try:
            if self._buffer or self.bytes_in == 0:
                # An empty input still becomes one (empty) member: a zero-byte file is not gzip.
                self._emit(bytes(self._buffer))
                self._buffer.clear()
            while self._pending:
                self._sink.write(self._pending.popleft().result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)

    def abort(self) -> None:
        """Stop the workers without writing anything more (the producer failed)."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def _emit(self, chunk: bytes) -> None:
        level = self._level if self._compressible else 0
        if level:
            self.deflated_members += 1
        else:
            self.stored_members += 1
        if self._pool is None:
            self._sink.write(gzip_member(chunk, level))
            return
        self._pending.append(self._pool.submit(gzip_member, chunk, level))
        while len(self._pending) > 2 * self._threads or (self._pending and self._pending[0].done()):
            self._sink.write(self._pending.popleft().result())


def gzip_member(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


def default_threads() -> int:
    """CPUs this process may run on (a container's cpuset), capped: the upload needs CPU too."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(4, available))


def worth_compressing(sample: bytes) -> bool:
    """Whether deflate saves enough on ``sample`` (a few KiB taken from the data) to be worth its CPU."""
    if not sample:
        return False
    return len(zlib.compress(sample, 1)) < len(sample) * _WORTHWHILE_RATIO
