"""Retention on real targets: prune over backups spread across months, object lock, incomplete backups.

Real PostgreSQL and SeaweedFS. To get backups "taken" on past dates, the
backups are made in-process by ``operations.run_backup`` with a fixed clock (the
only thing not real here: the date); prune itself runs as the console script.
The selection logic has literal-expectation unit tests in test_backup_units;
here the point is that prune deletes exactly the unkept backups, every object
of them and nothing else, skips backups under S3 object lock (retention or
legal hold) and says so, removes stale incomplete backups but keeps young
ones, and aborts multipart uploads a killed backup left unfinished.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

from backup_testlib import (
    LOCKED_BUCKET,
    PG_BIN,
    S3_ADMIN,
    TENANT_PASSWORD,
    TENANT_USER,
    SeaweedS3,
    Target,
    Tenant,
    list_objects,
    make_filestore,
    run_tool,
    s3_target,
    volume_target,
)

from odoo_tenant_operator.backup import operations, postgres, retention
from odoo_tenant_operator.backup.s3 import S3Settings, S3Store
from odoo_tenant_operator.backup.storage import BackupStore, VolumeStore

UTC = dt.UTC


def small_filestore(tenant: Tenant) -> None:
    shutil.rmtree(tenant.filestore)
    make_filestore(tenant.filestore, 4, seed=3, max_size=20_000)


def backup_at(tenant: Tenant, store: BackupStore, when: dt.datetime) -> str:
    pg = postgres.PgSettings(
        host=tenant.pg.host,
        port=str(tenant.pg.port),
        database=tenant.database,
        user=TENANT_USER,
        password=TENANT_PASSWORD,
        bin_dir=str(PG_BIN),
    )
    result = operations.run_backup(
        store, pg, operations.BackupSettings(tenant.name, tenant.filestore), log=lambda _: None, clock=lambda: when
    )
    return result.manifest.backup_id


MONTHS_OF_BACKUPS = [
    dt.datetime(2026, 6, 10, 14, 0, tzinfo=UTC),  # Wednesday, ISO week 24
    dt.datetime(2026, 6, 10, 2, 0, tzinfo=UTC),
    dt.datetime(2026, 6, 9, 2, 0, tzinfo=UTC),
    dt.datetime(2026, 6, 8, 2, 0, tzinfo=UTC),  # Monday, week 24
    dt.datetime(2026, 6, 1, 2, 0, tzinfo=UTC),  # Monday, week 23
    dt.datetime(2026, 5, 20, 2, 0, tzinfo=UTC),
    dt.datetime(2026, 4, 15, 2, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 15, 2, 0, tzinfo=UTC),
    dt.datetime(2026, 1, 10, 2, 0, tzinfo=UTC),
]


def test_prune_backups_spread_over_months_on_s3(tenant: Tenant, seaweed: SeaweedS3) -> None:
    small_filestore(tenant)
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    store = S3Store(
        S3Settings(
            bucket=target.bucket,
            prefix=target.prefix,
            endpoint=seaweed.endpoint,
            access_key=S3_ADMIN[0],
            secret_key=S3_ADMIN[1],
        )
    )
    ids = [backup_at(tenant, store, when) for when in MONTHS_OF_BACKUPS]
    # A backup still being written right now: parts, no manifest yet.
    running = f"{dt.datetime.now(UTC):%Y%m%dT%H%M%SZ}-beef"
    seaweed.client().put_object(Bucket=target.bucket, Key=f"{target.prefix}/{running}/database.dump", Body=b"partial")
    # Objects that are not backups are never touched.
    seaweed.client().put_object(Bucket=target.bucket, Key=f"{target.prefix}/README.txt", Body=b"hands off")
    env = {
        **tenant.env(),
        **target.env,
        "BACKUP_KEEP_LAST": "2",
        "BACKUP_KEEP_DAILY": "3",
        "BACKUP_KEEP_WEEKLY": "2",
        "BACKUP_KEEP_MONTHLY": "3",
    }
    before = list_objects(seaweed, target.bucket, f"{target.prefix}/")

    dry = run_tool("prune", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry
    assert list_objects(seaweed, target.bucket, f"{target.prefix}/") == before
    assert [i["action"] for i in dry.json["items"]].count("remove") == 2

    pruned = run_tool("prune", "--json", env=env)
    assert pruned.returncode == 0, pruned
    actions = {item["backup_id"]: (item["action"], item["reasons"]) for item in pruned.json["items"]}
    assert actions == {
        running: ("keep", ["incomplete but only 0.0h old: may still be running"]),
        ids[0]: ("keep", ["last #1", "daily 2026-06-10", "weekly 2026-W24", "monthly 2026-06"]),
        ids[1]: ("keep", ["last #2"]),
        ids[2]: ("keep", ["daily 2026-06-09"]),
        ids[3]: ("keep", ["daily 2026-06-08"]),
        ids[4]: ("keep", ["weekly 2026-W23"]),
        ids[5]: ("keep", ["monthly 2026-05"]),
        ids[6]: ("keep", ["monthly 2026-04"]),
        ids[7]: ("removed", ["matched no keep rule"]),
        ids[8]: ("removed", ["matched no keep rule"]),
    }
    after = list_objects(seaweed, target.bucket, f"{target.prefix}/")
    assert set(before) - set(after) == {
        f"{target.prefix}/{backup_id}/{name}"
        for backup_id in ids[7:]
        for name in ("manifest.json", "database.dump", "filestore.tar.gz")
    }
    assert f"{target.prefix}/README.txt" in after

    human = run_tool("prune", env=env)
    assert human.returncode == 0, human
    assert "kept 8, removed 0, failed 0" in human.stdout
    assert f"keep     {ids[4]}" in human.stdout and "weekly 2026-W23" in human.stdout
    # Everything kept still verifies.
    assert run_tool("verify", ids[6], env=env).returncode == 0


def test_prune_skips_backups_under_object_lock(tenant: Tenant, seaweed: SeaweedS3) -> None:
    small_filestore(tenant)
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}", bucket=LOCKED_BUCKET)
    env = {**tenant.env(), **target.env, "BACKUP_S3_OBJECT_LOCK_DAYS": "1"}
    first = run_tool("backup", "--json", env=env)
    assert first.returncode == 0, first
    lock_until = first.json["object_lock_until"]
    assert lock_until is not None
    retention = seaweed.client().get_object_retention(
        Bucket=LOCKED_BUCKET, Key=f"{target.prefix}/{first.json['backup_id']}/database.dump"
    )["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    time.sleep(1.1)
    second = run_tool("backup", "--json", env=env)
    assert second.returncode == 0, second

    pruned = run_tool("prune", "--keep-last", "1", env=env)
    assert pruned.returncode == 0, pruned
    assert f"skip     {first.json['backup_id']}" in pruned.stdout
    assert f"protected: object lock GOVERNANCE on database.dump until {lock_until}" in pruned.stdout
    listed = run_tool("list", "--json", env=env)
    assert [b["backup_id"] for b in listed.json["backups"]] == [second.json["backup_id"], first.json["backup_id"]]
    assert listed.json["backups"][0]["object_lock_until"] is not None
    assert run_tool("verify", first.json["backup_id"], env=env).returncode == 0


def test_object_lock_requested_on_a_bucket_without_it_warns(tenant: Tenant, seaweed: SeaweedS3) -> None:
    small_filestore(tenant)
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    run = run_tool("backup", "--json", env={**tenant.env(), **target.env, "BACKUP_S3_OBJECT_LOCK_DAYS": "7"})
    assert run.returncode == 0, run
    assert run.json["object_lock_until"] is None
    assert "has no object lock enabled" in run.stderr


def test_prune_removes_stale_incomplete_backups_but_never_the_only_complete_one(tenant: Tenant, tmp_path: Path) -> None:
    small_filestore(tenant)
    target: Target = volume_target(tmp_path / "backups")
    assert target.root is not None
    only = backup_at(tenant, VolumeStore(target.root), dt.datetime(2025, 1, 1, 3, 0, tzinfo=UTC))
    # A backup that died two days ago, leaving a part and a temp file, and one still running.
    stale = target.root / "20260101T000000Z-dead"
    stale.mkdir()
    (stale / "database.dump").write_bytes(b"partial")
    (stale / ".filestore.tar.gz.tmp-1234").write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 86400
    for path in (stale / "database.dump", stale / ".filestore.tar.gz.tmp-1234", stale):
        os.utime(path, (two_days_ago, two_days_ago))
    running = target.root / f"{dt.datetime.now(UTC):%Y%m%dT%H%M%SZ}-cafe"
    running.mkdir()
    (target.root / "lost+found").mkdir()

    env = {**tenant.env(), **target.env}
    assert run_tool("prune", env=env).returncode == 2  # no policy: refuse rather than guess
    pruned = run_tool("prune", "--keep-daily", "1", "--json", env=env)
    assert pruned.returncode == 0, pruned
    actions = {i["backup_id"]: i["action"] for i in pruned.json["items"]}
    assert actions == {only: "keep", stale.name: "removed", running.name: "keep"}
    assert sorted(p.name for p in target.root.iterdir()) == sorted([only, running.name, "lost+found"])
    assert run_tool("verify", env=env).returncode == 0


def test_prune_skips_backups_under_legal_hold(tenant: Tenant, seaweed: SeaweedS3) -> None:
    small_filestore(tenant)
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}", bucket=LOCKED_BUCKET)
    env = {**tenant.env(), **target.env}
    held = run_tool("backup", "--json", env=env)
    assert held.returncode == 0, held
    seaweed.client().put_object_legal_hold(
        Bucket=LOCKED_BUCKET,
        Key=f"{target.prefix}/{held.json['backup_id']}/filestore.tar.gz",
        LegalHold={"Status": "ON"},
    )
    time.sleep(1.1)
    assert run_tool("backup", env=env).returncode == 0

    pruned = run_tool("prune", "--keep-last", "1", "--json", env=env)
    assert pruned.returncode == 0, pruned
    item = next(i for i in pruned.json["items"] if i["backup_id"] == held.json["backup_id"])
    assert item["action"] == "skip"
    assert item["reasons"] == ["matched no keep rule", "protected: legal hold on filestore.tar.gz"]
    assert run_tool("verify", held.json["backup_id"], env=env).returncode == 0


def test_prune_aborts_uploads_a_killed_backup_left_unfinished(tenant: Tenant, seaweed: SeaweedS3) -> None:
    small_filestore(tenant)
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    store = S3Store(S3Settings(bucket=target.bucket, prefix=target.prefix, endpoint=seaweed.endpoint,
                               access_key=S3_ADMIN[0], secret_key=S3_ADMIN[1]))  # fmt: skip
    backup_at(tenant, store, dt.datetime.now(UTC))
    client = seaweed.client()
    key = f"{target.prefix}/{dt.datetime.now(UTC):%Y%m%dT%H%M%SZ}-dead/filestore.tar.gz"
    upload = client.create_multipart_upload(Bucket=target.bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=target.bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * (5 << 20))

    # Not a backup's key: someone else's upload under the same prefix is never touched.
    foreign = f"{target.prefix}/exports/report.csv"
    client.create_multipart_upload(Bucket=target.bucket, Key=foreign)

    def uploads() -> list[str]:
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=target.bucket, Prefix=target.prefix)
                .get("Uploads", []) if u["Key"] != foreign]  # fmt: skip

    def prune(days_later: int, dry_run: bool = False) -> list[str]:
        lines: list[str] = []
        later = dt.datetime.now(UTC) + dt.timedelta(days=days_later)
        operations.run_prune(store, retention.Policy(keep_last=1), dt.timedelta(hours=24), UTC, dry_run,
                             lines.append, clock=lambda: later)  # fmt: skip
        return lines

    assert uploads() == [key]
    assert not any("unfinished upload" in line for line in prune(0)), "a young upload may still be running"
    assert f"would abort the unfinished upload of {key} (an interrupted backup)" in prune(2, dry_run=True)
    assert uploads() == [key]
    assert f"aborted the unfinished upload of {key} (an interrupted backup)" in prune(2)
    assert uploads() == []
    assert [u["Key"] for u in client.list_multipart_uploads(Bucket=target.bucket, Prefix=target.prefix)
            .get("Uploads", [])] == [foreign]  # fmt: skip
