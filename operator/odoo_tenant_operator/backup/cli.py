"""``odoo-tenant-backup``: command line of the backup tool (argument and environment parsing, output).

Subcommands::

    backup                      dump the database and archive the filestore, then write the manifest
    list                        backups with id, time, size and status (complete/incomplete/damaged)
    verify [BACKUP_ID]          re-read every part of a backup (default: the latest) and check sha256/size
    restore-test [BACKUP_ID]    restore a backup (default: the latest) into a scratch database and
                                directory, check checksums, tables, row counts and filestore; report RTO
    prune                       apply the retention policy (keep-last/hourly/daily/weekly/monthly/yearly)

Every option falls back to an environment variable (the operator's CronJobs set
exactly these): TENANT; PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (libpq,
passed to pg_dump/pg_restore/psql); PG_BIN_DIR; FILESTORE_PATH; the target,
either S3 (BACKUP_S3_ENDPOINT, BACKUP_S3_BUCKET, BACKUP_S3_PREFIX (default: the
tenant), BACKUP_S3_REGION (default us-east-1), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, BACKUP_S3_SSE ("", AES256, aws:kms),
BACKUP_S3_SSE_KMS_KEY_ID, BACKUP_S3_OBJECT_LOCK_DAYS, BACKUP_S3_OBJECT_LOCK_MODE)
or a volume (BACKUP_DIR); retention (BACKUP_KEEP_LAST, BACKUP_KEEP_HOURLY,
BACKUP_KEEP_DAILY, BACKUP_KEEP_WEEKLY, BACKUP_KEEP_MONTHLY, BACKUP_KEEP_YEARLY,
BACKUP_INCOMPLETE_MAX_AGE_HOURS, BACKUP_TIMEZONE); BACKUP_COMPRESSION_LEVEL;
restore test (RESTORE_SCRATCH_DIR, RESTORE_TEST_RTO_SECONDS). Secrets
(PGPASSWORD, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) are read from the
environment only: a command line is visible to every process on the node.

Output: progress lines on stderr; the result on stdout, human-readable, or one
JSON object per run with ``--json`` (errors too: ``{"result": "error", ...}``).

Exit codes (stable; see ``errors.ExitCode``):
    0 success; 1 unexpected error; 2 invalid arguments or configuration;
    3 storage credentials rejected / access denied; 4 bucket or backup directory missing;
    5 database unreachable; 6 database authentication failed; 7 no space left;
    8 backup corrupted (checksum/size mismatch, unreadable part or manifest);
    9 no complete backup found (or the requested backup does not exist);
    10 restore test failed (restore error, table/row count/filestore mismatch, RTO exceeded);
    11 storage endpoint unreachable; 12 pg_dump or filestore read failed otherwise;
    13 another restore test of the same database is running.
    130 interrupted (Ctrl-C); 143 terminated by SIGTERM (partial backup removed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import traceback
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from odoo_tenant_operator.backup import errors, operations, postgres, retention
from odoo_tenant_operator.backup.errors import EXIT_CODE_HELP, ExitCode
from odoo_tenant_operator.backup.s3 import S3Settings, S3Store
from odoo_tenant_operator.backup.storage import BackupStore, VolumeStore

PROG = "odoo-tenant-backup"
MB = 1_000_000


def _epilog() -> str:
    codes = "\n".join(f"  {int(code):>3}  {text}" for code, text in EXIT_CODE_HELP.items())
    return (
        "Every option falls back to the environment variable named in its help.\n"
        "Secrets (PGPASSWORD, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) come from the environment only.\n\n"
        f"exit codes:\n{codes}\n  130  interrupted (Ctrl-C)\n  143  terminated by SIGTERM (partial backup removed)"
    )


class _Env:
    """Adds options whose default comes from an environment variable (empty counts as unset)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def get(self, name: str) -> str | None:
        value = self.environ.get(name)
        return value if value not in (None, "") else None

    def add(
        self,
        parser: argparse.ArgumentParser | Any,
        flag: str,
        env: str,
        help: str,
        default: str | None = None,
        metavar: str | None = None,
    ) -> None:
        value = self.get(env)
        shown = f"env {env}" + (f"; default {default}" if default is not None else "")
        parser.add_argument(
            flag,
            default=value if value is not None else default,
            help=f"{help} ({shown})",
            metavar=metavar,
        )


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    env = _Env(environ)
    formatter = argparse.RawDescriptionHelpFormatter

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    env.add(common, "--tenant", "TENANT", "tenant name (manifest, default S3 prefix)")
    target = common.add_argument_group("target (S3 or volume)")
    env.add(target, "--s3-endpoint", "BACKUP_S3_ENDPOINT", "S3 endpoint URL (empty: AWS)", metavar="URL")
    env.add(target, "--s3-bucket", "BACKUP_S3_BUCKET", "S3 bucket")
    env.add(target, "--s3-prefix", "BACKUP_S3_PREFIX", "key prefix; default the tenant name")
    env.add(target, "--s3-region", "BACKUP_S3_REGION", "S3 region", default="us-east-1")
    env.add(target, "--s3-sse", "BACKUP_S3_SSE", "server-side encryption: empty, AES256 or aws:kms")
    env.add(target, "--s3-sse-kms-key-id", "BACKUP_S3_SSE_KMS_KEY_ID", "KMS key for aws:kms")
    env.add(
        target,
        "--s3-object-lock-days",
        "BACKUP_S3_OBJECT_LOCK_DAYS",
        "retention days set on uploaded objects when the bucket has object lock",
        metavar="DAYS",
    )
    env.add(
        target,
        "--s3-object-lock-mode",
        "BACKUP_S3_OBJECT_LOCK_MODE",
        "GOVERNANCE or COMPLIANCE",
        default="GOVERNANCE",
    )
    env.add(target, "--backup-dir", "BACKUP_DIR", "backup directory on a mounted volume", metavar="PATH")

    database = argparse.ArgumentParser(add_help=False)
    db = database.add_argument_group("database (libpq; password from PGPASSWORD only)")
    env.add(db, "--pghost", "PGHOST", "PostgreSQL host")
    env.add(db, "--pgport", "PGPORT", "PostgreSQL port")
    env.add(db, "--pgdatabase", "PGDATABASE", "tenant database")
    env.add(db, "--pguser", "PGUSER", "PostgreSQL user")
    env.add(db, "--pg-bin-dir", "PG_BIN_DIR", "directory of pg_dump/pg_restore/psql; default PATH")

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Backup, verification and restore testing of one Odoo tenant (database + filestore).",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "backup",
        parents=[common, database],
        epilog=_epilog(),
        formatter_class=formatter,
        help="dump the database and archive the filestore; write the manifest last",
    )
    env.add(p, "--filestore-path", "FILESTORE_PATH", "the tenant's filestore directory", metavar="PATH")
    env.add(
        p,
        "--compression-level",
        "BACKUP_COMPRESSION_LEVEL",
        "gzip level of the dump and the filestore tar, 0-9",
        default="1",
    )
    p.set_defaults(handler=_cmd_backup)

    p = sub.add_parser(
        "list",
        parents=[common],
        epilog=_epilog(),
        formatter_class=formatter,
        help="list backups with id, time, size and status",
    )
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser(
        "verify",
        parents=[common],
        epilog=_epilog(),
        formatter_class=formatter,
        help="re-read every part of a backup and check sha256 and sizes",
    )
    p.add_argument("backup_id", nargs="?", metavar="BACKUP_ID", help="default: the latest complete backup")
    p.set_defaults(handler=_cmd_verify)

    p = sub.add_parser(
        "restore-test",
        parents=[common, database],
        epilog=_epilog(),
        formatter_class=formatter,
        help="restore a backup into a scratch database and directory and check it",
    )
    p.add_argument("backup_id", nargs="?", metavar="BACKUP_ID", help="default: the latest complete backup")
    env.add(p, "--scratch-dir", "RESTORE_SCRATCH_DIR", "parent of the scratch directory; default a temp dir")
    env.add(p, "--rto-seconds", "RESTORE_TEST_RTO_SECONDS", "fail if the restore takes longer", metavar="SECONDS")
    p.set_defaults(handler=_cmd_restore_test)

    p = sub.add_parser(
        "prune",
        parents=[common],
        epilog=_epilog(),
        formatter_class=formatter,
        help="delete backups the retention policy does not keep",
    )
    for rule in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
        env.add(p, f"--keep-{rule}", f"BACKUP_KEEP_{rule.upper()}", f"keep-{rule} count", metavar="N")
    env.add(
        p,
        "--incomplete-max-age-hours",
        "BACKUP_INCOMPLETE_MAX_AGE_HOURS",
        "remove incomplete backups idle for longer",
        default="24",
        metavar="HOURS",
    )
    env.add(p, "--timezone", "BACKUP_TIMEZONE", "time zone defining days/weeks/months", default="UTC")
    p.add_argument("--dry-run", action="store_true", help="show what would be removed; delete nothing")
    p.set_defaults(handler=_cmd_prune)
    return parser


# --- settings ---------------------------------------------------------------------------------


def _int(value: str | None, name: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.ConfigError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise errors.ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _positive_float(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise errors.ConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if not number > 0:
        raise errors.ConfigError(f"{name} must be positive, got {value!r}")
    return number


def _make_store(args: argparse.Namespace, environ: Mapping[str, str]) -> BackupStore:
    if args.s3_bucket and args.backup_dir:
        raise errors.ConfigError("both BACKUP_S3_BUCKET and BACKUP_DIR are set: choose one backup target")
    if args.backup_dir:
        return VolumeStore(Path(args.backup_dir))
    if not args.s3_bucket:
        raise errors.ConfigError("no backup target: set BACKUP_S3_BUCKET (S3) or BACKUP_DIR (volume)")
    prefix = args.s3_prefix if args.s3_prefix is not None else args.tenant
    if not prefix:
        raise errors.ConfigError("set TENANT (the default S3 prefix) or BACKUP_S3_PREFIX")

    def secret(name: str) -> str | None:
        value = environ.get(name)
        return value or None

    settings = S3Settings(
        bucket=args.s3_bucket,
        prefix=prefix,
        region=args.s3_region,
        endpoint=args.s3_endpoint,
        access_key=secret("AWS_ACCESS_KEY_ID"),
        secret_key=secret("AWS_SECRET_ACCESS_KEY"),
        session_token=secret("AWS_SESSION_TOKEN"),
        sse=args.s3_sse or "",
        sse_kms_key_id=args.s3_sse_kms_key_id,
        object_lock_days=_int(args.s3_object_lock_days, "BACKUP_S3_OBJECT_LOCK_DAYS", 1),
        object_lock_mode=(args.s3_object_lock_mode or "GOVERNANCE").upper(),
    )
    return S3Store(settings)


def _pg_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> postgres.PgSettings:
    return postgres.PgSettings(
        host=args.pghost,
        port=args.pgport,
        database=args.pgdatabase,
        user=args.pguser,
        password=environ.get("PGPASSWORD") or None,
        bin_dir=args.pg_bin_dir,
    )


# --- output ---------------------------------------------------------------------------------


class Output:
    def __init__(self, as_json: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.as_json = as_json
        self.stdout = stdout
        self.stderr = stderr

    def log(self, line: str) -> None:
        print(line, file=self.stderr, flush=True)

    def result(self, data: Any, text: Callable[[], Sequence[str]]) -> None:
        if self.as_json:
            print(json.dumps(data, sort_keys=False), file=self.stdout, flush=True)
        else:
            for line in text():
                print(line, file=self.stdout)
            self.stdout.flush()

    def error(self, exc: errors.BackupError) -> None:
        code = exc.exit_code
        print(f"error: {exc.message} [exit {int(code)}: {code.name.lower()}]", file=self.stderr, flush=True)
        if self.as_json:
            payload = {"result": "error", "error": code.name.lower(), "exit_code": int(code), "message": exc.message}
            print(json.dumps(payload), file=self.stdout, flush=True)


def _size(size: int) -> str:
    return f"{size / MB:,.1f} MB"


# --- commands -------------------------------------------------------------------------------


def _cmd_backup(args: argparse.Namespace, environ: Mapping[str, str], out: Output) -> int:
    if not args.tenant:
        raise errors.ConfigError("TENANT (--tenant) is required for a backup")
    if not args.filestore_path:
        raise errors.ConfigError("FILESTORE_PATH (--filestore-path) is required for a backup")
    level = _int(args.compression_level, "BACKUP_COMPRESSION_LEVEL")
    if level is None or level > 9:
        raise errors.ConfigError("BACKUP_COMPRESSION_LEVEL must be 0-9")
    store = _make_store(args, environ)
    result = operations.run_backup(
        store,
        _pg_settings(args, environ),
        operations.BackupSettings(args.tenant, Path(args.filestore_path), level),
        out.log,
    )
    data = result.to_dict()
    out.result(
        data,
        lambda: [
            f"backup {data['backup_id']} complete: {data['tables']} tables, {data['rows']} rows, "
            f"{data['filestore_files']} files; {_size(data['source_bytes'])} read, "
            f"{_size(data['stored_bytes'])} stored in {data['duration_seconds']:.1f}s "
            f"({data['throughput_mb_per_s']} MB/s) to {data['target']}"
        ],
    )
    return ExitCode.OK


def _cmd_list(args: argparse.Namespace, environ: Mapping[str, str], out: Output) -> int:
    entries = operations.run_list(_make_store(args, environ))

    def text() -> list[str]:
        if not entries:
            return ["no backups"]
        lines = [f"{'BACKUP ID':<24} {'TIME':<21} {'SIZE':>12}  {'STATUS':<10} DETAIL"]
        for e in entries:
            lines.append(
                f"{e.backup_id:<24} {e.time.strftime('%Y-%m-%dT%H:%M:%SZ'):<21} {_size(e.stored_bytes):>12}  "
                f"{e.status:<10} {e.detail}".rstrip()
            )
        return lines

    out.result({"result": "list", "backups": [operations.entry_to_dict(e) for e in entries]}, text)
    return ExitCode.OK


def _cmd_verify(args: argparse.Namespace, environ: Mapping[str, str], out: Output) -> int:
    result = operations.run_verify(_make_store(args, environ), args.backup_id, out.log)
    data = result.to_dict()
    out.result(
        data,
        lambda: [
            f"backup {result.backup_id} verified: {len(result.parts)} parts, {_size(result.bytes_read)}, "
            f"sizes and sha256 match the manifest ({data['throughput_mb_per_s']} MB/s)"
        ],
    )
    return ExitCode.OK


def _cmd_restore_test(args: argparse.Namespace, environ: Mapping[str, str], out: Output) -> int:
    rto = _positive_float(args.rto_seconds, "RESTORE_TEST_RTO_SECONDS")
    result = operations.run_restore_test(
        _make_store(args, environ),
        _pg_settings(args, environ),
        args.backup_id,
        Path(args.scratch_dir) if args.scratch_dir else None,
        rto,
        out.log,
    )
    data = result.to_dict()

    def text() -> list[str]:
        verdict = "passed" if result.ok else "FAILED"
        lines = [
            f"restore test of backup {result.backup_id} {verdict}: {result.tables} tables, {result.rows} rows, "
            f"{result.filestore_files} files ({_size(result.filestore_bytes)}) restored in "
            f"{result.duration_seconds:.1f}s ({data['throughput_mb_per_s']} MB/s stored, "
            f"{data['restored_mb_per_s']} MB/s restored)"
            + (
                ""
                if result.rto_seconds is None
                else f"; RTO {result.rto_seconds:g}s " + ("met" if data["rto_met"] else "MISSED")
            )
        ]
        lines += [f"  problem: {p}" for p in result.problems]
        return lines

    out.result(data, text)
    if not result.ok:
        out.log(f"error: restore test failed: {'; '.join(result.problems)} [exit {int(ExitCode.RESTORE_CHECK_FAILED)}]")
        return ExitCode.RESTORE_CHECK_FAILED
    return ExitCode.OK


def _cmd_prune(args: argparse.Namespace, environ: Mapping[str, str], out: Output) -> int:
    counts = {
        rule: _int(getattr(args, f"keep_{rule}"), f"BACKUP_KEEP_{rule.upper()}") or 0
        for rule in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
    }
    policy = retention.Policy(**{f"keep_{rule}": n for rule, n in counts.items()})
    hours = _int(args.incomplete_max_age_hours, "BACKUP_INCOMPLETE_MAX_AGE_HOURS", 1)
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(args.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise errors.ConfigError(f"unknown time zone {args.timezone!r} (BACKUP_TIMEZONE)") from None
    result = operations.run_prune(
        _make_store(args, environ), policy, dt.timedelta(hours=hours or 24), tz, args.dry_run, out.log
    )

    def text() -> list[str]:
        lines = []
        for item in result.items:
            lines.append(
                f"{item.action:<8} {item.backup_id:<24} {item.status:<10} {_size(item.size_bytes):>12}  "
                + "; ".join(item.reasons)
            )
        kept = sum(1 for i in result.items if i.action in ("keep", "skip"))
        gone = sum(1 for i in result.items if i.action in ("removed", "remove"))
        verb = "would remove" if result.dry_run else "removed"
        lines.append(f"kept {kept}, {verb} {gone}, failed {len(result.failures)}")
        return lines or ["no backups"]

    out.result(result.to_dict(), text)
    if result.failures:
        first = result.failures[0]
        out.log(f"error: {first.message} [exit {int(first.exit_code)}]")
        return first.exit_code
    return ExitCode.OK


# --- entry point ----------------------------------------------------------------------------


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Kubernetes stops a Job's pod with SIGTERM; raising unwinds through the cleanup
    # of a partial backup and the scratch database instead of dying mid-write.
    raise SystemExit(128 + signum)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    out = Output(args.json, stdout or sys.stdout, stderr or sys.stderr)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        pass  # not the main thread (embedded use): keep the default handler
    try:
        code: int = args.handler(args, environ, out)
        return int(code)
    except errors.BackupError as exc:
        out.error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        out.log("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one clear line plus the traceback
        out.log(traceback.format_exc())
        out.error(errors.BackupError(f"unexpected {type(exc).__name__}: {exc}"))
        return int(ExitCode.UNEXPECTED)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
