"""Exception types of the backup tool and the process exit code each one maps to.

Every failure the tool knows how to explain is one of these types, raised with
one actionable message; ``cli`` prints the message and exits with the type's
code. The codes are part of the tool's interface (the operator and alerting read
them from the Job's termination state), so they never change meaning.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes of ``odoo-tenant-backup``."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    STORAGE_ACCESS_DENIED = 3
    STORAGE_NOT_FOUND = 4
    DATABASE_UNREACHABLE = 5
    DATABASE_AUTH_FAILED = 6
    NO_SPACE = 7
    BACKUP_CORRUPTED = 8
    NO_COMPLETE_BACKUP = 9
    RESTORE_CHECK_FAILED = 10
    STORAGE_UNREACHABLE = 11
    SOURCE_FAILED = 12
    BUSY = 13


EXIT_CODE_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.UNEXPECTED: "unexpected error (a bug or an unclassified failure; see the message)",
    ExitCode.USAGE: "invalid arguments or configuration",
    ExitCode.STORAGE_ACCESS_DENIED: "storage credentials rejected (S3 invalid key, bad secret, access denied)",
    ExitCode.STORAGE_NOT_FOUND: "bucket (or backup directory) does not exist",
    ExitCode.DATABASE_UNREACHABLE: "database unreachable (host, port or database name wrong, server down)",
    ExitCode.DATABASE_AUTH_FAILED: "database authentication failed (user or password wrong, pg_hba)",
    ExitCode.NO_SPACE: "no space left on the backup volume, scratch directory or database server",
    ExitCode.BACKUP_CORRUPTED: "backup corrupted (checksum or size mismatch, unreadable part or manifest)",
    ExitCode.NO_COMPLETE_BACKUP: "no complete backup found (or the requested backup does not exist)",
    ExitCode.RESTORE_CHECK_FAILED: "restore test failed (restore error, table or row count or filestore mismatch, "
    "RTO exceeded)",
    ExitCode.STORAGE_UNREACHABLE: "storage endpoint unreachable",
    ExitCode.SOURCE_FAILED: "pg_dump or the filestore read failed for another reason",
    ExitCode.BUSY: "another restore test of the same database is running; nothing was done",
}


class BackupError(Exception):
    """A failure with a clear message and a stable exit code."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(BackupError):
    exit_code = ExitCode.USAGE


class StorageAccessDenied(BackupError):
    exit_code = ExitCode.STORAGE_ACCESS_DENIED


class StorageNotFound(BackupError):
    exit_code = ExitCode.STORAGE_NOT_FOUND


class StorageUnreachable(BackupError):
    exit_code = ExitCode.STORAGE_UNREACHABLE


class DatabaseUnreachable(BackupError):
    exit_code = ExitCode.DATABASE_UNREACHABLE


class DatabaseAuthFailed(BackupError):
    exit_code = ExitCode.DATABASE_AUTH_FAILED


class NoSpace(BackupError):
    exit_code = ExitCode.NO_SPACE


class BackupCorrupted(BackupError):
    exit_code = ExitCode.BACKUP_CORRUPTED


class NoCompleteBackup(BackupError):
    exit_code = ExitCode.NO_COMPLETE_BACKUP


class RestoreCheckFailed(BackupError):
    exit_code = ExitCode.RESTORE_CHECK_FAILED


class SourceFailed(BackupError):
    exit_code = ExitCode.SOURCE_FAILED


class Busy(BackupError):
    exit_code = ExitCode.BUSY
