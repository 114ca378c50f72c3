#!/usr/bin/env python3
"""Benchmark of odoo-tenant-backup: throughput and memory on a large tenant (not a test).

Starts a throwaway PostgreSQL 15 cluster and a SeaweedFS S3 server on loopback
(the same helpers as tests/backup), generates a tenant database of at least
``--db-mb`` MB and a filestore of at least ``--filestore-gib`` GiB (about 70%
incompressible binary attachments, 30% compressible text, in Odoo's
``xx/<sha1>`` layout), then runs the installed console script:

    backup -> verify -> restore-test      on S3 (SeaweedFS) and on a volume directory

and prints, per run: wall time, MB/s as reported by the tool (source bytes per
second for backup: database size + filestore bytes; stored and restored bytes
per second for restore-test), and peak memory: the peak RSS summed over the tool
and all its children (pg_dump, psql, pg_restore), sampled from /proc every
20 ms, the largest single process among them, and at the end
getrusage(RUSAGE_CHILDREN).ru_maxrss as the kernel accounted it.

Usage:
    .venv/bin/python hack/bench_backup.py [--filestore-gib 1.0] [--db-mb 200] [--targets s3,volume]
                                          [--workdir /var/tmp] [--keep]
Needs about 6x the filestore size of free disk in --workdir (filestore, volume
backups, SeaweedFS data, the restore scratch directory). Run as root or as a
user that can run initdb; the PostgreSQL binaries are taken from PG_BIN_DIR
(default /usr/lib/postgresql/15/bin).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "backup"))

from backup_testlib import (  # noqa: E402 - the path above makes the test helpers importable
    PG_BIN,
    TENANT_PASSWORD,
    TENANT_USER,
    TOOL,
    PgCluster,
    base_env,
    s3_target,
    start_postgres,
    start_seaweed,
    volume_target,
    write_attachment,
)

MB = 1_000_000
MiB = 1 << 20

# Server-side generation: Odoo-shaped tables whose sizes add up to the target.
# The *_factor scales rows; one unit is roughly 1 MB of table + index data.
DB_SQL = """
CREATE TABLE res_partner (id serial PRIMARY KEY, name text, email text, street text, city text, comment text,
                          create_date timestamptz DEFAULT now());
CREATE TABLE sale_order (id serial PRIMARY KEY, name text, partner_id int REFERENCES res_partner(id),
                         amount_total numeric(16,2), state text, note text);
CREATE TABLE sale_order_line (id serial PRIMARY KEY, order_id int REFERENCES sale_order(id), product text,
                              qty numeric, price_unit numeric(16,2), name text);
CREATE TABLE mail_message (id serial PRIMARY KEY, model text, res_id int, body text, create_date timestamptz);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text, file_size int, checksum text,
                            db_datas bytea);
INSERT INTO res_partner (name, email, street, city, comment)
  SELECT 'Partner ' || g, 'p' || g || '@example.com', g || ' ' || md5(g::text) || ' street', 'City ' || (g % 500),
         repeat(md5((g * 7)::text), 2)
  FROM generate_series(1, {partners}) g;
INSERT INTO sale_order (name, partner_id, amount_total, state, note)
  SELECT 'SO' || g, 1 + g % {partners}, (random() * 10000)::numeric(16,2), 'sale', md5(g::text)
  FROM generate_series(1, {orders}) g;
INSERT INTO sale_order_line (order_id, product, qty, price_unit, name)
  SELECT 1 + g % {orders}, 'Product ' || (g % 997), 1 + g % 9, (random() * 500)::numeric(16,2),
         'Line ' || g || ' ' || md5(random()::text)
  FROM generate_series(1, {lines}) g;
INSERT INTO mail_message (model, res_id, body, create_date)
  SELECT 'sale.order', 1 + g % {orders},
         '<p>' || repeat(md5(random()::text) || ' lorem ipsum dolor sit amet ', 8) || '</p>',
         now() - g * interval '1 minute'
  FROM generate_series(1, {messages}) g;
INSERT INTO ir_attachment (name, file_size, checksum, db_datas)
  SELECT 'inline ' || g, 65536, md5(g::text),
         (SELECT string_agg(decode(md5(random()::text || s || g), 'hex'), ''::bytea) FROM generate_series(1, 4096) s)
  FROM generate_series(1, {blobs}) g;
CREATE INDEX ON sale_order_line (order_id);
CREATE INDEX ON mail_message (model, res_id);
ANALYZE;
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def make_database(pg: PgCluster, name: str, target_mb: int) -> int:
    scale = max(1.0, target_mb / 200)
    sizes = {
        "partners": int(100_000 * scale),
        "orders": int(150_000 * scale),
        "lines": int(600_000 * scale),
        "messages": int(200_000 * scale),
        "blobs": int(300 * scale),
    }
    pg.psql(f"CREATE DATABASE {name} OWNER {TENANT_USER};")
    pg.psql(DB_SQL.format(**sizes), database=name, user=TENANT_USER, password=TENANT_PASSWORD)
    size = int(pg.psql(f"SELECT pg_database_size('{name}')"))
    while size < target_mb * MB:
        # Top up with more messages until the target is reached (row widths vary by version).
        pg.psql(
            "INSERT INTO mail_message (model, res_id, body) SELECT 'res.partner', g, "
            "'<p>' || repeat(md5(random()::text), 12) || '</p>' FROM generate_series(1, 100000) g;",
            database=name,
            user=TENANT_USER,
            password=TENANT_PASSWORD,
        )
        size = int(pg.psql(f"SELECT pg_database_size('{name}')"))
    return size


def make_filestore(root: Path, target_bytes: int, seed: int = 42) -> tuple[int, int]:
    """Odoo-layout files; log-uniform sizes 4 KiB-8 MiB; ~70% incompressible bytes, ~30% text."""
    rng = random.Random(seed)
    words = [f"{w}{i}" for i in range(2000) for w in ("invoice", "partner", "total", "<td>", "</tr>")]
    text_block = " ".join(rng.choice(words) for _ in range(400_000)).encode()
    total = files = 0
    while total < target_bytes:
        size = int(2 ** rng.uniform(12, 23))
        if rng.random() < 0.3:
            start = rng.randrange(0, max(1, len(text_block) - size))
            content = (text_block[start:] + text_block)[:size]
        else:
            content = os.urandom(size)
        write_attachment(root, content)
        total += size
        files += 1
    return files, total


class TreeRssSampler:
    """Peak of the summed RSS of a process and all its descendants, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self.peak_single_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _descendants(self, pid: int) -> list[int]:
        found = [pid]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    for child in handle.read().split():
                        found += self._descendants(int(child))
        except OSError:
            pass
        return found

    @staticmethod
    def _rss_kib(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = [self._rss_kib(p) for p in self._descendants(self.pid)]
            self.peak_kib = max(self.peak_kib, sum(sizes))
            self.peak_single_kib = max([self.peak_single_kib, *sizes])
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run(args: list[str], env: dict[str, str]) -> dict[str, object]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(TOOL), *args, "--json"], env={**base_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sampler = TreeRssSampler(proc.pid)
    stdout, stderr = proc.communicate()
    sampler.stop()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({proc.returncode}):\n{stderr.decode()}")
    result = json.loads(stdout)
    result["_wall_seconds"] = wall
    result["_peak_tree_rss_mib"] = sampler.peak_kib / 1024
    result["_max_single_rss_mib"] = sampler.peak_single_kib / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filestore-gib", type=float, default=1.0)
    parser.add_argument("--db-mb", type=int, default=200)
    parser.add_argument("--targets", default="s3,volume")
    parser.add_argument("--workdir", default=None, help="where to put the data (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()
    targets = [t for t in options.targets.split(",") if t]

    work = Path(tempfile.mkdtemp(prefix="odoo-backup-bench-", dir=options.workdir))
    rows: list[tuple[str, str, dict[str, object]]] = []
    children_maxrss_mib = 0.0
    try:
        with start_postgres() as pg, start_seaweed(volume_size_mb=1024) as seaweed:
            log(f"PostgreSQL on {pg.host}:{pg.port}; {seaweed.version} S3 at {seaweed.endpoint}")
            t0 = time.monotonic()
            db_size = make_database(pg, "bench", options.db_mb)
            log(f"database bench: {db_size / MB:.0f} MB in {time.monotonic() - t0:.0f}s")
            t0 = time.monotonic()
            filestore = work / "filestore"
            files, fs_bytes = make_filestore(filestore, int(options.filestore_gib * (1 << 30)))
            log(f"filestore: {files} files, {fs_bytes / MiB:.0f} MiB in {time.monotonic() - t0:.0f}s")
            subprocess.run(["sync"], check=False)

            tenant_env = {
                "TENANT": "bench",
                "FILESTORE_PATH": str(filestore),
                "PG_BIN_DIR": str(PG_BIN),
                **pg.env(TENANT_USER, TENANT_PASSWORD, "bench"),
                "RESTORE_SCRATCH_DIR": str(work),
            }
            for kind in targets:
                target = s3_target(seaweed, prefix="bench") if kind == "s3" else volume_target(work / "volume")
                env = {**tenant_env, **target.env}
                for command in ("backup", "verify", "restore-test"):
                    log(f"{kind}: {command} ...")
                    result = run([command], env)
                    rows.append((kind, command, result))
                    log(
                        f"{kind}: {command} done in {result['_wall_seconds']:.1f}s, "
                        f"peak RSS {result['_peak_tree_rss_mib']:.0f} MiB (tool + children)"
                    )
            # Read before the servers stop: SeaweedFS is our child too and would count once reaped.
            children_maxrss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"{'target':<7} {'command':<13} {'wall s':>7} {'MB/s':>8} {'detail':<44} "
        f"{'peak RSS tree':>13} {'max 1 proc':>10}"
    )
    for kind, command, result in rows:
        if command == "backup":
            rate = result["throughput_mb_per_s"]
            detail = (
                f"{int(result['source_bytes']) / MB:.0f} MB read -> {int(result['stored_bytes']) / MB:.0f} MB stored"
            )
        elif command == "verify":
            rate = result["throughput_mb_per_s"]
            detail = f"{int(result['bytes_read']) / MB:.0f} MB re-read and hashed"
        else:
            rate = result["restored_mb_per_s"]
            detail = (
                f"{int(result['restored_bytes']) / MB:.0f} MB restored ({result['throughput_mb_per_s']} MB/s stored), "
                f"{result['rows']} rows"
            )
        print(
            f"{kind:<7} {command:<13} {float(result['_wall_seconds']):>7.1f} {rate:>8} {detail:<44} "
            f"{float(result['_peak_tree_rss_mib']):>10.0f} MiB {float(result['_max_single_rss_mib']):>6.0f} MiB"
        )
    # The largest single process among everything this benchmark waited for (the
    # tool runs, their pg_dump/pg_restore/psql, and the setup's psql), per the kernel.
    print(f"getrusage(RUSAGE_CHILDREN).ru_maxrss over all runs: {children_maxrss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
