"""Backup family: CronJob builders, the backup pods' policy, job summaries and freshness verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from odoo_tenant_operator.api.v1alpha1 import ControlStatus, OdooTenantSpec, cron_problem, parse_duration
from odoo_tenant_operator.controls import backup
from odoo_tenant_operator.controls.common import TenantRef

TENANT = TenantRef("shop", "uid-1")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
S3 = {"endpoint": "https://s3.example.com", "bucket": "shop-backups", "credentialsSecret": "s3-creds",
      "egressCIDR": "198.51.100.7/32", "serverSideEncryption": "AES256"}  # fmt: skip


def spec(target: dict | None = None, **extra) -> OdooTenantSpec:
    body = {"target": target or {"s3": S3}, "database": {"secretName": "db"}, "filestoreClaim": "filestore"}
    body.update(extra)
    return OdooTenantSpec.model_validate({"tier": "shared", "isolation": {"namespace": "odoo-shop"}, "backup": body})


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_backup_cronjob_schedule_history_and_deadlines() -> None:
    cronjob = backup.build_backup_cronjob(spec(schedule="15 1 * * *", timeZone="Europe/Brussels"), TENANT)
    assert cronjob["metadata"]["name"] == "odoo-backup" and cronjob["metadata"]["namespace"] == "odoo-shop"
    assert cronjob["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    body = cronjob["spec"]
    assert {k: body[k] for k in ("schedule", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds",
                                 "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend")} == {
        "schedule": "15 1 * * *", "timeZone": "Europe/Brussels", "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
        "suspend": False,
    }  # fmt: skip
    assert body["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 6 * 3600
    assert body["jobTemplate"]["metadata"]["labels"]["hosting.odoo-operator.io/job"] == "backup"


def test_backup_pod_is_restricted_and_reads_the_filestore_only() -> None:
    pod = backup.build_backup_cronjob(spec(), TENANT)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                      "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    backup_container, prune = pod["initContainers"][0], pod["containers"][0]
    assert backup_container["args"] == ["backup", "--json"] and prune["args"] == ["prune"]
    for container in (backup_container, prune):
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}  # fmt: skip
    assert {"name": "filestore", "mountPath": "/filestore", "readOnly": True} in backup_container["volumeMounts"]
    assert {"name": "filestore", "persistentVolumeClaim": {"claimName": "filestore", "readOnly": True}} in pod[
        "volumes"
    ]


def test_credentials_only_through_secret_references() -> None:
    container = backup.build_backup_cronjob(spec(), TENANT)["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "initContainers"][0]  # fmt: skip
    env = env_of(container)
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "db", "key": "password"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"}}
    assert env["BACKUP_S3_BUCKET"] == "shop-backups" and env["BACKUP_S3_PREFIX"] == "shop"
    assert env["BACKUP_S3_SSE"] == "AES256" and env["BACKUP_KEEP_LAST"] == "7"
    plain = [e for e in container["env"] if "value" in e]
    assert not any(e["name"] in ("PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID") for e in plain)


def test_volume_target_mounts_the_claim_and_needs_no_network_policy() -> None:
    volume = spec(target={"volume": {"claimName": "backups"}})
    pod = backup.build_backup_cronjob(volume, TENANT)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {"name": "backups", "persistentVolumeClaim": {"claimName": "backups"}} in pod["volumes"]
    assert env_of(pod["initContainers"][0])["BACKUP_DIR"] == "/backups"
    assert backup.build_backup_network_policy(volume, TENANT) is None


def test_restore_test_cronjob_uses_scratch_space_and_the_rto() -> None:
    cronjob = backup.build_restore_test_cronjob(spec(restoreTest={"schedule": "0 5 * * 6", "rto": "30m"}), TENANT)
    assert cronjob["spec"]["schedule"] == "0 5 * * 6"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 3600
    container = job["template"]["spec"]["containers"][0]
    assert container["args"] == ["restore-test", "--json"]
    assert env_of(container)["RESTORE_TEST_RTO_SECONDS"] == "1800"
    assert env_of(container)["RESTORE_SCRATCH_DIR"] == "/scratch"


def test_backup_pods_reach_only_the_s3_endpoint() -> None:
    policy = backup.build_backup_network_policy(spec(), TENANT)
    assert policy is not None and policy["spec"] == {
        "podSelector": {"matchExpressions": [{"key": "hosting.odoo-operator.io/job", "operator": "In",
                                              "values": ["backup", "restore-test"]}]},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "198.51.100.7/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "problem"),
    [("0 2 * * *", None), ("*/15 1-5 1,15 * MON-FRI", None), ("@daily", None),
     ("0 2 * *", "is not a 5-field cron expression"), ("61 2 * * *", "(minute 0-59, hour 0-23"),
     ("0 24 * * *", "is not a 5-field cron expression"), ("every day", "is not a 5-field"),
     # What the CronJob API refuses, so the operator could never write it.
     ("0 2 * * 7", "weekday 0-6"), ("*/0 2 * * *", "is not a 5-field"),
     ("0 5-1 * * *", "range 5-1 runs backwards in '0 5-1 * * *'; write 1-5"), ("0 1-5/2 * * 0-6", None)],
)  # fmt: skip
def test_cron_problem(expression: str, problem: str | None) -> None:
    found = cron_problem(expression)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_restore_test_schedule_is_checked_like_the_backup_schedule() -> None:
    with pytest.raises(ValidationError, match="runs backwards"):
        spec(restoreTest={"schedule": "0 4 * * 6-1"})


def test_spec_rejects_bad_time_zone_and_durations() -> None:
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        spec(timeZone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not a duration"):
        spec(rpo="1d")
    assert parse_duration("1h30m") == timedelta(minutes=90)


def job(name: str, kind: str, finished: datetime | None, outcome: str = "Complete") -> dict:
    status: dict = {}
    if finished:
        status = {"conditions": [{"type": outcome, "status": "True",
                                  "lastTransitionTime": finished.strftime("%Y-%m-%dT%H:%M:%SZ")}]}  # fmt: skip
        if outcome == "Complete":
            status["completionTime"] = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name, "labels": {"hosting.odoo-operator.io/job": kind}}, "status": status}


def test_summarize_jobs_finds_latest_run_and_latest_success() -> None:
    record = backup.summarize_jobs([
        job("b1", "backup", NOW - timedelta(hours=30)),
        job("b2", "backup", NOW - timedelta(hours=6)),
        job("b3", "backup", NOW - timedelta(hours=1), "Failed"),
        job("b4", "backup", None),
    ])  # fmt: skip
    assert record == backup.JobRecord(NOW - timedelta(hours=1), "Failed", "b3", NOW - timedelta(hours=6))
    assert record.to_status() == {"time": "2026-12-03T11:00:00Z", "outcome": "Failed", "job": "b3",
                                  "lastSuccessTime": "2026-12-03T06:00:00Z"}  # fmt: skip
    assert backup.summarize_jobs([]) == backup.JobRecord(None, None, None, None)


def judge_rpo(record: backup.JobRecord, since: datetime | None = None):
    return backup.judge_freshness("BKP-RPO", "backup", record, timedelta(hours=26), "RPO", since, NOW)


def test_rpo_passes_for_a_fresh_backup_and_fails_with_its_age() -> None:
    fresh = judge_rpo(backup.JobRecord(NOW - timedelta(hours=3), "Succeeded", "b", NOW - timedelta(hours=3)))
    assert fresh.status == ControlStatus.Pass
    assert fresh.message == "last successful backup at 2026-12-03T09:00:00Z, within the RPO of 26h"
    stale = judge_rpo(backup.JobRecord(NOW - timedelta(hours=50), "Succeeded", "b", NOW - timedelta(hours=50)))
    assert stale.status == ControlStatus.Fail and stale.reason == "Stale"
    assert stale.message == ("last successful backup finished at 2026-12-01T10:00:00Z, 2d2h ago, "
                             "older than the RPO of 26h")  # fmt: skip


def test_rpo_without_any_success_waits_for_the_grace_period_then_fails() -> None:
    none = backup.JobRecord(NOW - timedelta(hours=1), "Failed", "b9", None)
    waiting = judge_rpo(none, since=NOW - timedelta(hours=2))
    assert waiting.status == ControlStatus.Unknown and "the last run (b9) failed" in waiting.message
    late = judge_rpo(none, since=NOW - timedelta(hours=30))
    assert late.status == ControlStatus.Fail and late.reason == "NeverSucceeded"
    assert late.message.startswith("no successful backup in the 30h since it was scheduled (RPO 26h)")


def test_backup_controls_are_exempt_without_a_backup_spec() -> None:
    plain = OdooTenantSpec.model_validate({"tier": "shared", "isolation": {"namespace": "odoo-shop"}})
    assert backup.build_backup_children(plain, TENANT) == []
    nothing = backup.summarize_jobs([])
    verdicts = [backup.judge_backup_schedule(plain, [], {}), *backup.judge_backups(plain, nothing, nothing, {}, NOW)]
    assert [(v.id, v.status) for v in verdicts] == [("BKP-SCHEDULE", "Exempt"), ("BKP-RPO", "Exempt"),
                                                     ("BKP-RESTORE", "Exempt")]  # fmt: skip
