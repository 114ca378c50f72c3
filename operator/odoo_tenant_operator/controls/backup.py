"""Backup family: the backup and restore-test CronJobs, the backup pods' NetworkPolicy, and
the verdicts BKP-SCHEDULE, BKP-RPO and BKP-RESTORE from the Jobs the API server reports.

Pure: builders take the validated spec; judges take observed objects and the current time.
Messages carry ages rounded to whole hours so a status is rewritten at most hourly, not on
every re-check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.common import (
    JOB_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    TENANT_LABEL,
    Manifest,
    TenantRef,
    child_metadata,
    describe_drift,
    object_key,
)
from odoo_tenant_operator.controls.verdicts import Verdict

Status = api.ControlStatus
BACKUP_JOB = "backup"
RESTORE_TEST_JOB = "restore-test"
BACKUP_CRONJOB = "odoo-backup"
RESTORE_TEST_CRONJOB = "odoo-restore-test"
BACKUP_POLICY = "allow-backup-target"
RUN_AS = 65532  # the image's unprivileged user
FILESTORE_MOUNT = "/filestore"
BACKUP_MOUNT = "/backups"
NOT_CONFIGURED = "spec.backup is not set: this tenant's data is not backed up by the operator"


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(spec: api.OdooTenantSpec, tenant: TenantRef) -> list[dict[str, Any]]:
    backup = spec.backup
    assert backup is not None
    db = backup.database.secretName
    env: list[dict[str, Any]] = [
        {"name": "TENANT", "value": tenant.name},
        _secret_env("PGHOST", db, "host"),
        _secret_env("PGPORT", db, "port"),
        _secret_env("PGDATABASE", db, "dbname"),
        _secret_env("PGUSER", db, "user"),
        _secret_env("PGPASSWORD", db, "password"),
        {"name": "FILESTORE_PATH", "value": FILESTORE_MOUNT},
        {"name": "BACKUP_TIMEZONE", "value": backup.timeZone},
        {"name": "BACKUP_KEEP_LAST", "value": str(backup.retention.keepLast)},
        {"name": "BACKUP_KEEP_DAILY", "value": str(backup.retention.keepDaily)},
        {"name": "BACKUP_KEEP_WEEKLY", "value": str(backup.retention.keepWeekly)},
        {"name": "BACKUP_KEEP_MONTHLY", "value": str(backup.retention.keepMonthly)},
    ]
    if backup.target.s3:
        s3 = backup.target.s3
        env += [
            {"name": "BACKUP_S3_ENDPOINT", "value": s3.endpoint},
            {"name": "BACKUP_S3_BUCKET", "value": s3.bucket},
            {"name": "BACKUP_S3_PREFIX", "value": s3.prefix or tenant.name},
            {"name": "BACKUP_S3_REGION", "value": s3.region},
            _secret_env("AWS_ACCESS_KEY_ID", s3.credentialsSecret, "AWS_ACCESS_KEY_ID"),
            _secret_env("AWS_SECRET_ACCESS_KEY", s3.credentialsSecret, "AWS_SECRET_ACCESS_KEY"),
        ]
        # The API server drops empty values, so an empty entry would read as drift forever.
        if s3.serverSideEncryption:
            env.append({"name": "BACKUP_S3_SSE", "value": str(s3.serverSideEncryption)})
        if s3.objectLockDays:
            env.append({"name": "BACKUP_S3_OBJECT_LOCK_DAYS", "value": str(s3.objectLockDays)})
    else:
        env.append({"name": "BACKUP_DIR", "value": BACKUP_MOUNT})
    return env


def _container(
    name: str,
    spec: api.OdooTenantSpec,
    tenant: TenantRef,
    args: list[str],
    mounts: list[dict[str, Any]],
    extra_env: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    assert spec.backup is not None
    return {
        "name": name,
        "image": spec.backup.image,
        "command": ["odoo-tenant-backup"],
        "args": args,
        "env": _env(spec, tenant) + (extra_env or []),
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _volumes(spec: api.OdooTenantSpec, *, filestore: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    assert spec.backup is not None
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if filestore:
        volumes.append({"name": "filestore", "persistentVolumeClaim": {
            "claimName": spec.backup.filestoreClaim, "readOnly": True}})  # fmt: skip
        mounts.append({"name": "filestore", "mountPath": FILESTORE_MOUNT, "readOnly": True})
    if spec.backup.target.volume:
        volumes.append({"name": "backups", "persistentVolumeClaim": {"claimName": spec.backup.target.volume.claimName}})
        mounts.append({"name": "backups", "mountPath": BACKUP_MOUNT})
    return volumes, mounts


def _cronjob(name: str, job: str, spec: api.OdooTenantSpec, tenant: TenantRef, schedule: str,
             deadline: timedelta, pod_spec: dict[str, Any], owned: bool) -> Manifest:  # fmt: skip
    assert spec.backup is not None
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, TENANT_LABEL: tenant.name, JOB_LABEL: job}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": child_metadata(name, tenant, spec.isolation.namespace, owned=owned),
        "spec": {
            "schedule": schedule,
            "timeZone": spec.backup.timeZone,
            # Declared so that suspending the schedule counts as drift and is undone.
            "suspend": False,
            "concurrencyPolicy": "Forbid",
            # A run missed by more than an hour waits for the next slot rather than piling up.
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": int(deadline.total_seconds()),
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }


def _pod_spec(containers: list[dict[str, Any]], volumes: list[dict[str, Any]],
              init: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": volumes,
    }
    if init:
        spec["initContainers"] = init
    return spec


def build_backup_cronjob(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    assert spec.backup is not None
    volumes, mounts = _volumes(spec, filestore=True)
    # Prune runs only after a successful backup: an init container failing fails the pod.
    backup = _container("backup", spec, tenant, ["backup", "--json"], mounts)
    prune = _container("prune", spec, tenant, ["prune"], [m for m in mounts if m["name"] != "filestore"])
    return _cronjob(BACKUP_CRONJOB, BACKUP_JOB, spec, tenant, spec.backup.schedule, timedelta(hours=6),
                    _pod_spec([prune], volumes, init=[backup]), owned)  # fmt: skip


def build_restore_test_cronjob(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    assert spec.backup is not None
    volumes, mounts = _volumes(spec, filestore=False)
    volumes.append({"name": "scratch", "emptyDir": {}})
    mounts.append({"name": "scratch", "mountPath": "/scratch"})
    rto = api.parse_duration(spec.backup.restoreTest.rto)
    extra = [{"name": "RESTORE_SCRATCH_DIR", "value": "/scratch"},
             {"name": "RESTORE_TEST_RTO_SECONDS", "value": str(int(rto.total_seconds()))}]  # fmt: skip
    test = _container("restore-test", spec, tenant, ["restore-test", "--json"], mounts, extra)
    # Twice the RTO: a slow restore should fail on its own check, not be killed silently.
    return _cronjob(RESTORE_TEST_CRONJOB, RESTORE_TEST_JOB, spec, tenant, spec.backup.restoreTest.schedule,
                    2 * rto, _pod_spec([test], volumes), owned)  # fmt: skip


def build_backup_network_policy(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest | None:
    """Egress from backup and restore-test pods to the S3 endpoint; None for a volume target."""
    if spec.backup is None or spec.backup.target.s3 is None:
        return None
    s3 = spec.backup.target.s3
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(BACKUP_POLICY, tenant, spec.isolation.namespace, owned=owned),
        "spec": {
            "podSelector": {"matchExpressions": [
                {"key": JOB_LABEL, "operator": "In", "values": [BACKUP_JOB, RESTORE_TEST_JOB]}]},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": s3.egressCIDR}}], "ports": [{"protocol": "TCP", "port": s3.port}]}],
        },
    }  # fmt: skip


def build_backup_children(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> list[Manifest]:
    if spec.backup is None:
        return []
    return [build_backup_cronjob(spec, tenant, owned=owned), build_restore_test_cronjob(spec, tenant, owned=owned)]


def build_backup_volume_retention(volume_name: str, tenant: str) -> Manifest:
    """The fields set on a backup PersistentVolume so it survives its claim's namespace."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume_name, "labels": {TENANT_LABEL: tenant, f"{api.GROUP}/backups": "true"}},
        "spec": {"persistentVolumeReclaimPolicy": "Retain"},
    }


@dataclass(frozen=True)
class JobRecord:
    """The latest finished run of one kind of job, as status.lastBackup reports it."""

    time: datetime | None
    outcome: str | None
    job: str | None
    last_success: datetime | None

    def keep_success(self, previous: dict[str, Any] | None) -> JobRecord:
        """History Jobs get pruned or deleted; the last success recorded in status is kept."""
        before = _parse_time((previous or {}).get("lastSuccessTime"))
        if before is None or (self.last_success is not None and self.last_success >= before):
            return self
        if self.time is None:
            return JobRecord(before, "Succeeded", (previous or {}).get("job"), before)
        return JobRecord(self.time, self.outcome, self.job, before)

    def to_status(self) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

        return {"time": stamp(self.time), "outcome": self.outcome, "job": self.job,
                "lastSuccessTime": stamp(self.last_success)}  # fmt: skip


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _finish(job: Manifest) -> tuple[datetime, str] | None:
    """When and how a Job finished, from the conditions the Job controller writes."""
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            when = _parse_time(status.get("completionTime")) or _parse_time(condition.get("lastTransitionTime"))
            return (when, "Succeeded") if when else None
        if condition.get("type") == "Failed":
            when = _parse_time(condition.get("lastTransitionTime"))
            return (when, "Failed") if when else None
    return None


def _tool_calls(pod: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    return [(c.get("image"), c.get("command"), c.get("args")) for c in containers]


def runs_declared_tool(job: Manifest, cronjob: Manifest) -> bool:
    """The Job runs exactly the containers (image, command, args) of the declared CronJob."""
    pod = (((job.get("spec") or {}).get("template") or {}).get("spec")) or {}
    declared = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return _tool_calls(pod) == _tool_calls(declared)


def summarize_jobs(jobs: Sequence[Manifest]) -> JobRecord:
    finished = [(f[0], f[1], j["metadata"]["name"]) for j in jobs if (f := _finish(j))]
    if not finished:
        return JobRecord(None, None, None, None)
    latest = max(finished)
    successes = [when for when, outcome, _ in finished if outcome == "Succeeded"]
    return JobRecord(latest[0], latest[1], latest[2], max(successes) if successes else None)


def _age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d{hours % 24}h" if hours >= 48 else f"{hours}h"


def judge_backup_schedule(spec: api.OdooTenantSpec, desired: Sequence[Manifest],
                          observed: dict[str, Manifest]) -> Verdict:  # fmt: skip
    if spec.backup is None:
        return Verdict("BKP-SCHEDULE", "backup", Status.Exempt, "NotConfigured", NOT_CONFIGURED)
    failures = []
    for manifest in desired:
        drift = describe_drift(manifest, observed.get(manifest["metadata"]["name"]))
        if drift:
            failures.append(f"{object_key(manifest)} {drift}")
    if failures:
        return Verdict("BKP-SCHEDULE", "backup", Status.Fail, "CronJobDrifted", "; ".join(failures))
    return Verdict("BKP-SCHEDULE", "backup", Status.Pass, "AsDeclared",
                   f"backup '{spec.backup.schedule}' and restore test '{spec.backup.restoreTest.schedule}' "
                   f"({spec.backup.timeZone}) scheduled")  # fmt: skip


def judge_freshness(cid: str, what: str, record: JobRecord, limit: timedelta, limit_name: str,
                    since: datetime | None, now: datetime) -> Verdict:  # fmt: skip
    """Pass while the last success is younger than `limit`; Fail once it (or the wait for a first one) is older."""
    if record.last_success is not None:
        age = now - record.last_success
        stamp = record.last_success.strftime("%Y-%m-%dT%H:%M:%SZ")
        if age <= limit:
            return Verdict(cid, "backup", Status.Pass, "Fresh", f"last successful {what} at {stamp}, within the "
                           f"{limit_name} of {_age(limit)}")  # fmt: skip
        return Verdict(cid, "backup", Status.Fail, "Stale", f"last successful {what} finished at {stamp}, "
                       f"{_age(age)} ago, older than the {limit_name} of {_age(limit)}")  # fmt: skip
    waited = now - since if since else timedelta(0)
    failed = f"; the last run ({record.job}) failed" if record.outcome == "Failed" else ""
    if waited > limit:
        return Verdict(cid, "backup", Status.Fail, "NeverSucceeded",
                       f"no successful {what} in the {_age(waited)} since it was scheduled "
                       f"({limit_name} {_age(limit)}){failed}")  # fmt: skip
    return Verdict(
        cid,
        "backup",
        Status.Unknown,
        "AwaitingFirstRun",
        f"no successful {what} yet; one is due within the {limit_name} of {_age(limit)}{failed}",
    )


def judge_backups(spec: api.OdooTenantSpec, backups: JobRecord, restore_tests: JobRecord,
                  observed: dict[str, Manifest], now: datetime) -> list[Verdict]:  # fmt: skip
    """BKP-RPO and BKP-RESTORE; the grace period starts when each CronJob was created."""
    if spec.backup is None:
        return [Verdict(cid, "backup", Status.Exempt, "NotConfigured", NOT_CONFIGURED)
                for cid in ("BKP-RPO", "BKP-RESTORE")]  # fmt: skip

    def created(name: str) -> datetime | None:
        return _parse_time((observed.get(name) or {}).get("metadata", {}).get("creationTimestamp"))

    return [
        judge_freshness("BKP-RPO", "backup", backups, api.parse_duration(spec.backup.rpo), "RPO",
                        created(BACKUP_CRONJOB), now),
        judge_freshness("BKP-RESTORE", "restore test", restore_tests,
                        api.parse_duration(spec.backup.restoreTest.maxAge), "restore-test interval",
                        created(RESTORE_TEST_CRONJOB), now),
    ]  # fmt: skip
