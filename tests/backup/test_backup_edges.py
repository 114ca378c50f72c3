"""Edges an attack run found in the backup tool, each against the real servers.

Real PostgreSQL 15 and SeaweedFS, the installed console script. Checked: hard-linked
attachments restore; one restore test per database at a time, and what a killed one left
behind (scratch database and directory) is removed by the next; a symlink in the backup
directory is never followed by prune; an endpoint that is not an S3 API is named as such.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from backup_testlib import PG_BIN, TENANT_PASSWORD, TENANT_USER, Tenant, base_env, run_tool, volume_target

from odoo_tenant_operator.backup import errors
from odoo_tenant_operator.backup.ids import scratch_database_name, scratch_directory_prefix


def test_hard_linked_attachments_restore_as_regular_files(tenant: Tenant, tmp_path: Path) -> None:
    original = next(p for p in tenant.filestore.rglob("*") if p.is_file())
    os.link(original, tenant.filestore / "hardlink-of-an-attachment")
    env = {**tenant.env(), **volume_target(tmp_path / "backups").env}
    backup = run_tool("backup", "--json", env=env)
    assert backup.returncode == 0, backup
    restore = run_tool("restore-test", "--json", env=env)
    assert restore.returncode == 0, restore
    assert restore.json["filestore_bytes"] == backup.json["filestore_bytes"]
    assert restore.json["filestore_files"] == backup.json["filestore_files"]


@pytest.fixture
def held_restore_lock(tenant: Tenant) -> Iterator[None]:
    """Another session holding the restore-test lock of the tenant database, as a running test would."""
    session = subprocess.Popen(
        [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
        env={**base_env(), **tenant.pg.env(TENANT_USER, TENANT_PASSWORD, tenant.database)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert session.stdin and session.stdout
    session.stdin.write(f"SELECT pg_advisory_lock(hashtext('odoo-tenant-backup restore-test {tenant.database}'));\n")
    session.stdin.flush()
    assert session.stdout.readline().strip() == ""  # pg_advisory_lock returns void: an empty line
    yield
    session.stdin.close()
    session.wait(timeout=10)


@pytest.mark.parametrize("connect_to", ["tenant", "postgres"])
def test_a_second_restore_test_of_the_same_database_does_not_start(
    tenant: Tenant, tmp_path: Path, held_restore_lock: None, connect_to: str
) -> None:
    env = {**tenant.env(), **volume_target(tmp_path / "backups").env}
    assert run_tool("backup", env=env).returncode == 0
    # Advisory locks belong to a database: the lock must be met whatever database PGDATABASE names.
    if connect_to == "postgres":
        env["PGDATABASE"] = "postgres"
    run = run_tool("restore-test", env=env)
    assert run.returncode == errors.ExitCode.BUSY == 13, run
    assert f"another restore test of database {tenant.database} is running" in run.stderr
    assert tenant.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoretest%'") == "0"


def test_leftovers_of_a_killed_restore_test_are_removed(tenant: Tenant, tmp_path: Path) -> None:
    env = {**tenant.env(), **volume_target(tmp_path / "backups").env}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert run_tool("backup", env=env).returncode == 0
    # What kill -9 of a restore test of an older backup leaves: its scratch database and directory.
    stale_db = scratch_database_name(tenant.database, "20200101T000000Z-dead")
    tenant.pg.psql(f'CREATE DATABASE "{stale_db}" OWNER {TENANT_USER}')
    stale_dir = scratch / (scratch_directory_prefix(tenant.database, "20200101T000000Z-dead") + "x1y2")
    (stale_dir / "aa").mkdir(parents=True)
    (stale_dir / "aa" / "attachment").write_bytes(b"x" * 1000)
    other_tenant_dir = scratch / (scratch_directory_prefix("othertenant", "20200101T000000Z-beef") + "x1y2")
    other_tenant_dir.mkdir()
    # Databases that only look like scratch copies: a user's, and another tenant's real scratch copy.
    lookalike = f"{tenant.database}_restoretest_archive"
    others = scratch_database_name(tenant.database + "_eu", "20200101T000000Z-beef")
    for name in (lookalike, others):
        tenant.pg.psql(f'CREATE DATABASE "{name}" OWNER {TENANT_USER}')

    run = run_tool("restore-test", env={**env, "RESTORE_SCRATCH_DIR": str(scratch)})
    assert run.returncode == 0, run
    assert f"dropping the scratch database {stale_db} left by an interrupted restore test" in run.stderr
    remaining = tenant.pg.psql("SELECT datname FROM pg_database WHERE datname LIKE '%restoretest%'").splitlines()
    assert sorted(remaining) == sorted([lookalike, others])
    assert not stale_dir.exists()
    assert other_tenant_dir.exists(), "another database's scratch directory is not this run's to remove"
    for name in (lookalike, others):
        tenant.pg.psql(f'DROP DATABASE "{name}"')


def test_prune_never_follows_a_symlink_out_of_the_backup_directory(tenant: Tenant, tmp_path: Path) -> None:
    target = volume_target(tmp_path / "backups")
    env = {**tenant.env(), **target.env}
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("not a backup")
    assert target.root is not None
    (target.root / "20200101T000000Z-abcd").symlink_to(victim)
    assert run_tool("backup", env=env).returncode == 0

    pruned = run_tool("prune", "--keep-last", "1", "--json", env=env)
    assert pruned.returncode == 0, pruned
    assert [i["action"] for i in pruned.json["items"]] == ["keep"]
    assert (victim / "data").read_text() == "not a backup"


def test_an_endpoint_that_is_not_s3_is_named(tenant: Tenant) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        env = {**tenant.env(), "BACKUP_S3_ENDPOINT": endpoint, "BACKUP_S3_BUCKET": "backups",
               "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}  # fmt: skip
        started = time.monotonic()
        run = run_tool("list", env=env)
    finally:
        server.shutdown()
    assert run.returncode == errors.ExitCode.STORAGE_UNREACHABLE == 11, run
    assert "does not look like an S3 API; check BACKUP_S3_ENDPOINT" in run.stderr
    assert time.monotonic() - started < 60
