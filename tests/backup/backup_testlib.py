"""Shared helpers of the backup tool's tests and benchmark: real servers, a tenant, the tool runner.

Nothing here is mocked:
- ``start_postgres`` runs initdb/pg_ctl as an unprivileged user (PostgreSQL refuses
  root) in a temp dir it owns, listening on 127.0.0.1 on a free port with SCRAM
  password auth over TCP, and creates the tenant role ``odoo`` (LOGIN CREATEDB);
- ``start_seaweed`` runs ``weed server -s3`` on loopback free ports with an S3
  identity file (an admin key and a read-only key), so wrong and insufficient
  credentials are rejected for real, and an SSE-S3 key so server-side
  encryption is real; it creates the ``backups`` bucket and the ``locked``
  bucket (object lock enabled); auto-creation of buckets is off;
- ``build_tenant_template`` creates an Odoo-like database (partners, users,
  orders and lines, attachments referencing filestore files by path, bytea
  attachments, a second schema, an empty table) and its filestore (binary and
  text files in Odoo's ``xx/<sha1>`` layout);
- ``run_tool`` runs the installed ``odoo-tenant-backup`` console script in a
  subprocess with the environment variables the operator's CronJob sets.

(A uniquely named module rather than conftest.py: test modules and
hack/bench_backup.py import it, and ``import conftest`` is ambiguous in a tree
with several conftest files.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pwd
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

PG_BIN = Path(os.environ.get("PG_BIN_DIR", "/usr/lib/postgresql/15/bin"))
VENV_BIN = Path(sys.executable).parent
TOOL = VENV_BIN / "odoo-tenant-backup"
WEED = Path(shutil.which("weed", path=str(VENV_BIN)) or shutil.which("weed") or "weed")

SUPERUSER_PASSWORD = "super-secret-pw"
TENANT_USER = "odoo"
TENANT_PASSWORD = "odoo-tenant-pw"
S3_ADMIN = ("AKIAODOOBACKUPADMIN", "admin-secret-key-0123456789")
S3_READONLY = ("AKIAODOOBACKUPREADER", "reader-secret-key-0123456789")
BUCKET = "backups"
LOCKED_BUCKET = "locked"

# Tables of the tenant template and their row counts (checked against the manifest).
TEMPLATE_COUNTS = {
    "public.res_partner": 3000,
    "public.res_users": 200,
    "public.sale_order": 2000,
    "public.sale_order_line": 8000,
    "public.ir_attachment": 150,
    "public.mail_tracking_value": 0,
    "audit.log": 1500,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> str | None:
    """The user PostgreSQL runs as when the tests run as root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "pgtest"], check=True)
    return "pgtest"


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PgCluster:
    host: str
    port: int
    socket_dir: Path

    def env(
        self, user: str = "postgres", password: str = SUPERUSER_PASSWORD, database: str = "postgres"
    ) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGDATABASE": database,
        }

    def psql(
        self, sql: str, database: str = "postgres", user: str = "postgres", password: str = SUPERUSER_PASSWORD
    ) -> str:
        proc = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            input=sql,
            env={**base_env(), **self.env(user, password, database)},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr}")
        return proc.stdout.strip()

    def row_counts(self, database: str, tables: list[str]) -> dict[str, int]:
        """Independent count(*) per table, for comparing with what the tool recorded."""
        sql = "\n".join(f"SELECT count(*) FROM {t};" for t in tables)
        values = self.psql(sql, database).splitlines()
        return {t: int(v) for t, v in zip(tables, values, strict=True)}


def base_env() -> dict[str, str]:
    """The test process environment without anything that could leak into the tool."""
    drop = ("PG", "AWS_", "BACKUP_", "TENANT", "FILESTORE_PATH", "RESTORE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@contextlib.contextmanager
def start_postgres() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (a free port), stopped and deleted on exit."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL server binaries not found in {PG_BIN} (set PG_BIN_DIR)")
    user = _unprivileged_user()
    base = Path(tempfile.mkdtemp(prefix="odoo-backup-pg-"))
    data = base / "data"
    pwfile = base / "pwfile"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    if user is not None:
        shutil.chown(base, user)
        shutil.chown(pwfile, user)
    as_user = ["runuser", "-u", user, "--"] if user else []
    port = free_port()

    def run(*cmd: str) -> None:
        proc = subprocess.run([*as_user, *cmd], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {proc.stdout}\n{proc.stderr}")

    run(
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    )
    run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "postgres.log"), "-o", options, "-w", "start")
    cluster = PgCluster("127.0.0.1", port, base)
    try:
        cluster.psql(f"CREATE ROLE {TENANT_USER} LOGIN CREATEDB PASSWORD '{TENANT_PASSWORD}';")
        yield cluster
    finally:
        subprocess.run(
            [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


# --- SeaweedFS ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    version: str

    def client(self, keys: tuple[str, str] = S3_ADMIN) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )


@contextlib.contextmanager
def start_seaweed(volume_size_mb: int = 256) -> Iterator[SeaweedS3]:
    """``weed server -s3`` on loopback free ports with the test identities; stopped and deleted on exit."""
    base = Path(tempfile.mkdtemp(prefix="odoo-backup-weed-"))
    identities = {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": S3_ADMIN[0], "secretKey": S3_ADMIN[1]}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": "reader",
                "credentials": [{"accessKey": S3_READONLY[0], "secretKey": S3_READONLY[1]}],
                "actions": ["Read", "List"],
            },
        ]
    }
    (base / "s3.json").write_text(json.dumps(identities))
    (base / "data").mkdir()
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [
        str(WEED), "server",
        f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
        "-master.telemetry=false", f"-master.volumeSizeLimitMB={volume_size_mb}", "-volume.max=0",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
        f"-filer.localSocket={base / 'filer.sock'}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}", f"-s3.config={base / 's3.json'}",
        f"-s3.localSocket={base / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",
    ]  # fmt: skip
    version = subprocess.run([str(WEED), "version"], capture_output=True, text=True, check=False).stdout.strip()
    log = open(base / "weed.log", "wb")
    # A key for SSE-S3, so BACKUP_S3_SSE=AES256 is served for real (SeaweedFS disables SSE-S3 without one).
    weed_env = {**base_env(), "WEED_S3_SSE_KEY": secrets.token_hex(16)}
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=base, env=weed_env)
    server = SeaweedS3(f"http://127.0.0.1:{ports['s3']}", version)
    try:
        _wait_for_s3(server, proc, base / "weed.log")
        yield server
    finally:
        # A graceful stop takes ~15 s (volume pre-stop, gRPC drains) and the data is
        # thrown away anyway: give it a moment, then kill.
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_s3(server: SeaweedS3, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Ready means: buckets created and an object written and read back (volumes are allocated)."""
    client = server.client()
    deadline = time.monotonic() + 90
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if BUCKET not in existing:
                client.create_bucket(Bucket=BUCKET)
            if LOCKED_BUCKET not in existing:
                client.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
            for bucket in (BUCKET, LOCKED_BUCKET):
                client.put_object(Bucket=bucket, Key="ready-probe", Body=b"ok")
                assert client.get_object(Bucket=bucket, Key="ready-probe")["Body"].read() == b"ok"
                client.delete_object(Bucket=bucket, Key="ready-probe")
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS S3 not ready: {last}\n{log.read_text()[-4000:]}")


# --- the tenant ----------------------------------------------------------------------------------


def write_attachment(root: Path, content: bytes) -> tuple[str, int, str]:
    """Store one attachment the way Odoo does (``xx/<sha1>``); return its path, size and sha1."""
    sha1 = hashlib.sha1(content).hexdigest()
    path = root / sha1[:2] / sha1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return f"{sha1[:2]}/{sha1}", len(content), sha1


def make_filestore(root: Path, files: int, seed: int, max_size: int = 200_000) -> list[tuple[str, int, str]]:
    """Odoo-layout filestore: ``<2 hex>/<sha1>`` files, two thirds binary (incompressible), a third text."""
    rng = random.Random(seed)
    made = []
    for i in range(files):
        size = rng.randint(0, max_size)
        if i % 3 == 2:
            line = f"<p>invoice line {i} for partner {rng.randint(1, 3000)}</p>\n".encode()
            content = (line * (size // len(line) + 1))[:size]
        else:
            content = rng.randbytes(size)
        made.append(write_attachment(root, content))
    return made


_TEMPLATE_SQL = """
CREATE SCHEMA audit;
CREATE TABLE res_partner (id serial PRIMARY KEY, name text NOT NULL, email text, active boolean DEFAULT true,
                          create_date timestamptz DEFAULT now());
CREATE TABLE res_users (id serial PRIMARY KEY, login text UNIQUE NOT NULL, partner_id int REFERENCES res_partner(id));
CREATE TABLE sale_order (id serial PRIMARY KEY, name text NOT NULL, partner_id int REFERENCES res_partner(id),
                         amount_total numeric(16, 2), state text, date_order timestamptz);
CREATE TABLE sale_order_line (id serial PRIMARY KEY, order_id int REFERENCES sale_order(id) ON DELETE CASCADE,
                              product text, qty numeric, price_unit numeric(16, 2));
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, res_model text, res_id int, store_fname text,
                            file_size int, checksum text, mimetype text, db_datas bytea);
CREATE TABLE mail_tracking_value (id serial PRIMARY KEY, field text, old_value text, new_value text);
CREATE TABLE audit.log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), message text);
CREATE INDEX ON sale_order_line (order_id);
CREATE VIEW sale_report AS SELECT o.partner_id, sum(l.qty * l.price_unit) AS total
    FROM sale_order o JOIN sale_order_line l ON l.order_id = o.id GROUP BY o.partner_id;
INSERT INTO res_partner (name, email)
    SELECT 'Partner ' || g, 'p' || g || '@example.com' FROM generate_series(1, 3000) g;
INSERT INTO res_users (login, partner_id) SELECT 'user' || g, g FROM generate_series(1, 200) g;
INSERT INTO sale_order (name, partner_id, amount_total, state, date_order)
    SELECT 'SO' || lpad(g::text, 5, '0'), 1 + g % 3000, (g * 7.31)::numeric(16, 2), 'sale',
           now() - g * interval '1 hour'
    FROM generate_series(1, 2000) g;
INSERT INTO sale_order_line (order_id, product, qty, price_unit)
    SELECT 1 + g % 2000, 'Product ' || (g % 97), 1 + g % 5, (g % 1000) / 10.0 FROM generate_series(1, 8000) g;
INSERT INTO audit.log (message) SELECT 'event ' || g || ' ' || md5(g::text) FROM generate_series(1, 1500) g;
INSERT INTO ir_attachment (name, res_model, res_id, file_size, checksum, mimetype, db_datas)
    SELECT 'inline ' || g, 'res.partner', g, 256, md5(g::text), 'application/octet-stream',
           decode(repeat(md5(g::text), 16), 'hex')
    FROM generate_series(1, 30) g;
"""


@dataclasses.dataclass(frozen=True)
class TenantTemplate:
    database: str
    filestore: Path


def build_tenant_template(pg_cluster: PgCluster, filestore: Path, name: str = "tenant_template") -> TenantTemplate:
    """The Odoo-like template database and its filestore (see the module docstring)."""
    files = make_filestore(filestore, 120, seed=7)
    attachments = ",\n".join(
        f"('file {i}', 'sale.order', {i + 1}, '{fname}', {size}, '{sha1}', 'application/pdf')"
        for i, (fname, size, sha1) in enumerate(files)
    )
    pg_cluster.psql(f"CREATE DATABASE {name} OWNER {TENANT_USER};")
    pg_cluster.psql(
        _TEMPLATE_SQL
        + "INSERT INTO ir_attachment (name, res_model, res_id, store_fname, file_size, checksum, mimetype) VALUES\n"
        + attachments
        + ";\n",
        database=name,
        user=TENANT_USER,
        password=TENANT_PASSWORD,
    )
    return TenantTemplate(name, filestore)


@dataclasses.dataclass
class Tenant:
    name: str
    database: str
    filestore: Path
    pg: PgCluster

    def env(self) -> dict[str, str]:
        return {
            "TENANT": self.name,
            "FILESTORE_PATH": str(self.filestore),
            "PG_BIN_DIR": str(PG_BIN),
            **self.pg.env(TENANT_USER, TENANT_PASSWORD, self.database),
        }


# --- targets and the tool ------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    kind: str
    env: dict[str, str]
    prefix: str = ""
    bucket: str = ""
    root: Path | None = None


def s3_target(server: SeaweedS3, prefix: str, bucket: str = BUCKET, keys: tuple[str, str] = S3_ADMIN) -> Target:
    return Target(
        "s3",
        {
            "BACKUP_S3_ENDPOINT": server.endpoint,
            "BACKUP_S3_BUCKET": bucket,
            "BACKUP_S3_PREFIX": prefix,
            "AWS_ACCESS_KEY_ID": keys[0],
            "AWS_SECRET_ACCESS_KEY": keys[1],
        },
        prefix=prefix,
        bucket=bucket,
    )


def volume_target(root: Path) -> Target:
    root.mkdir(parents=True, exist_ok=True)
    return Target("volume", {"BACKUP_DIR": str(root)}, root=root)


@dataclasses.dataclass(frozen=True)
class ToolRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line on stdout, got: {self.stdout!r}\nstderr: {self.stderr}"
        return json.loads(lines[0])

    def __str__(self) -> str:
        return f"odoo-tenant-backup {' '.join(self.args)} -> {self.returncode}\n{self.stdout}\n{self.stderr}"


def run_tool(*args: str, env: Mapping[str, str], timeout: float = 120) -> ToolRun:
    proc = subprocess.run(
        [str(TOOL), *args],
        env={**base_env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ToolRun(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def list_objects(server: SeaweedS3, bucket: str, prefix: str) -> dict[str, int]:
    client = server.client()
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["Size"]
    return found


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs (root only); skips the calling test if mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up ({proc.stderr.strip()}); ENOSPC not testable here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
