"""Round trip of the real tool: backup, list, verify, restore-test, on S3 (SeaweedFS) and on a volume.

Real PostgreSQL 15, real SeaweedFS, the installed console script; nothing faked.
Checked: the manifest's row counts equal independent count(*) queries on the
source; the stored filestore archive, extracted with the system ``tar``, is
byte-identical to the source tree; restore-test restores into a scratch
database and directory, reports equal counts, and leaves neither behind; row
counts stay exact while the tenant keeps writing during the backup; with
BACKUP_S3_SSE=AES256 every object is stored encrypted (SeaweedFS runs with an
SSE-S3 key).
"""

from __future__ import annotations

import filecmp
import json
import subprocess
import threading
import time
from pathlib import Path

from backup_testlib import (
    PG_BIN,
    TEMPLATE_COUNTS,
    SeaweedS3,
    Target,
    Tenant,
    list_objects,
    run_tool,
    s3_target,
)


def _download(target: Target, tenant: Tenant, backup_id: str, name: str, dest: Path, seaweed: SeaweedS3 | None) -> Path:
    """Fetch a stored part with an independent client (boto3 directly, or a file copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if target.kind == "s3":
        assert seaweed is not None
        seaweed.client().download_file(target.bucket, f"{target.prefix}/{backup_id}/{name}", str(dest))
    else:
        assert target.root is not None
        dest.write_bytes((target.root / backup_id / name).read_bytes())
    return dest


def _assert_trees_identical(left: Path, right: Path) -> None:
    comparison = filecmp.dircmp(left, right)
    stack = [comparison]
    files = 0
    while stack:
        current = stack.pop()
        assert not current.left_only and not current.right_only, (current.left_only, current.right_only)
        _, mismatch, errors = filecmp.cmpfiles(current.left, current.right, current.common_files, shallow=False)
        assert not mismatch and not errors, (mismatch, errors)
        files += len(current.common_files)
        stack.extend(current.subdirs.values())
    assert files > 0


def test_backup_list_verify_restore_round_trip(tenant: Tenant, target: Target, tmp_path: Path, request) -> None:
    env = {**tenant.env(), **target.env}
    seaweed = request.getfixturevalue("seaweed") if target.kind == "s3" else None

    backup = run_tool("backup", "--json", env=env)
    assert backup.returncode == 0, backup
    result = backup.json
    backup_id = result["backup_id"]
    assert result["tenant"] == tenant.name
    assert result["rows"] == sum(TEMPLATE_COUNTS.values())
    assert result["filestore_files"] == 120

    # The manifest's counts are what an independent count(*) sees on the source.
    manifest_path = _download(target, tenant, backup_id, "manifest.json", tmp_path / "dl" / "manifest.json", seaweed)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "complete"
    assert manifest["database"]["tables"] == TEMPLATE_COUNTS
    assert manifest["database"]["tables"] == tenant.pg.row_counts(tenant.database, list(TEMPLATE_COUNTS))
    assert manifest["database"]["server_version_num"] >= 150000
    assert [p["name"] for p in manifest["parts"]] == ["database.dump", "filestore.tar.gz"]
    if target.kind == "s3":
        stored = list_objects(seaweed, target.bucket, f"{target.prefix}/{backup_id}/")
        assert sorted(stored) == sorted(
            f"{target.prefix}/{backup_id}/{n}" for n in ("manifest.json", "database.dump", "filestore.tar.gz")
        )

    # The stored archive is a plain tar.gz whose content is byte-identical to the filestore.
    archive = _download(target, tenant, backup_id, "filestore.tar.gz", tmp_path / "dl" / "fs.tar.gz", seaweed)
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(extracted)], check=True)
    _assert_trees_identical(tenant.filestore, extracted)
    # And the dump is a valid custom-format archive holding the tenant's tables.
    dump = _download(target, tenant, backup_id, "database.dump", tmp_path / "dl" / "db.dump", seaweed)
    listing = subprocess.run(
        [str(PG_BIN / "pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public ir_attachment" in listing and "TABLE DATA audit log" in listing

    listed = run_tool("list", "--json", env=env)
    assert listed.returncode == 0, listed
    assert [(b["backup_id"], b["status"]) for b in listed.json["backups"]] == [(backup_id, "complete")]
    assert (
        listed.json["backups"][0]["size_bytes"]
        == sum(p["size"] for p in manifest["parts"]) + manifest_path.stat().st_size
    )
    human = run_tool("list", env=env)
    assert backup_id in human.stdout and "complete" in human.stdout

    verify = run_tool("verify", env=env)
    assert verify.returncode == 0, verify
    assert f"backup {backup_id} verified" in verify.stdout

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    restore = run_tool("restore-test", "--json", env={**env, "RESTORE_SCRATCH_DIR": str(scratch)})
    assert restore.returncode == 0, restore
    report = restore.json
    assert report["ok"] is True and report["problems"] == []
    assert report["backup_id"] == backup_id
    assert report["tables"] == len(TEMPLATE_COUNTS) and report["rows"] == sum(TEMPLATE_COUNTS.values())
    assert report["filestore_files"] == 120
    assert report["filestore_bytes"] == sum(f.stat().st_size for f in tenant.filestore.rglob("*") if f.is_file())
    assert report["duration_seconds"] > 0 and report["throughput_mb_per_s"] > 0
    # The scratch database and directory are gone.
    assert list(scratch.iterdir()) == []
    assert tenant.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoretest%'") == "0"


def test_restore_test_picks_the_latest_and_reports_human_readable(tenant: Tenant, target: Target) -> None:
    env = {**tenant.env(), **target.env}
    first = run_tool("backup", "--json", env=env)
    assert first.returncode == 0, first
    tenant.pg.psql("INSERT INTO res_partner (name) SELECT 'late ' || g FROM generate_series(1, 42) g;", tenant.database)
    time.sleep(1.1)  # ids have one-second resolution; the order must be by time
    second = run_tool("backup", "--json", env=env)
    assert second.returncode == 0, second
    assert second.json["rows"] == first.json["rows"] + 42

    restore = run_tool("restore-test", env=env)
    assert restore.returncode == 0, restore
    assert f"restore test of backup {second.json['backup_id']} passed" in restore.stdout
    assert f"{sum(TEMPLATE_COUNTS.values()) + 42} rows" in restore.stdout

    # An explicit id restores the older one.
    older = run_tool("restore-test", first.json["backup_id"], "--json", env=env)
    assert older.returncode == 0, older
    assert older.json["rows"] == sum(TEMPLATE_COUNTS.values())


def test_row_counts_are_exact_while_the_tenant_keeps_writing(tenant: Tenant, tmp_path: Path) -> None:
    """Counts come from pg_dump's own snapshot: concurrent inserts never make restore-test fail."""
    env = {**tenant.env(), "BACKUP_DIR": str(tmp_path / "backups")}
    (tmp_path / "backups").mkdir()
    stop = threading.Event()
    inserted = 0

    def writer() -> None:
        nonlocal inserted
        proc = subprocess.Popen(
            [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**tenant.pg.env(database=tenant.database)},
        )  # fmt: skip
        assert proc.stdin is not None
        while not stop.is_set():
            proc.stdin.write("INSERT INTO audit.log (message) VALUES ('concurrent');\n")
            proc.stdin.flush()
            inserted += 1
            time.sleep(0.005)
        proc.stdin.close()
        proc.wait()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        backup = run_tool("backup", "--json", env=env)
    finally:
        stop.set()
        thread.join()
    assert backup.returncode == 0, backup
    assert inserted > 20
    final_rows = tenant.pg.row_counts(tenant.database, ["audit.log"])["audit.log"]
    restore = run_tool("restore-test", "--json", env=env)
    assert restore.returncode == 0, restore
    # The backup caught the table mid-stream: neither the start nor the end state,
    # yet restore-test found exactly the manifest's count.
    backed_up = restore.json["rows"] - (sum(TEMPLATE_COUNTS.values()) - TEMPLATE_COUNTS["audit.log"])
    assert TEMPLATE_COUNTS["audit.log"] < backed_up < final_rows


def test_server_side_encryption_on_s3(tenant: Tenant, seaweed: SeaweedS3) -> None:
    target = s3_target(seaweed, prefix=f"tenants/{tenant.name}")
    env = {**tenant.env(), **target.env, "BACKUP_S3_SSE": "AES256"}
    backup = run_tool("backup", "--json", env=env)
    assert backup.returncode == 0, backup
    client = seaweed.client()
    keys = list_objects(seaweed, target.bucket, f"{target.prefix}/")
    assert len(keys) == 3
    for key in keys:
        assert client.head_object(Bucket=target.bucket, Key=key).get("ServerSideEncryption") == "AES256", key
    assert run_tool("verify", env=env).returncode == 0
    assert run_tool("restore-test", env=env).returncode == 0
