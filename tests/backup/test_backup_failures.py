"""Failures of the real tool: each gives one clear message and its own exit code, and harms no backup.

Real PostgreSQL, real SeaweedFS (with its identity file: wrong secrets, unknown
keys and a read-only key are rejected by the server), a real size-limited tmpfs
for the full volume, real byte flips in stored objects. Every test first makes
a good backup, provokes the failure, checks exit code and message, then checks
the good backup is still listed as complete and still verifies.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from backup_testlib import (
    BUCKET,
    S3_ADMIN,
    S3_READONLY,
    TOOL,
    SeaweedS3,
    Target,
    Tenant,
    base_env,
    free_port,
    list_objects,
    make_filestore,
    run_tool,
    s3_target,
    tmpfs,
    volume_target,
)

from odoo_tenant_operator.backup import errors
from odoo_tenant_operator.backup.s3 import S3Settings, S3Store
from odoo_tenant_operator.backup.storage import VolumeStore
from odoo_tenant_operator.backup.streams import HashingReader


def good_backup(tenant: Tenant, target: Target) -> str:
    run = run_tool("backup", "--json", env={**tenant.env(), **target.env})
    assert run.returncode == 0, run
    return str(run.json["backup_id"])


def assert_only_good_backup(tenant: Tenant, target: Target, backup_id: str) -> None:
    """The earlier backup is the only one, complete, and its parts still match their checksums."""
    env = {**tenant.env(), **target.env}
    listed = run_tool("list", "--json", env=env)
    assert listed.returncode == 0, listed
    assert [(b["backup_id"], b["status"]) for b in listed.json["backups"]] == [(backup_id, "complete")]
    verify = run_tool("verify", backup_id, env=env)
    assert verify.returncode == 0, verify


def corrupt_object(
    target: Target, seaweed: SeaweedS3 | None, backup_id: str, name: str, truncate: bool = False
) -> None:
    """Flip one byte in the middle of a stored part (same size), or cut its last byte."""
    if target.kind == "s3":
        assert seaweed is not None
        client = seaweed.client()
        key = f"{target.prefix}/{backup_id}/{name}"
        data = bytearray(client.get_object(Bucket=target.bucket, Key=key)["Body"].read())
        if truncate:
            del data[-1]
        else:
            data[len(data) // 2] ^= 0x55
        client.put_object(Bucket=target.bucket, Key=key, Body=bytes(data))
    else:
        assert target.root is not None
        path = target.root / backup_id / name
        data = bytearray(path.read_bytes())
        if truncate:
            del data[-1]
        else:
            data[len(data) // 2] ^= 0x55
        path.write_bytes(bytes(data))


# --- storage credentials and bucket ----------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "s3_code"),
    [
        ((S3_ADMIN[0], "not-the-secret"), "SignatureDoesNotMatch"),
        (("AKIAUNKNOWNKEY000000", S3_ADMIN[1]), "InvalidAccessKeyId"),
        (S3_READONLY, "AccessDenied"),
    ],
    ids=["wrong-secret", "unknown-key", "read-only-key"],
)
def test_rejected_s3_credentials(tenant: Tenant, seaweed: SeaweedS3, keys: tuple[str, str], s3_code: str) -> None:
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    backup_id = good_backup(tenant, target)
    bad = s3_target(seaweed, prefix=target.prefix, keys=keys)

    run = run_tool("backup", env={**tenant.env(), **bad.env})
    assert run.returncode == errors.ExitCode.STORAGE_ACCESS_DENIED == 3, run
    assert "S3 denied access" in run.stderr and s3_code in run.stderr and "AWS_SECRET_ACCESS_KEY" in run.stderr
    assert run.stderr.count("error:") == 1
    if keys != S3_READONLY:
        # A key that cannot even list gets the same code for the read commands.
        for command in ("list", "verify", "prune"):
            other = (
                run_tool(command, "--keep-last", "1", env={**tenant.env(), **bad.env})
                if command == "prune"
                else (run_tool(command, env={**tenant.env(), **bad.env}))
            )
            assert other.returncode == 3, other
    assert_only_good_backup(tenant, target, backup_id)
    assert len(list_objects(seaweed, BUCKET, f"{target.prefix}/")) == 3


def test_missing_bucket(tenant: Tenant, seaweed: SeaweedS3) -> None:
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    backup_id = good_backup(tenant, target)
    missing = s3_target(seaweed, prefix=target.prefix, bucket="no-such-bucket")
    for command in ("backup", "list", "verify", "restore-test"):
        run = run_tool(command, "--json", env={**tenant.env(), **missing.env})
        assert run.returncode == errors.ExitCode.STORAGE_NOT_FOUND == 4, run
        assert run.json == {
            "result": "error",
            "error": "storage_not_found",
            "exit_code": 4,
            "message": f"bucket no-such-bucket does not exist at {seaweed.endpoint}: create it or fix BACKUP_S3_BUCKET",
        }
    assert "no-such-bucket" not in {b["Name"] for b in seaweed.client().list_buckets()["Buckets"]}
    assert_only_good_backup(tenant, target, backup_id)


def test_missing_backup_directory(tenant: Tenant, tmp_path: Path) -> None:
    run = run_tool("backup", env={**tenant.env(), "BACKUP_DIR": str(tmp_path / "not-mounted")})
    assert run.returncode == 4, run
    assert "backup directory" in run.stderr and "is the backup volume mounted" in run.stderr
    assert not (tmp_path / "not-mounted").exists()


def test_unreachable_s3_endpoint(tenant: Tenant, tmp_path: Path) -> None:
    env = {
        **tenant.env(),
        "BACKUP_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "BACKUP_S3_BUCKET": BUCKET,
        "AWS_ACCESS_KEY_ID": S3_ADMIN[0],
        "AWS_SECRET_ACCESS_KEY": S3_ADMIN[1],
    }
    run = run_tool("list", env=env)
    assert run.returncode == errors.ExitCode.STORAGE_UNREACHABLE == 11, run
    assert "unreachable" in run.stderr


# --- database --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"PGPORT": "free"}, 5, "cannot reach PostgreSQL"),
        ({"PGHOST": "127.0.0.1", "PGDATABASE": "no_such_database"}, 5, 'database "no_such_database" does not exist'),
        ({"PGPASSWORD": "wrong-password"}, 6, 'password authentication failed for user "odoo"'),
        ({"PGUSER": "nobody_here"}, 6, "rejected the login"),
    ],
    ids=["closed-port", "missing-database", "wrong-password", "unknown-user"],
)
def test_database_unreachable_or_login_rejected(
    tenant: Tenant, seaweed: SeaweedS3, change: dict[str, str], code: int, message: str
) -> None:
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    backup_id = good_backup(tenant, target)
    broken = {k: str(free_port()) if v == "free" else v for k, v in change.items()}
    env = {**tenant.env(), **target.env, **broken}

    started = time.monotonic()
    run = run_tool("backup", env=env)
    assert time.monotonic() - started < 30
    assert run.returncode == code, run
    assert message in run.stderr
    assert ("PGHOST/PGPORT/PGDATABASE" if code == 5 else "PGUSER/PGPASSWORD") in run.stderr

    restore = run_tool("restore-test", env=env)
    assert restore.returncode == code, restore
    assert_only_good_backup(tenant, target, backup_id)
    assert tenant.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoretest%'") == "0"


def test_missing_filestore_is_a_source_error(tenant: Tenant, tmp_path: Path) -> None:
    target = volume_target(tmp_path / "backups")
    backup_id = good_backup(tenant, target)
    run = run_tool("backup", env={**tenant.env(), **target.env, "FILESTORE_PATH": str(tmp_path / "gone")})
    assert run.returncode == errors.ExitCode.SOURCE_FAILED == 12, run
    assert "FILESTORE_PATH" in run.stderr
    assert_only_good_backup(tenant, target, backup_id)


# --- full volume -----------------------------------------------------------------------------


def test_full_volume(tenant: Tenant, tmp_path: Path) -> None:
    staging = volume_target(tmp_path / "staging")
    backup_id = good_backup(tenant, staging)
    used = sum(f.stat().st_size for f in (tmp_path / "staging").rglob("*") if f.is_file())
    with tmpfs(tmp_path / "full", f"{(used + (1 << 20)) // 1024 + 64}k") as mounted:
        shutil.copytree(tmp_path / "staging" / backup_id, mounted / backup_id)
        target = volume_target(mounted)
        # The tenant grew by incompressible attachments the volume has no room for.
        make_filestore(tenant.filestore, 3, seed=99, max_size=3 << 20)
        (tenant.filestore / "big.bin").write_bytes(os.urandom(3 << 20))

        run = run_tool("backup", env={**tenant.env(), **target.env})
        assert run.returncode == errors.ExitCode.NO_SPACE == 7, run
        assert "no space left on the backup volume" in run.stderr and "grow the volume or prune" in run.stderr
        assert "removed the partial backup" in run.stderr
        # The partial backup (and its temp files) are gone; the earlier one is intact.
        assert sorted(p.name for p in mounted.iterdir()) == [backup_id]
        assert sorted(p.name for p in (mounted / backup_id).iterdir()) == [
            "database.dump",
            "filestore.tar.gz",
            "manifest.json",
        ]
        assert_only_good_backup(tenant, target, backup_id)


# --- corruption and missing backups ----------------------------------------------------------


def test_corrupted_part_fails_verify_and_restore_test(
    tenant: Tenant, target: Target, request: pytest.FixtureRequest
) -> None:
    seaweed = request.getfixturevalue("seaweed") if target.kind == "s3" else None
    env = {**tenant.env(), **target.env}
    older = good_backup(tenant, target)
    time.sleep(1.1)
    newer = good_backup(tenant, target)
    corrupt_object(target, seaweed, newer, "filestore.tar.gz")

    listed = run_tool("list", "--json", env=env)
    assert [b["status"] for b in listed.json["backups"]] == ["complete", "complete"]  # same size: only a re-read tells
    verify = run_tool("verify", env=env)
    assert verify.returncode == errors.ExitCode.BACKUP_CORRUPTED == 8, verify
    assert f"backup {newer} is corrupted" in verify.stderr and "filestore.tar.gz: sha256" in verify.stderr
    assert "database.dump: 0" not in verify.stderr  # the intact part is reported OK
    restore = run_tool("restore-test", "--json", env=env)
    assert restore.returncode == 8, restore
    assert restore.json["error"] == "backup_corrupted" and "filestore.tar.gz" in restore.json["message"]
    assert tenant.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoretest%'") == "0"

    # The older backup is untouched and still restores; nothing was deleted.
    assert run_tool("verify", older, env=env).returncode == 0
    assert run_tool("restore-test", older, env=env).returncode == 0
    assert len(run_tool("list", "--json", env=env).json["backups"]) == 2

    # Keeping only the newest must not mean keeping only a corrupted one: prune checks it first.
    pruned = run_tool("prune", "--keep-last", "1", "--json", env=env)
    assert pruned.returncode == 0, pruned
    items = {i["backup_id"]: i for i in pruned.json["items"]}
    assert items[newer]["status"] == "damaged" and items[newer]["action"] == "keep"
    assert "fails its checksums" in items[newer]["reasons"][0]
    assert items[older]["action"] == "keep" and items[older]["reasons"] == ["last #1"]
    assert run_tool("restore-test", older, env=env).returncode == 0


def test_corrupted_dump_is_reported_as_corruption_not_restore_failure(tenant: Tenant, tmp_path: Path) -> None:
    target = volume_target(tmp_path / "backups")
    backup_id = good_backup(tenant, target)
    corrupt_object(target, None, backup_id, "database.dump")
    run = run_tool("restore-test", env={**tenant.env(), **target.env})
    assert run.returncode == 8, run
    assert "database.dump: sha256" in run.stderr
    assert tenant.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoretest%'") == "0"


def test_truncated_part_and_broken_manifest_are_damaged(tenant: Tenant, tmp_path: Path) -> None:
    target = volume_target(tmp_path / "backups")
    env = {**tenant.env(), **target.env}
    first = good_backup(tenant, target)
    time.sleep(1.1)
    second = good_backup(tenant, target)
    corrupt_object(target, None, second, "database.dump", truncate=True)
    (tmp_path / "backups" / first / "manifest.json").write_text("{ this is not json")

    listed = run_tool("list", "--json", env=env).json["backups"]
    assert [(b["backup_id"], b["status"]) for b in listed] == [(second, "damaged"), (first, "damaged")]
    assert "manifest says" in listed[0]["detail"] and "not valid JSON" in listed[1]["detail"]
    for backup_id in (second, first):
        run = run_tool("verify", backup_id, env=env)
        assert run.returncode == 8, run
    # restore-test never falls back silently to an older backup when the newest is damaged.
    run = run_tool("restore-test", env=env)
    assert run.returncode == 8 and second in run.stderr, run
    # prune keeps damaged backups for inspection.
    pruned = run_tool("prune", "--keep-last", "1", "--json", env=env)
    assert pruned.returncode == 0, pruned
    assert {i["action"] for i in pruned.json["items"]} == {"keep"}


def test_no_complete_backup(tenant: Tenant, target: Target, request: pytest.FixtureRequest) -> None:
    env = {**tenant.env(), **target.env}
    for command in ("verify", "restore-test"):
        run = run_tool(command, "--json", env=env)
        assert run.returncode == errors.ExitCode.NO_COMPLETE_BACKUP == 9, run
        assert run.json["message"] == "no complete backup found (the target holds no backups)"

    # A backup whose manifest never got written (e.g. the node died) is incomplete, never "latest".
    backup_id = good_backup(tenant, target)
    if target.kind == "s3":
        seaweed = request.getfixturevalue("seaweed")
        seaweed.client().delete_object(Bucket=target.bucket, Key=f"{target.prefix}/{backup_id}/manifest.json")
    else:
        assert target.root is not None
        (target.root / backup_id / "manifest.json").unlink()
    listed = run_tool("list", env=env)
    assert "incomplete" in listed.stdout and "no manifest" in listed.stdout
    for command in ("verify", "restore-test"):
        run = run_tool(command, env=env)
        assert run.returncode == 9, run
        assert "1 incomplete backup(s) present" in run.stderr
    run = run_tool("verify", "20200101T000000Z-dead", env=env)
    assert run.returncode == 9 and "not found" in run.stderr


# --- partial writes never look finished ----------------------------------------------------------


class FailingSource:
    """Yields 20 MiB, then fails like a dying pg_dump would (at end of stream)."""

    def __init__(self) -> None:
        self.remaining = 20 << 20

    def read(self, size: int = -1, /) -> bytes:
        if self.remaining <= 0:
            return b""
        chunk = os.urandom(min(size if size > 0 else 1 << 20, self.remaining, 1 << 20))
        self.remaining -= len(chunk)
        return chunk


def test_failed_stream_leaves_no_object_on_s3_or_volume(seaweed: SeaweedS3, tmp_path: Path) -> None:
    def boom() -> None:
        raise errors.SourceFailed("pg_dump exited with 1")

    s3_store = S3Store(
        S3Settings(
            bucket=BUCKET,
            prefix="partial-test",
            endpoint=seaweed.endpoint,
            access_key=S3_ADMIN[0],
            secret_key=S3_ADMIN[1],
        )
    )
    backup_id = "20260101T000000Z-beef"
    s3_store.reserve(backup_id)
    with pytest.raises(errors.SourceFailed):
        s3_store.put(backup_id, "database.dump", HashingReader(FailingSource(), on_eof=boom), size_hint=None)
    assert list_objects(seaweed, BUCKET, "partial-test/") == {}
    # The multipart upload was aborted, not left dangling.
    assert seaweed.client().list_multipart_uploads(Bucket=BUCKET, Prefix="partial-test/").get("Uploads", []) == []

    volume = VolumeStore(tmp_path)
    volume.reserve(backup_id)
    with pytest.raises(errors.SourceFailed):
        volume.put(backup_id, "database.dump", HashingReader(FailingSource(), on_eof=boom), size_hint=None)
    assert list((tmp_path / backup_id).iterdir()) == []

    # A complete put works and is visible, byte for byte.
    volume.put(backup_id, "manifest.json", io.BytesIO(b"{}"), size_hint=None)
    assert (tmp_path / backup_id / "manifest.json").read_bytes() == b"{}"
    assert [o.name for o in volume.list_objects()] == ["manifest.json"]


def test_sigterm_mid_backup_removes_the_partial_backup(tenant: Tenant, seaweed: SeaweedS3) -> None:
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    backup_id = good_backup(tenant, target)
    # Enough incompressible data that the filestore upload takes a while.
    for i in range(8):
        (tenant.filestore / f"large{i}.bin").write_bytes(os.urandom(16 << 20))
    proc = subprocess.Popen(
        [str(TOOL), "backup"],
        env={**base_env(), **tenant.env(), **target.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        keys = list_objects(seaweed, BUCKET, f"{target.prefix}/")
        if any(k.endswith("/database.dump") and backup_id not in k for k in keys):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    else:
        pytest.fail("the second backup never wrote its database part")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "removed the partial backup" in stderr
    assert_only_good_backup(tenant, target, backup_id)
    assert len(list_objects(seaweed, BUCKET, f"{target.prefix}/")) == 3


# --- restore-test sanity checks ------------------------------------------------------------------


def test_restore_test_detects_row_count_table_and_filestore_mismatches(tenant: Tenant, tmp_path: Path) -> None:
    """A manifest that promises other counts than the restore delivers fails the restore test (exit 10)."""
    target = volume_target(tmp_path / "backups")
    env = {**tenant.env(), **target.env}
    backup_id = good_backup(tenant, target)
    assert target.root is not None
    manifest_path = target.root / backup_id / "manifest.json"
    original = manifest_path.read_text()
    manifest = json.loads(original)
    tables = manifest["database"]["tables"]
    tables["public.res_partner"] += 1
    del tables["audit.log"]
    tables["public.account_move"] = 10
    manifest["filestore"]["files"] += 1
    manifest_path.write_text(json.dumps(manifest))

    run = run_tool("restore-test", "--json", env=env)
    assert run.returncode == errors.ExitCode.RESTORE_CHECK_FAILED == 10, run
    report = run.json
    assert report["ok"] is False
    assert report["problems"] == [
        "table public.account_move is missing",
        "table public.res_partner has 3000 rows, manifest says 3001",
        "table audit.log is not in the manifest",
        "filestore has 120 files, manifest says 121",
    ]
    human = run_tool("restore-test", env=env)
    assert human.returncode == 10 and "FAILED" in human.stdout and "problem: table public.account_move" in human.stdout
    assert tenant.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoretest%'") == "0"

    # An RTO the restore cannot meet fails the test too, with the evidence.
    manifest_path.write_text(original)
    slow = run_tool("restore-test", "--json", env={**env, "RESTORE_TEST_RTO_SECONDS": "0.001"})
    assert slow.returncode == 10, slow
    assert slow.json["rto_met"] is False and "above the RTO" in slow.json["problems"][0]
    fine = run_tool("restore-test", "--json", "--rto-seconds", "600", env=env)
    assert fine.returncode == 0 and fine.json["rto_met"] is True, fine
