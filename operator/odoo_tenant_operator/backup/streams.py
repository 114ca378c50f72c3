"""Streaming plumbing: hashing readers and a thread-fed pipe.

Every part of a backup flows through these as a stream of bounded chunks, so the
tool's memory stays flat however large the database or the filestore is: the
producer (pg_dump's stdout, the tar writer) is read chunk by chunk by the
consumer (the S3 multipart upload, the volume's temp file), and the sha256 and
size recorded in the manifest are computed on the way through.

A producer that fails must not leave a truncated part looking finished: the
readers here raise the producer's error at end of stream, *before* returning
the final empty read, so the upload that consumes them fails and is aborted
instead of completing with a short object.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class HashingReader:
    """A non-seekable readable that hashes and counts what passes through it.

    ``on_eof`` runs once, when the source first reports end of stream, and may
    raise to turn that end into an error (a producer that exited non-zero).
    """

    def __init__(self, source: Readable, on_eof: Callable[[], None] | None = None) -> None:
        self._source = source
        self._on_eof = on_eof
        self._hash = hashlib.sha256()
        self.bytes_read = 0
        self.eof = False

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            # Only ever used on a nearly exhausted stream (s3transfer reads the
            # remainder of a small upload this way); still bounded chunk by chunk.
            pieces = []
            while chunk := self.read(CHUNK_SIZE):
                pieces.append(chunk)
            return b"".join(pieces)
        data = self._source.read(size)
        if data:
            self._hash.update(data)
            self.bytes_read += len(data)
        elif size > 0 and not self.eof:
            self.eof = True
            if self._on_eof is not None:
                self._on_eof()
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # Tells s3transfer to read sequentially into bounded part buffers instead of
        # seeking around (and to never ask for the total size up front).
        return False

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def drain(self) -> None:
        """Read the rest of the stream (hashing it), e.g. after the consumer gave up early."""
        while self.read(CHUNK_SIZE):
            pass


class ThreadPipe:
    """Runs ``produce(sink)`` in a thread and exposes what it writes as a readable stream.

    The producer's exception, if any, is re-raised by ``read`` at end of stream
    (see the module docstring) and by ``close``. Closing the reader early makes
    the producer's next write fail with BrokenPipeError, which stops it.
    """

    def __init__(self, produce: Callable[[BinaryIO], None], name: str) -> None:
        read_fd, write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb", buffering=CHUNK_SIZE)
        self._writer = os.fdopen(write_fd, "wb", buffering=CHUNK_SIZE)
        self._error: BaseException | None = None
        self._produce = produce
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._writer:
                self._produce(self._writer)
        except BaseException as exc:  # noqa: B036 - handed to the consumer thread, never lost
            self._error = exc

    def read(self, size: int = -1, /) -> bytes:
        data = self._reader.read(size)
        if not data and size != 0:
            self._thread.join()
            self._raise_producer_error()
        return data

    def close(self) -> None:
        self._reader.close()
        self._thread.join()

    def _raise_producer_error(self) -> None:
        error, self._error = self._error, None
        if error is not None and not isinstance(error, BrokenPipeError):
            raise error

    def check(self) -> None:
        """Join the producer and raise its error, if it failed (BrokenPipe after close is not one)."""
        self._thread.join()
        self._raise_producer_error()


def copy_stream(source: Readable, write: Callable[[bytes], object], chunk_size: int = CHUNK_SIZE) -> int:
    """Copy ``source`` to ``write`` in bounded chunks; return the byte count."""
    total = 0
    while chunk := source.read(chunk_size):
        write(chunk)
        total += len(chunk)
    return total
