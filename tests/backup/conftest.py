"""Fixtures of the backup tool's tests: real PostgreSQL 15 and SeaweedFS S3 for the session, a tenant per test.

The servers and helpers live in ``backup_testlib`` (see its docstring); this file
only scopes them: one PostgreSQL cluster, one SeaweedFS server and one template
tenant per session, and per test a fresh clone of the tenant database and
filestore under a unique name, plus the ``target`` fixture that runs a test once
against S3 and once against a volume.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from backup_testlib import (
    TENANT_USER,
    PgCluster,
    SeaweedS3,
    Target,
    Tenant,
    TenantTemplate,
    build_tenant_template,
    s3_target,
    start_postgres,
    start_seaweed,
    volume_target,
)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    with start_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    with start_seaweed() as server:
        yield server


@pytest.fixture(scope="session")
def tenant_template(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> TenantTemplate:
    return build_tenant_template(pg_cluster, tmp_path_factory.mktemp("template-filestore"))


_names = itertools.count(1)


@pytest.fixture
def tenant(pg_cluster: PgCluster, tenant_template: TenantTemplate, tmp_path: Path) -> Iterator[Tenant]:
    name = f"tenant{os.getpid()}x{next(_names)}"
    pg_cluster.psql(f'CREATE DATABASE "{name}" TEMPLATE {tenant_template.database} OWNER {TENANT_USER};')
    filestore = tmp_path / "filestore"
    shutil.copytree(tenant_template.filestore, filestore)
    yield Tenant(name, name, filestore, pg_cluster)
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')


@pytest.fixture(params=["s3", "volume"])
def target(request: pytest.FixtureRequest, tenant: Tenant, tmp_path: Path) -> Target:
    """Runs the test once against SeaweedFS S3 and once against a volume directory."""
    if request.param == "s3":
        return s3_target(request.getfixturevalue("seaweed"), prefix=f"tenants/{tenant.name}")
    return volume_target(tmp_path / "backups")
