"""Fast unit tests of the backup tool's pure logic and local plumbing (no servers).

Faked: nothing is patched; the clock is passed in as values, and local temp dirs
stand in for the filestore. Checked: backup ids and scratch names, manifest
round trip and rejection of broken manifests, comparisons, catalog status,
retention selection (restic keep-* semantics) over backups spread across months,
the adaptive gzip writer, the streaming readers, the filestore tar/digest round
trip, S3 part sizing, and the CLI's configuration errors and help.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import os
import tarfile
import zoneinfo
from pathlib import Path

import pytest

from odoo_tenant_operator.backup import catalog, cli, errors, filestore, ids, manifest, retention, s3, streams
from odoo_tenant_operator.backup.compression import AdaptiveGzipWriter, worth_compressing
from odoo_tenant_operator.backup.storage import StoredObject

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- ids --------------------------------------------------------------------------------------


def test_backup_id_round_trip_and_sorting() -> None:
    first = ids.new_backup_id(at("2026-01-31 23:59:59"), "00ff")
    second = ids.new_backup_id(at("2026-02-01 00:00:00"), "0000")
    assert first == "20260131T235959Z-00ff"
    assert sorted([second, first]) == [first, second]
    assert ids.parse_backup_id(first) == at("2026-01-31 23:59:59")


def test_backup_id_converts_to_utc() -> None:
    paris = dt.datetime(2026, 6, 1, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    assert ids.new_backup_id(paris, "abcd") == "20260601T003000Z-abcd"


@pytest.mark.parametrize(
    "value",
    ["", "latest", "20260131T235959Z", "20260131T235959Z-XYZW", "20261331T000000Z-abcd", "x20260131T235959Z-abcd"],
)
def test_not_backup_ids(value: str) -> None:
    assert ids.parse_backup_id(value) is None
    assert not ids.is_backup_id(value)


def test_new_backup_id_rejects_naive_time_and_bad_suffix() -> None:
    with pytest.raises(ValueError):
        ids.new_backup_id(dt.datetime(2026, 1, 1), "abcd")
    with pytest.raises(ValueError):
        ids.new_backup_id(at("2026-01-01 00:00:00"), "ABCD")


@pytest.mark.parametrize("database", ["odoo", "Tenant-DB", "x" * 80, "é" * 40])
def test_scratch_database_name(database: str) -> None:
    name = ids.scratch_database_name(database, "20260131T235959Z-00ff")
    assert name.endswith(f"_restoretest_{ids.database_tag(database)}_20260131t235959z_00ff")
    assert len(name.encode()) <= 63
    assert name != database
    assert ids.scratch_database_name(database, "20260131T235959Z-00fe") != name
    assert ids.is_scratch_database_of(name, database)


LONG_EAST, LONG_WEST = "acme_corporation_production_eu_east", "acme_corporation_production_eu_west"


@pytest.mark.parametrize(
    ("name", "database"),
    [
        # A user's database that merely looks like a scratch name, and the tenant database itself.
        ("shop_restoretest_archive", "shop"),
        ("shop_restoretest_prod", "shop_restoretest_prod"),
        # Another database's scratch copies, where names truncate or lowercase alike.
        (ids.scratch_database_name(LONG_EAST, "20260131T235959Z-00ff"), LONG_WEST),
        (ids.scratch_database_name("Shop", "20260131T235959Z-00ff"), "shop"),
        (ids.scratch_database_name("shop_restoretest_staging", "20260131T235959Z-00ff"), "shop_restoretest_prod"),
    ],
)
def test_only_this_databases_scratch_copies_count_as_stale(name: str, database: str) -> None:
    assert not ids.is_scratch_database_of(name, database)


def test_scratch_directories_are_told_apart_by_database() -> None:
    mine = ids.scratch_directory_prefix("shop-eu", "20260131T235959Z-00ff") + "k2j4"
    assert ids.is_scratch_directory_of(mine, "shop-eu")
    assert not ids.is_scratch_directory_of(mine, "shop_eu")
    assert not ids.is_scratch_directory_of("restoretest-shop-eu-notes", "shop")


def test_time_format_round_trip() -> None:
    moment = dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    assert ids.format_time(moment) == "2026-03-04T05:06:07Z"
    assert ids.parse_time("2026-03-04T05:06:07Z") == moment.replace(microsecond=0)
    with pytest.raises(ValueError):
        ids.parse_time("2026-03-04T05:06:07")


# --- manifest --------------------------------------------------------------------------------

SHA_A = "a" * 64
SHA_B = "b" * 64


def make_manifest(**changes: object) -> manifest.Manifest:
    base = manifest.Manifest(
        backup_id="20260131T235959Z-00ff",
        tenant="acme",
        status="complete",
        started_at=at("2026-01-31 23:59:59"),
        finished_at=at("2026-02-01 00:01:00"),
        tool_version="0.1.0",
        database=manifest.DatabaseRecord(
            name="acme",
            server_version="15.18",
            server_version_num=150018,
            size_bytes=123456,
            pg_dump_version="pg_dump (PostgreSQL) 15.18",
            row_counts_taken="snapshot",
            encoding="UTF8",
            tables={"public.res_partner": 3, "audit.log": 0},
        ),
        filestore=manifest.FilestoreRecord(path="/fs", files=2, bytes=10, digest="c" * 64, skipped=0),
        parts=(
            manifest.PartRecord("database.dump", 100, SHA_A, "pg_dump --format=custom"),
            manifest.PartRecord("filestore.tar.gz", 200, SHA_B, "tar, gzip (multi-member)"),
        ),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_manifest_json_round_trip() -> None:
    original = make_manifest(object_lock_until=at("2026-03-01 00:00:00"))
    data = manifest.manifest_to_json(original)
    parsed = manifest.parse_manifest(data, original.backup_id)
    assert parsed == original
    raw = json.loads(data)
    assert raw["format"] == "odoo-tenant-backup/v1"
    assert raw["database"]["tables"] == {"audit.log": 0, "public.res_partner": 3}
    assert raw["started_at"] == "2026-01-31T23:59:59Z" and raw["duration_seconds"] == 61.0
    assert original.stored_bytes == 300


def _broken(mutate) -> bytes:  # type: ignore[no-untyped-def]
    raw = json.loads(manifest.manifest_to_json(make_manifest()))
    mutate(raw)
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (_broken(lambda r: r.update(format="other/v9")), "unknown manifest format"),
        (_broken(lambda r: r.pop("parts")), "malformed"),
        (_broken(lambda r: r["parts"].pop()), "part filestore.tar.gz is missing"),
        (_broken(lambda r: r["parts"][0].update(sha256="nothex")), "no valid sha256"),
        (_broken(lambda r: r["parts"][0].update(size=True)), "size is not an integer"),
        (_broken(lambda r: r["database"]["tables"].update({"x.y": -1})), "negative row count"),
        (_broken(lambda r: r.update(backup_id="20200101T000000Z-0000")), "stored under"),
        (_broken(lambda r: r.update(finished_at="2020-01-01T00:00:00Z")), "finished_at is before started_at"),
    ],
)
def test_parse_manifest_rejects_broken_manifests(data: bytes, message: str) -> None:
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.parse_manifest(data, "20260131T235959Z-00ff")


def test_manifest_to_json_refuses_an_invalid_manifest() -> None:
    with pytest.raises(manifest.ManifestError):
        manifest.manifest_to_json(make_manifest(parts=()))


def test_check_part() -> None:
    record = manifest.PartRecord("database.dump", 100, SHA_A, "x")
    assert manifest.check_part(record, 100, SHA_A) is None
    assert "read 99 bytes" in str(manifest.check_part(record, 99, SHA_A))
    assert "does not match" in str(manifest.check_part(record, 100, SHA_B))


def test_compare_tables() -> None:
    expected = {"public.a": 1, "public.b": 2, "public.c": 3}
    assert manifest.compare_tables(expected, dict(expected)) == []
    assert manifest.compare_tables(expected, {"public.a": 1, "public.b": 5, "public.d": 0}) == [
        "table public.c is missing",
        "table public.b has 5 rows, manifest says 2",
        "table public.d is not in the manifest",
    ]


def test_compare_filestore() -> None:
    record = manifest.FilestoreRecord("/fs", 2, 10, "c" * 64, 0)
    assert manifest.compare_filestore(record, 2, 10, "c" * 64) == []
    assert manifest.compare_filestore(record, 1, 9, "d" * 64) == [
        "filestore has 1 files, manifest says 2",
        "filestore has 9 bytes, manifest says 10",
        "filestore content digest differs from the manifest",
    ]


# --- catalog ---------------------------------------------------------------------------------


def objects(backup_id: str, sizes: dict[str, int]) -> list[StoredObject]:
    return [StoredObject(backup_id, name, size, at("2026-02-01 00:01:00")) for name, size in sizes.items()]


def test_classify_complete_incomplete_damaged() -> None:
    good = make_manifest()
    data = manifest.manifest_to_json(good)
    bid = good.backup_id
    parts = {"database.dump": 100, "filestore.tar.gz": 200, "manifest.json": len(data)}

    entry = catalog.classify(bid, objects(bid, parts), data)
    assert (entry.status, entry.detail, entry.stored_bytes) == ("complete", "", 300 + len(data))

    entry = catalog.classify(bid, objects(bid, {"database.dump": 100}), None)
    assert entry.status == "incomplete" and "no manifest" in entry.detail
    assert entry.time == at("2026-01-31 23:59:59")  # from the id

    unfinished = manifest.manifest_to_json(make_manifest(status="incomplete"))
    assert catalog.classify(bid, objects(bid, parts), unfinished).status == "incomplete"

    entry = catalog.classify(bid, objects(bid, {**parts, "filestore.tar.gz": 199}), data)
    assert entry.status == "damaged" and "199 bytes" in entry.detail

    entry = catalog.classify(bid, objects(bid, {"database.dump": 100, "manifest.json": 5}), data)
    assert entry.status == "damaged" and "filestore.tar.gz is missing" in entry.detail

    entry = catalog.classify(bid, objects(bid, parts), b"garbage")
    assert entry.status == "damaged" and "not valid JSON" in entry.detail


def test_latest_prefers_newest_finished_and_never_incomplete() -> None:
    def entry(bid: str, status: str) -> catalog.BackupEntry:
        moment = ids.parse_backup_id(bid)
        assert moment is not None
        return catalog.BackupEntry(bid, status, "", moment, moment, 0, (), None)

    entries = [
        entry("20260103T000000Z-0003", "incomplete"),
        entry("20260102T000000Z-0002", "damaged"),
        entry("20260101T000000Z-0001", "complete"),
    ]
    assert catalog.latest(entries).backup_id == "20260102T000000Z-0002"
    with pytest.raises(errors.NoCompleteBackup, match="1 incomplete"):
        catalog.latest(entries[:1])
    with pytest.raises(errors.NoCompleteBackup, match="holds no backups"):
        catalog.latest([])


# --- retention -------------------------------------------------------------------------------


def spread_over_months() -> list[retention.Candidate]:
    """Nightly backups for 10 days, weekly ones before that, monthly ones before that; two on one day."""
    times = [at(f"2026-06-{day:02d} 02:00:00") for day in range(1, 11)]
    times.append(at("2026-06-10 14:00:00"))  # a second, manual backup on the last day
    times += [at("2026-05-25 02:00:00"), at("2026-05-18 02:00:00"), at("2026-05-11 02:00:00")]
    times += [at("2026-04-15 02:00:00"), at("2026-03-15 02:00:00"), at("2026-02-15 02:00:00")]
    times += [at("2025-12-31 23:00:00")]
    return [retention.Candidate(ids.new_backup_id(t, "abcd"), t) for t in times]


def kept(decisions: list[retention.Decision]) -> list[str]:
    return [d.backup_id[:15] for d in decisions if d.keep]


def test_retention_over_months_keeps_restic_style_buckets() -> None:
    policy = retention.Policy(keep_last=2, keep_daily=5, keep_weekly=3, keep_monthly=4)
    decisions = retention.select_complete(spread_over_months(), policy)
    assert [(d.backup_id, d.keep, d.reasons) for d in decisions] == [
        ("20260610T140000Z-abcd", True, ("last #1", "daily 2026-06-10", "weekly 2026-W24", "monthly 2026-06")),
        ("20260610T020000Z-abcd", True, ("last #2",)),  # same day: the daily slot went to 14:00
        ("20260609T020000Z-abcd", True, ("daily 2026-06-09",)),
        ("20260608T020000Z-abcd", True, ("daily 2026-06-08",)),
        ("20260607T020000Z-abcd", True, ("daily 2026-06-07", "weekly 2026-W23")),  # Sunday ends W23
        ("20260606T020000Z-abcd", True, ("daily 2026-06-06",)),
        ("20260605T020000Z-abcd", False, ("matched no keep rule",)),  # five daily slots used
        ("20260604T020000Z-abcd", False, ("matched no keep rule",)),
        ("20260603T020000Z-abcd", False, ("matched no keep rule",)),
        ("20260602T020000Z-abcd", False, ("matched no keep rule",)),
        ("20260601T020000Z-abcd", False, ("matched no keep rule",)),
        ("20260525T020000Z-abcd", True, ("weekly 2026-W22", "monthly 2026-05")),
        ("20260518T020000Z-abcd", False, ("matched no keep rule",)),  # three weekly slots used
        ("20260511T020000Z-abcd", False, ("matched no keep rule",)),
        ("20260415T020000Z-abcd", True, ("monthly 2026-04",)),
        ("20260315T020000Z-abcd", True, ("monthly 2026-03",)),
        ("20260215T020000Z-abcd", False, ("matched no keep rule",)),  # four monthly slots used
        ("20251231T230000Z-abcd", False, ("matched no keep rule",)),
    ]


def test_retention_yearly_and_iso_week_across_new_year() -> None:
    decisions = retention.select_complete(spread_over_months(), retention.Policy(keep_yearly=3))
    assert [(d.backup_id, d.reasons) for d in decisions if d.keep] == [
        ("20260610T140000Z-abcd", ("yearly 2026",)),
        ("20251231T230000Z-abcd", ("yearly 2025",)),
    ]
    # 2025-12-31 belongs to ISO week 2026-W01: weekly buckets follow ISO years.
    decisions = retention.select_complete(spread_over_months(), retention.Policy(keep_weekly=100))
    assert decisions[-1].reasons == ("weekly 2026-W01",)


def test_retention_days_without_backups_do_not_use_slots() -> None:
    sparse = [
        retention.Candidate(ids.new_backup_id(t, "abcd"), t)
        for t in (at("2026-06-10 01:00:00"), at("2026-01-01 01:00:00"))
    ]
    decisions = retention.select_complete(sparse, retention.Policy(keep_daily=2))
    assert [d.keep for d in decisions] == [True, True]


def test_retention_time_zone_moves_day_boundaries() -> None:
    # 23:30 UTC and 00:30 UTC next day are one calendar day in New York.
    pair = [
        retention.Candidate("20260610T233000Z-0001", at("2026-06-10 23:30:00")),
        retention.Candidate("20260611T003000Z-0002", at("2026-06-11 00:30:00")),
    ]
    assert [d.keep for d in retention.select_complete(pair, retention.Policy(keep_daily=2))] == [True, True]
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert [d.keep for d in retention.select_complete(pair, retention.Policy(keep_daily=2), new_york)] == [True, False]


def test_retention_always_keeps_the_newest_complete_backup() -> None:
    only = [retention.Candidate("20260101T000000Z-0001", at("2026-01-01 00:00:00"))]
    decisions = retention.select_complete(only, retention.Policy())
    assert decisions == [retention.Decision("20260101T000000Z-0001", True, ("newest complete backup (always kept)",))]


def test_retention_incomplete_backups_age_out() -> None:
    now = at("2026-06-10 12:00:00")
    candidates = [
        retention.Candidate("20260610T100000Z-0001", at("2026-06-10 10:00:00")),
        retention.Candidate("20260608T100000Z-0002", at("2026-06-08 10:00:00")),
    ]
    decisions = retention.select_incomplete(candidates, now, dt.timedelta(hours=24))
    assert [(d.keep, d.reasons) for d in decisions] == [
        (True, ("incomplete but only 2.0h old: may still be running",)),
        (False, ("incomplete and idle for 2.1d",)),
    ]


def test_retention_policy_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        retention.Policy(keep_last=-1)
    assert retention.Policy().empty and not retention.Policy(keep_monthly=1).empty


# --- compression and streams -----------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 3])
def test_adaptive_gzip_stores_random_and_deflates_text(threads: int) -> None:
    random_part = os.urandom(300_000)
    text_part = b"<p>hello odoo</p>\n" * 30_000
    sink = io.BytesIO()
    writer = AdaptiveGzipWriter(sink, level=6, chunk_size=100_000, threads=threads)
    writer.expect(worth_compressing(random_part[:4096]))
    writer.write(random_part)
    writer.expect(worth_compressing(text_part[:4096]))
    writer.write(text_part)
    writer.write(b"")
    writer.expect(False)
    writer.write(random_part[:10])
    writer.close()
    assert gzip.decompress(sink.getvalue()) == random_part + text_part + random_part[:10]
    assert (writer.stored_members, writer.deflated_members) == (4, 6)
    assert len(sink.getvalue()) < len(random_part) * 1.01 + len(text_part) * 0.1
    assert worth_compressing(text_part) and not worth_compressing(random_part) and not worth_compressing(b"")


def test_adaptive_gzip_of_nothing_is_valid_gzip() -> None:
    sink = io.BytesIO()
    writer = AdaptiveGzipWriter(sink)
    writer.close()
    assert gzip.decompress(sink.getvalue()) == b""


def test_hashing_reader_raises_producer_failure_at_end_of_stream() -> None:
    def fail() -> None:
        raise errors.SourceFailed("pg_dump died")

    reader = streams.HashingReader(io.BytesIO(b"partial"), on_eof=fail)
    assert reader.read(4) == b"part"
    assert reader.read(100) == b"ial"
    with pytest.raises(errors.SourceFailed, match="pg_dump died"):
        reader.read(100)
    assert reader.bytes_read == 7 and not reader.seekable()


def test_thread_pipe_streams_and_propagates_errors() -> None:
    def produce(sink) -> None:  # type: ignore[no-untyped-def]
        for _ in range(50):
            sink.write(b"x" * 100_000)

    pipe = streams.ThreadPipe(produce, "test")
    reader = streams.HashingReader(pipe)
    reader.drain()
    pipe.close()
    assert reader.bytes_read == 5_000_000

    def broken(sink) -> None:  # type: ignore[no-untyped-def]
        sink.write(b"y" * 10)
        raise errors.SourceFailed("disk error in the filestore")

    pipe = streams.ThreadPipe(broken, "test")
    with pytest.raises(errors.SourceFailed, match="disk error"):
        streams.copy_stream(pipe, lambda _: None)
    pipe.close()


# --- filestore -------------------------------------------------------------------------------


def test_filestore_tar_extract_and_digest_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "ab").mkdir(parents=True)
    (source / "ab" / "abc").write_bytes(os.urandom(70_000))
    (source / "ab" / "text").write_bytes(b"line\n" * 10_000)
    (source / "empty-dir").mkdir()
    (source / "zero").write_bytes(b"")
    (source / "odd name é").write_bytes(b"\x00\x01")
    os.symlink("/etc/passwd", source / "link")
    warnings: list[str] = []
    archive = io.BytesIO()
    stats = filestore.write_tar(source, archive, 6, warnings.append)
    assert (stats.files, stats.bytes, stats.skipped) == (4, 120_002, 1)
    assert warnings == ["filestore: skipping link: not a regular file or directory"]
    with tarfile.open(fileobj=io.BytesIO(archive.getvalue()), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["ab", "ab/abc", "ab/text", "empty-dir", "odd name é", "zero"]

    restored = tmp_path / "restored"
    restored.mkdir()
    filestore.extract_tar(io.BytesIO(archive.getvalue()), restored)
    assert (restored / "empty-dir").is_dir()
    assert filestore.digest_tree(restored) == dataclasses.replace(stats, skipped=0)
    assert filestore.digest_tree(source).digest == stats.digest

    (restored / "ab" / "text").write_bytes(b"line\n" * 9_999 + b"LINE\n")
    assert filestore.digest_tree(restored).digest != stats.digest


def test_extract_refuses_corrupted_and_escaping_archives(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_bytes(b"hello" * 1000)
    archive = io.BytesIO()
    filestore.write_tar(source, archive, 6, lambda _: None)
    data = bytearray(archive.getvalue())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(errors.BackupCorrupted):
        filestore.extract_tar(io.BytesIO(bytes(data)), tmp_path)

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(errors.BackupCorrupted):
        filestore.extract_tar(io.BytesIO(evil.getvalue()), target)
    assert not (tmp_path / "escape").exists()


def test_write_tar_of_missing_filestore_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(errors.SourceFailed, match="FILESTORE_PATH"):
        filestore.write_tar(tmp_path / "nope", io.BytesIO(), 6, lambda _: None)


def test_an_unreadable_filestore_directory_is_a_source_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Faked: the permission error (the tests run as root, who can read a mode-000 directory).
    (tmp_path / "aa").mkdir()
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if path.endswith("/aa"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(filestore.os, "scandir", scandir)
    with pytest.raises(errors.SourceFailed, match="cannot read the directory .*/aa: Permission denied"):
        filestore.measure(tmp_path)


# --- S3 sizing and CLI -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "size"),
    [(None, 8 << 20), (0, 8 << 20), (10 << 30, 8 << 20), (100 << 30, 14 << 20), (1 << 40, 140 << 20)],
)
def test_part_size_for(hint: int | None, size: int) -> None:
    assert s3.part_size_for(hint) == size
    if hint:
        assert hint / s3.part_size_for(hint) < 10_000


def run_cli(args: list[str], environ: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(args, environ, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        (["list"], {}, "no backup target"),
        (["list"], {"BACKUP_DIR": "/x", "BACKUP_S3_BUCKET": "b"}, "choose one"),
        (["list"], {"BACKUP_S3_BUCKET": "b"}, "set TENANT"),
        (["list"], {"BACKUP_S3_BUCKET": "b", "TENANT": "t", "BACKUP_S3_SSE": "rot13"}, "BACKUP_S3_SSE"),
        (["backup"], {"BACKUP_DIR": "/x"}, "TENANT"),
        (["backup"], {"BACKUP_DIR": "/x", "TENANT": "t"}, "FILESTORE_PATH"),
        (
            ["backup"],
            {"BACKUP_DIR": "/x", "TENANT": "t", "FILESTORE_PATH": "/f", "BACKUP_COMPRESSION_LEVEL": "x"},
            "integer",
        ),
        (["prune"], {"BACKUP_DIR": "/x"}, "no retention policy"),
        (["prune"], {"BACKUP_DIR": "/x", "BACKUP_KEEP_LAST": "two"}, "BACKUP_KEEP_LAST must be an integer"),
        (["prune", "--keep-last", "1", "--timezone", "Mars/Olympus"], {"BACKUP_DIR": "/x"}, "unknown time zone"),
    ],
)
def test_cli_configuration_errors_exit_2(args: list[str], environ: dict[str, str], message: str) -> None:
    code, out, err = run_cli([*args, "--json"], environ)
    assert code == errors.ExitCode.USAGE
    assert message in err
    assert json.loads(out)["exit_code"] == 2 and message in json.loads(out)["message"]


def test_cli_flags_override_environment(tmp_path: Path) -> None:
    code, out, _ = run_cli(["list", "--json", "--backup-dir", str(tmp_path)], {"BACKUP_DIR": "/does/not/exist"})
    assert code == 0 and json.loads(out) == {"result": "list", "backups": []}
    code, _, err = run_cli(["list"], {"BACKUP_DIR": str(tmp_path / "missing")})
    assert code == errors.ExitCode.STORAGE_NOT_FOUND and "is the backup volume mounted" in err


def test_cli_help_documents_exit_codes_and_env(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["backup", "--help"], {})
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for needle in ("env PGHOST", "env FILESTORE_PATH", "env BACKUP_S3_BUCKET", "env BACKUP_DIR", "exit codes:"):
        assert needle in text
    for code in errors.ExitCode:
        assert f"{int(code):>3}  " in text
    assert "Exit codes" in (cli.__doc__ or "") and "143 terminated by SIGTERM" in (cli.__doc__ or "")
