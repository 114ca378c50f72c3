"""The S3 target: backups as objects ``<prefix>/<backup id>/<part>`` in one bucket, via boto3.

Parts are streamed with boto3's managed transfer (multipart for anything above
one part): the source is read part by part into a bounded number of in-memory
part buffers, so memory stays flat while several parts upload concurrently. A
failing source raises during the read, s3transfer aborts the multipart upload,
and no object appears under the final key.

Object lock: when ``object_lock_days`` is set and the bucket has object lock
enabled, every object is written with a retention date (mode GOVERNANCE by
default, COMPLIANCE on request). ``protection`` reports retention and legal holds
so ``prune`` skips such backups instead of failing on them. In a versioned
bucket a delete only adds a delete marker; noncurrent versions are left to the
bucket's lifecycle rules, which is where an S3 administrator expects to find that.

Every boto3/botocore error is translated into the tool's error types here, with
the bucket and the S3 error code in the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import botocore.exceptions  # type: ignore[import-untyped, unused-ignore]
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from odoo_tenant_operator.backup import errors, ids
from odoo_tenant_operator.backup.manifest import MANIFEST_NAME
from odoo_tenant_operator.backup.storage import StoredObject
from odoo_tenant_operator.backup.streams import Readable

MiB = 1 << 20
MIN_PART_SIZE = 8 * MiB
# S3 allows 10,000 parts per upload; leave room for a source that outgrows its estimate.
_PLANNED_MAX_PARTS = 9000
_UPLOAD_CONCURRENCY = 3
# Bounds memory: at most this many part buffers exist at once (s3transfer reads
# ahead of the uploading threads only this far).
_IN_MEMORY_PARTS = 4

_DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidSecurity",
    "InvalidClientTokenId",
    "Forbidden",
    "403",
}
_NO_LOCK_CODES = {
    "ObjectLockConfigurationNotFoundError",
    "NoSuchObjectLockConfiguration",
    "NoSuchObjectLegalHold",
    "InvalidRequest",
}

SSE_CHOICES = ("", "AES256", "aws:kms")
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


@dataclasses.dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str
    region: str = "us-east-1"
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)
    sse: str = ""
    sse_kms_key_id: str | None = None
    object_lock_days: int | None = None
    object_lock_mode: str = "GOVERNANCE"

    def __post_init__(self) -> None:
        if self.sse not in SSE_CHOICES:
            raise errors.ConfigError(f"BACKUP_S3_SSE must be empty, AES256 or aws:kms, not {self.sse!r}")
        if self.object_lock_mode not in LOCK_MODES:
            raise errors.ConfigError(
                f"object lock mode must be GOVERNANCE or COMPLIANCE, not {self.object_lock_mode!r}"
            )
        if self.object_lock_days is not None and self.object_lock_days <= 0:
            raise errors.ConfigError("BACKUP_S3_OBJECT_LOCK_DAYS must be a positive number of days")


def part_size_for(size_hint: int | None) -> int:
    """Multipart part size: 8 MiB, or larger when the estimate would need too many parts."""
    if not size_hint:
        return MIN_PART_SIZE
    needed = math.ceil(size_hint * 1.2 / _PLANNED_MAX_PARTS)
    return max(MIN_PART_SIZE, math.ceil(needed / MiB) * MiB)


class S3Store:
    def __init__(self, settings: S3Settings, client: Any = None) -> None:
        self.settings = settings
        self.prefix = settings.prefix.strip("/")
        self.notices: list[str] = []
        self._lock_until: dt.datetime | None = None
        self._lock_enabled: bool | None = None
        if client is None:
            session = boto3.session.Session(
                aws_access_key_id=settings.access_key,
                aws_secret_access_key=settings.secret_key,
                aws_session_token=settings.session_token,
                region_name=settings.region,
            )
            client = session.client(
                "s3",
                endpoint_url=settings.endpoint or None,
                config=Config(
                    # S3-compatible servers (SeaweedFS, MinIO, Ceph) rarely do virtual-host buckets.
                    s3={"addressing_style": "path" if settings.endpoint else "auto"},
                    retries={"mode": "standard", "max_attempts": 5},
                    connect_timeout=10,
                    read_timeout=120,
                ),
            )
        self._client = client

    # --- naming -------------------------------------------------------------------------

    def _key(self, backup_id: str, name: str = "") -> str:
        if not ids.is_backup_id(backup_id):
            raise ValueError(f"not a backup id: {backup_id!r}")
        base = f"{self.prefix}/{backup_id}/" if self.prefix else f"{backup_id}/"
        return base + name

    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def describe(self) -> str:
        where = f" at {self.settings.endpoint}" if self.settings.endpoint else ""
        return f"s3://{self.settings.bucket}/{self.prefix}{where}"

    # --- BackupStore ---------------------------------------------------------------------

    def check(self) -> None:
        with self._translated("listing backups"):
            self._client.list_objects_v2(Bucket=self.settings.bucket, Prefix=self._root(), MaxKeys=1)

    def prepare_write(self, now: dt.datetime) -> dt.datetime | None:
        self._lock_until = None
        if self.settings.object_lock_days:
            if self._bucket_has_object_lock():
                self._lock_until = now + dt.timedelta(days=self.settings.object_lock_days)
            else:
                self.notices.append(
                    f"BACKUP_S3_OBJECT_LOCK_DAYS is set but bucket {self.settings.bucket} has no object lock "
                    "enabled: objects are written without retention"
                )
        return self._lock_until

    def list_objects(self) -> list[StoredObject]:
        found: list[StoredObject] = []
        root = self._root()
        with self._translated("listing backups"):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=root):
                for item in page.get("Contents", []):
                    rest = str(item["Key"])[len(root) :]
                    backup_id, _, name = rest.partition("/")
                    if not ids.is_backup_id(backup_id) or not name or "/" in name:
                        continue
                    modified = item["LastModified"]
                    found.append(StoredObject(backup_id, name, int(item["Size"]), modified.astimezone(dt.UTC)))
        return found

    def reserve(self, backup_id: str) -> None:
        with self._translated("checking the new backup id"):
            response = self._client.list_objects_v2(Bucket=self.settings.bucket, Prefix=self._key(backup_id), MaxKeys=1)
        if response.get("KeyCount", 0):
            raise FileExistsError(f"objects already exist under {self._key(backup_id)}")

    def put(self, backup_id: str, name: str, source: Readable, size_hint: int | None) -> None:
        part = part_size_for(size_hint)
        config = TransferConfig(
            multipart_threshold=part,
            multipart_chunksize=part,
            max_concurrency=_UPLOAD_CONCURRENCY,
            use_threads=True,
            # The CRT client (if installed) buffers differently; keep the bounded classic one.
            preferred_transfer_client="classic",
        )
        config.max_in_memory_upload_chunks = _IN_MEMORY_PARTS
        extra: dict[str, Any] = {
            "ContentType": "application/json" if name == MANIFEST_NAME else "application/octet-stream"
        }
        if self.settings.sse:
            extra["ServerSideEncryption"] = self.settings.sse
            if self.settings.sse == "aws:kms" and self.settings.sse_kms_key_id:
                extra["SSEKMSKeyId"] = self.settings.sse_kms_key_id
        if self._lock_until is not None:
            extra["ObjectLockMode"] = self.settings.object_lock_mode
            extra["ObjectLockRetainUntilDate"] = self._lock_until
        with self._translated(f"uploading {name}"):
            self._client.upload_fileobj(
                source, self.settings.bucket, self._key(backup_id, name), ExtraArgs=extra, Config=config
            )

    def open(self, backup_id: str, name: str) -> AbstractContextManager[Readable]:
        return self._open(backup_id, name)

    @contextmanager
    def _open(self, backup_id: str, name: str) -> Iterator[Readable]:
        key = self._key(backup_id, name)
        with self._translated(f"reading {name}", missing=f"backup {backup_id}: part {name} is missing ({key})"):
            response = self._client.get_object(Bucket=self.settings.bucket, Key=key)
        body = response["Body"]
        try:
            yield _TranslatingBody(body, self, f"reading {name}")
        finally:
            body.close()

    def delete_backup(self, backup_id: str, names: Sequence[str]) -> None:
        keys = [self._key(backup_id, n) for n in sorted(set(names), key=lambda n: n != MANIFEST_NAME) if n]
        if not keys:
            return
        with self._translated(f"deleting backup {backup_id}"):
            # The manifest goes alone and first (see storage's module docstring).
            self._client.delete_object(Bucket=self.settings.bucket, Key=keys[0])
            rest = keys[1:]
            for start in range(0, len(rest), 1000):
                batch = rest[start : start + 1000]
                response = self._client.delete_objects(
                    Bucket=self.settings.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
                failed = response.get("Errors", [])
                if failed:
                    first = failed[0]
                    raise errors.BackupError(
                        f"could not delete {len(failed)} object(s) of backup {backup_id}: "
                        f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                    )

    def abort_stale_uploads(self, started_before: dt.datetime, dry_run: bool) -> list[str]:
        """Multipart uploads a killed backup left unfinished: invisible, but stored and billed."""
        stale: list[tuple[str, str]] = []
        with self._translated("listing unfinished uploads"):
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=self._root()):
                for upload in page.get("Uploads", []):
                    backup_id, _, name = str(upload["Key"])[len(self._root()) :].partition("/")
                    # Only the tool's own keys, as everywhere: other uploads under the prefix are not ours.
                    if not ids.is_backup_id(backup_id) or not name or "/" in name:
                        continue
                    if upload["Initiated"] < started_before:
                        stale.append((str(upload["Key"]), str(upload["UploadId"])))
        if not dry_run:
            with self._translated("aborting unfinished uploads"):
                for key, upload_id in stale:
                    self._client.abort_multipart_upload(Bucket=self.settings.bucket, Key=key, UploadId=upload_id)
        return [key for key, _ in stale]

    def protection(self, backup_id: str, names: Sequence[str], now: dt.datetime) -> str | None:
        if not self._bucket_has_object_lock():
            return None
        for name in names:
            if not name:
                continue
            key = self._key(backup_id, name)
            try:
                retention = self._client.get_object_retention(Bucket=self.settings.bucket, Key=key)
                until = retention.get("Retention", {}).get("RetainUntilDate")
                mode = retention.get("Retention", {}).get("Mode", "")
                if until is not None and until > now:
                    return f"object lock {mode} on {name} until {ids.format_time(until)}"
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _DENIED_CODES:
                    return f"cannot read the object lock of {name} ({_code(exc)}): kept to be safe"
                if _code(exc) not in _NO_LOCK_CODES:
                    raise self._translate(exc, "reading object retention") from exc
            try:
                hold = self._client.get_object_legal_hold(Bucket=self.settings.bucket, Key=key)
                if hold.get("LegalHold", {}).get("Status") == "ON":
                    return f"legal hold on {name}"
            except botocore.exceptions.ClientError as exc:
                if _code(exc) in _DENIED_CODES:
                    return f"cannot read the legal hold of {name} ({_code(exc)}): kept to be safe"
                if _code(exc) not in _NO_LOCK_CODES:
                    raise self._translate(exc, "reading legal hold") from exc
        return None

    # --- helpers -------------------------------------------------------------------------

    def _bucket_has_object_lock(self) -> bool:
        if self._lock_enabled is None:
            try:
                response = self._client.get_object_lock_configuration(Bucket=self.settings.bucket)
                enabled = response.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except botocore.exceptions.ClientError as exc:
                if _code(exc) not in _NO_LOCK_CODES and _code(exc) not in ("NotImplemented", "MethodNotAllowed"):
                    raise self._translate(exc, "reading the bucket's object lock configuration") from exc
                enabled = False
            self._lock_enabled = enabled
        return self._lock_enabled

    @contextmanager
    def _translated(self, doing: str, missing: str | None = None) -> Iterator[None]:
        try:
            yield
        except errors.BackupError:
            raise
        except botocore.exceptions.ClientError as exc:
            if missing is not None and _code(exc) in ("NoSuchKey", "404"):
                raise errors.BackupCorrupted(missing) from exc
            raise self._translate(exc, doing) from exc
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as exc:
            raise errors.StorageAccessDenied(
                f"no usable S3 credentials while {doing}: {exc}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
            ) from exc
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ResponseStreamingError,
            botocore.exceptions.IncompleteReadError,
        ) as exc:
            raise errors.StorageUnreachable(
                f"S3 endpoint {self.settings.endpoint or 'AWS'} unreachable while {doing}: {exc}"
            ) from exc
        except (boto3.exceptions.S3UploadFailedError, boto3.exceptions.RetriesExceededError) as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, botocore.exceptions.ClientError):
                raise self._translate(cause, doing) from exc
            raise errors.StorageUnreachable(f"S3 transfer failed while {doing}: {exc}") from exc

    def _translate(self, exc: Any, doing: str) -> errors.BackupError:
        code = _code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        bucket = self.settings.bucket
        if code in _DENIED_CODES or status == 403:
            return errors.StorageAccessDenied(
                f"S3 denied access while {doing} in bucket {bucket} ({code or status}: {message}). "
                "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the backup Secret and the key's "
                "permissions on the bucket."
            )
        if code == "NoSuchBucket":
            return errors.StorageNotFound(
                f"bucket {bucket} does not exist at {self.settings.endpoint or 'AWS S3'}: "
                "create it or fix BACKUP_S3_BUCKET"
            )
        if status == 404 and code in ("404", "NotFound", ""):
            # Every call here is a GET, to which S3 answers a missing bucket with NoSuchBucket; a bare
            # 404 comes from something else (a console, a filer, a proxy) at that address.
            return errors.StorageUnreachable(
                f"{self.settings.endpoint or 'the S3 endpoint'} answered 404 without an S3 error while {doing}: "
                "it does not look like an S3 API; check BACKUP_S3_ENDPOINT"
            )
        if status >= 500:
            return errors.StorageUnreachable(f"S3 server error while {doing} in bucket {bucket}: {code} {message}")
        return errors.BackupError(f"S3 error while {doing} in bucket {bucket}: {code} {message}")


class _TranslatingBody:
    """A downloading object body whose transport errors become the tool's error types."""

    def __init__(self, body: Any, store: S3Store, doing: str) -> None:
        self._body = body
        self._store = store
        self._doing = doing

    def read(self, size: int = -1, /) -> bytes:
        with self._store._translated(self._doing):
            data = self._body.read(None if size < 0 else size)
        return bytes(data)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
