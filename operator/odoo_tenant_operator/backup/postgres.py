"""PostgreSQL through its client programs: pg_dump, pg_restore and psql as subprocesses.

The backup Job's image ships the PostgreSQL client matching the server, and the
libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD) is the
interface everyone already knows, so the tool drives the programs instead of
linking a driver. Passwords only ever travel in the child's environment, never
on a command line.

Consistency: ``SnapshotSession`` opens a REPEATABLE READ transaction, exports its
snapshot, counts every table's rows in it, and keeps it open while pg_dump runs
with ``--snapshot``; so the manifest's row counts are exactly the dump's content
even while Odoo keeps writing, and the restore test can demand equality.

Failures are classified from the programs' messages into the tool's error
types (unreachable, authentication, disk full, other), with the relevant line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import IO, Any

from odoo_tenant_operator.backup import errors
from odoo_tenant_operator.backup.streams import CHUNK_SIZE, HashingReader, Readable

_END_MARKER = "__odoo_tenant_backup_end__"

# Regular, non-temporary tables outside the system schemas and not owned by an
# extension: exactly the tables whose data pg_dump writes. Counting happens
# server-side (query_to_xml runs one count(*) per table inside the current
# transaction, hence in its snapshot), so no SQL is assembled from names here.
TABLE_COUNTS_SQL = r"""
SELECT coalesce(json_object_agg(t.name, t.n ORDER BY t.name), '{}')
FROM (
  SELECT n.nspname || '.' || c.relname AS name,
         (xpath('/row/c/text()',
                query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                             false, true, '')))[1]::text::bigint AS n
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r'
    AND c.relpersistence <> 't'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%'
    AND n.nspname NOT LIKE 'pg\_temp%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
) t
"""

SERVER_INFO_SQL = """
SELECT json_build_object(
  'database', current_database(),
  'server_version', current_setting('server_version'),
  'server_version_num', current_setting('server_version_num')::int,
  'size', pg_database_size(current_database()),
  'encoding', pg_encoding_to_char(d.encoding))
FROM pg_database d WHERE d.datname = current_database()
"""


@dataclasses.dataclass(frozen=True)
class PgSettings:
    """Connection settings; ``None`` leaves libpq's own default (or the inherited environment)."""

    host: str | None = None
    port: str | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    bin_dir: str | None = None
    connect_timeout: int = 10

    def env(self, database: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in (
            ("PGHOST", self.host),
            ("PGPORT", self.port),
            ("PGDATABASE", database or self.database),
            ("PGUSER", self.user),
            ("PGPASSWORD", self.password),
        ):
            if value:
                env[key] = value
        # An unreachable server must fail the Job in seconds, not hang on TCP retries.
        env.setdefault("PGCONNECT_TIMEOUT", str(self.connect_timeout))
        env.setdefault("PGAPPNAME", "odoo-tenant-backup")
        return env

    def program(self, name: str) -> str:
        if self.bin_dir:
            path = os.path.join(self.bin_dir, name)
            if os.access(path, os.X_OK):
                return path
            raise errors.ConfigError(f"{name} not found in PG_BIN_DIR={self.bin_dir}")
        found = shutil.which(name)
        if found is None:
            raise errors.ConfigError(f"{name} not found on PATH; install the PostgreSQL client or set PG_BIN_DIR")
        return found

    def describe(self, database: str | None = None) -> str:
        host = self.host or os.environ.get("PGHOST") or "localhost"
        port = self.port or os.environ.get("PGPORT") or "5432"
        db = database or self.database or os.environ.get("PGDATABASE") or "(default)"
        return f"{host}:{port}/{db}"


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    database: str
    server_version: str
    server_version_num: int
    size_bytes: int
    encoding: str


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def classify_failure(
    stderr: str,
    what: str,
    where: str,
    default: type[errors.BackupError] = errors.SourceFailed,
) -> errors.BackupError:
    """Turn a client program's error output into the matching error type, with an actionable message."""
    line = _relevant_line(stderr)
    lowered = stderr.lower()
    if any(marker in lowered for marker in _AUTH_MARKERS) or _ROLE_MISSING.search(stderr):
        return errors.DatabaseAuthFailed(
            f"{what}: PostgreSQL at {where} rejected the login: {line}. "
            "Check PGUSER/PGPASSWORD (the tenant's database Secret) and pg_hba.conf."
        )
    if any(marker in lowered for marker in _UNREACHABLE_MARKERS) or _DB_MISSING.search(stderr):
        return errors.DatabaseUnreachable(
            f"{what}: cannot reach PostgreSQL at {where}: {line}. "
            "Check PGHOST/PGPORT/PGDATABASE, that the server is up, and that a NetworkPolicy allows the Job."
        )
    if any(marker in lowered for marker in _SPACE_MARKERS):
        return errors.NoSpace(f"{what}: the database server ran out of disk space: {line}")
    if "server version mismatch" in lowered:
        return errors.ConfigError(
            f"{what}: the PostgreSQL client is older than the server at {where}: {line}. "
            "Use a backup image whose client major version is at least the server's."
        )
    if "permission denied to create database" in lowered:
        return errors.ConfigError(
            f"{what}: the database user may not create the scratch database: {line}. "
            "Grant CREATEDB to the backup user, or run restore tests with a user that has it."
        )
    return default(f"{what} failed ({where}): {line}")


_AUTH_MARKERS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "authentication failed",
    "no password supplied",
    "password is required",
)
_UNREACHABLE_MARKERS = (
    "could not connect",
    "connection refused",
    "could not translate host name",
    "timeout expired",
    "server closed the connection unexpectedly",
    "is the server running",
    "the database system is starting up",
    "the database system is shutting down",
    "network is unreachable",
    "no route to host",
    "connection to server",
)
_SPACE_MARKERS = ("no space left on device", "could not extend file", "disk full")
_ROLE_MISSING = re.compile(r'role ".*" does not exist')
_DB_MISSING = re.compile(r'FATAL:\s+database ".*" does not exist')


def _relevant_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in lines:
        if any(tag in line for tag in ("FATAL", "ERROR", "error:")):
            return line[:400]
    return (lines[0][:400]) if lines else "(no error output)"


def client_version(settings: PgSettings, program: str = "pg_dump") -> str:
    out = subprocess.run([settings.program(program), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or out.stderr.strip()


def run_sql(settings: PgSettings, sql: str, database: str | None = None, what: str = "psql") -> str:
    """Run one SQL command in autocommit mode (CREATE/DROP DATABASE need that); return its output."""
    proc = subprocess.run(
        [settings.program("psql"), "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=settings.env(database),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise classify_failure(proc.stderr, what, settings.describe(database))
    return proc.stdout.strip()


class _PsqlSession:
    """A psql co-process: one database session kept open across queries, closed on exit.

    If this process dies, psql reads end-of-file and the session ends with it, releasing
    whatever it held (a snapshot, an advisory lock).
    """

    def __init__(self, settings: PgSettings) -> None:
        self._settings = settings
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [self._settings.program("psql"), "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"],
            env=self._settings.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        # A cluster-wide idle or statement timeout would otherwise end the session (and with it
        # the snapshot or lock it holds) during a long dump or restore.
        # idle_session_timeout (PostgreSQL 14+) would end a lock session that waits idle for the restore.
        self._query(
            "SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0; "
            "SELECT set_config('idle_session_timeout', '0', false) "
            "WHERE current_setting('server_version_num')::int >= 140000"
        )


    def _query(self, sql: str) -> str:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(sql.strip().rstrip(";") + ";\n\\echo " + _END_MARKER + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # psql already exited; its stderr says why (read below)
        lines: list[str] = []
        for line in proc.stdout:
            if line.rstrip("\n") == _END_MARKER:
                return "".join(lines)
            lines.append(line)
        proc.wait()
        raise classify_failure(self._stderr_text(), "reading the database", self._settings.describe())

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc = self._proc
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.write("\\q\n")  # ends the session: its transaction rolls back, its locks go
                proc.stdin.close()
            except (BrokenPipeError, ValueError, OSError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._stderr.close()


class SnapshotSession(_PsqlSession):
    """A psql co-process holding a REPEATABLE READ transaction with an exported snapshot."""

    def __init__(self, settings: PgSettings) -> None:
        super().__init__(settings)
        self.snapshot = ""

    def __enter__(self) -> SnapshotSession:
        self._start()
        self._query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        self.snapshot = self._query("SELECT pg_export_snapshot()").strip()
        return self

    def server_info(self) -> ServerInfo:
        raw = json.loads(self._query(SERVER_INFO_SQL))
        return ServerInfo(
            database=str(raw["database"]),
            server_version=str(raw["server_version"]),
            server_version_num=int(raw["server_version_num"]),
            size_bytes=int(raw["size"]),
            encoding=str(raw["encoding"]),
        )

    def table_row_counts(self) -> dict[str, int]:
        return _parse_counts(self._query(TABLE_COUNTS_SQL))


class AdvisoryLock(_PsqlSession):
    """A session-level advisory lock in the connection's database, held until exit.

    Raises ``errors.Busy`` at once when another session holds it: waiting would only stack up
    runs that the CronJob's concurrency policy meant to forbid.
    """

    def __init__(self, settings: PgSettings, name: str, busy_message: str) -> None:
        super().__init__(settings)
        self._name = name
        self._busy_message = busy_message

    def __enter__(self) -> AdvisoryLock:
        self._start()
        key = quote_literal(self._name)
        if self._query(f"SELECT pg_try_advisory_lock(hashtext({key}))").strip() != "t":
            self.__exit__(None, None, None)
            raise errors.Busy(self._busy_message)
        return self

def _parse_counts(output: str) -> dict[str, int]:
    raw: Any = json.loads(output)
    if not isinstance(raw, dict):
        raise errors.SourceFailed(f"unexpected table count output: {output[:200]!r}")
    return {str(name): int(rows) for name, rows in raw.items()}


@contextmanager
def dump(settings: PgSettings, snapshot: str | None, compression: int | None = None) -> Iterator[HashingReader]:
    """Run pg_dump (custom format, in ``snapshot`` if given); yield its stdout as a hashing stream.

    The stream raises a classified error at end of data if pg_dump exited non-zero,
    so a consumer never mistakes a truncated dump for a finished one.
    """
    command = [settings.program("pg_dump"), "--format=custom", "--no-password"]
    if compression is not None:
        command.append(f"--compress={compression}")
    if snapshot:
        command.append(f"--snapshot={snapshot}")
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(command, env=settings.env(), stdout=subprocess.PIPE, stderr=stderr, bufsize=CHUNK_SIZE)
    assert proc.stdout is not None

    def check_exit() -> None:
        if proc.wait() != 0:
            stderr.seek(0)
            raise classify_failure(stderr.read().decode(errors="replace"), "pg_dump", settings.describe())

    try:
        yield HashingReader(proc.stdout, on_eof=check_exit)
    finally:
        if proc.poll() is None:
            # The consumer gave up (upload failed): stop pg_dump rather than wait for it.
            proc.kill()
        proc.wait()
        proc.stdout.close()
        stderr.close()


@dataclasses.dataclass(frozen=True)
class RestoreOutcome:
    returncode: int
    stderr: str


def restore(settings: PgSettings, database: str, source: Readable) -> RestoreOutcome:
    """Feed a custom-format dump from ``source`` into ``pg_restore`` on ``database``.

    ``source`` is always read to its end, even when pg_restore gives up early, so
    that the caller can tell a corrupted part (checksum mismatch) from a restore
    error. Ownership and grants are not restored: the scratch database belongs
    to the restoring user, and roles of the original may not exist here.
    """
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [
            settings.program("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--no-password",
            f"--dbname={_conninfo_dbname(database)}",
        ],
        env=settings.env(database),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    assert proc.stdin is not None
    feeding = True
    try:
        while chunk := source.read(CHUNK_SIZE):
            if feeding:
                try:
                    proc.stdin.write(chunk)
                except BrokenPipeError:
                    feeding = False
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        returncode = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr.seek(0)
    text = stderr.read().decode(errors="replace")
    stderr.close()
    return RestoreOutcome(returncode, text)


def _conninfo_dbname(database: str) -> str:
    # A --dbname containing "=" would be parsed as a connection string; quoting it
    # as one keeps any database name literal.
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_row_counts(settings: PgSettings, database: str) -> dict[str, int]:
    return _parse_counts(run_sql(settings, TABLE_COUNTS_SQL, database, what="counting restored rows"))
