"""Backups as the operator sees them: CronJobs, their pods' admission, and RPO/restore verdicts.

Real: the API server (CronJob validation, Pod Security admission of the pods the Job controller
creates from the CronJob's template), kube-controller-manager, the operator process. Pods never
run here (no kubelet), so finished Jobs are written the way the Job controller would write them:
a Job managed by the tests (spec.managedBy) whose status subresource is patched to Complete.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from conftest import apply, condition, delete_tenant, kubectl, tenant_manifest, unique, wait_for, wait_ready

S3 = {"endpoint": "https://s3.example.com", "bucket": "shop-backups", "credentialsSecret": "s3-creds",
      "egressCIDR": "198.51.100.7/32"}  # fmt: skip


def backup_spec(**extra) -> dict:
    body = {"schedule": "0 2 * * *", "timeZone": "Europe/Brussels", "rpo": "26h",
            "target": {"s3": S3}, "database": {"secretName": "db"}, "filestoreClaim": "filestore"}  # fmt: skip
    body.update(extra)
    return body


def controls(tenant: dict) -> dict[str, dict]:
    return {c["id"]: c for c in tenant["status"]["controls"]}


CRONJOB = {"backup": "odoo-backup", "restore-test": "odoo-restore-test"}


def finished_job(ns: str, tenant: str, kind: str, name: str, finished: datetime, outcome: str = "Complete",
                 template: dict | None = None) -> None:  # fmt: skip
    """A Job from the CronJob's template, left alone by the Job controller (managedBy), with the
    status the Job controller would have written after the pod ran."""
    if template is None:
        cronjob = json.loads(kubectl("get", "cronjob", CRONJOB[kind], "-n", ns, "-o", "json").stdout)
        template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"hosting.odoo-operator.io/tenant": tenant, "hosting.odoo-operator.io/job": kind}},
        "spec": {"managedBy": "hosting.odoo-operator.io/tests", "backoffLimit": 0, "template": template},
    }  # fmt: skip
    assert apply(job).returncode == 0
    stamp = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    started = (finished - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if outcome == "Complete":
        status = {"startTime": started, "completionTime": stamp, "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": stamp},
            {"type": "Complete", "status": "True", "lastTransitionTime": stamp}]}  # fmt: skip
    else:
        status = {"startTime": started, "failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "True", "lastTransitionTime": stamp},
            {"type": "Failed", "status": "True", "lastTransitionTime": stamp}]}  # fmt: skip
    kubectl(
        "patch", "job", name, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )


@pytest.fixture(scope="module")
def backed_up(cluster, operator):
    name = unique("backed")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec())).returncode == 0
    wait_ready(cluster, name)
    yield name, ns
    delete_tenant(name)


def test_cronjobs_are_created_with_the_declared_schedule(cluster, backed_up) -> None:
    name, ns = backed_up
    cronjob = cluster.get("batch/v1", "CronJob", "odoo-backup", ns)
    assert cronjob["metadata"]["ownerReferences"][0]["name"] == name
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("0 2 * * *", "Europe/Brussels", "Forbid")
    assert spec["startingDeadlineSeconds"] == 3600
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 21600
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["initContainers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "db", "key": "password"}
    assert {"name": "filestore", "mountPath": "/filestore", "readOnly": True} in container["volumeMounts"]
    restore = cluster.get("batch/v1", "CronJob", "odoo-restore-test", ns)
    assert restore["spec"]["schedule"] == "30 4 * * 0" and restore["spec"]["timeZone"] == "Europe/Brussels"

    policy = cluster.get("networking.k8s.io/v1", "NetworkPolicy", "allow-backup-target", ns)
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "198.51.100.7/32"}}]

    tenant = cluster.get_tenant(name)
    verdicts = controls(tenant)
    assert verdicts["BKP-SCHEDULE"]["status"] == "Pass"
    assert verdicts["BKP-RPO"]["status"] == "Unknown" and verdicts["BKP-RPO"]["reason"] == "AwaitingFirstRun"
    assert verdicts["ISO-NETPOL-ALLOW"]["status"] == "Pass"
    assert condition(tenant, "Compliant")["status"] == "Unknown"


def test_backup_pods_pass_the_namespace_pod_security(cluster, backed_up) -> None:
    """The Job controller creates a pod from the CronJob's template; restricted PSA must admit it."""
    _, ns = backed_up
    kubectl("create", "job", "--from=cronjob/odoo-backup", "manual-backup", "-n", ns)
    pods = wait_for("the Job controller to create the backup pod",
                    lambda: cluster.list("v1", "Pod", ns, "job-name=manual-backup"), timeout=30)  # fmt: skip
    assert pods[0]["spec"]["initContainers"][0]["args"] == ["backup", "--json"]
    events = json.loads(kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    assert not [e for e in events if e["reason"] == "FailedCreate"], "a pod was refused"
    kubectl("delete", "job", "manual-backup", "-n", ns, "--wait=false")


def test_succeeded_jobs_turn_rpo_and_restore_to_pass(cluster, operator, backed_up) -> None:
    name, ns = backed_up
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    finished_job(ns, name, "backup", "backup-ok", finished)
    finished_job(ns, name, "restore-test", "restore-ok", finished)

    def all_pass():
        tenant = cluster.get_tenant(name)
        return tenant if condition(tenant, "Compliant").get("status") == "True" else None

    tenant = wait_for("BKP-RPO and BKP-RESTORE to pass", all_pass, timeout=15)
    verdicts = controls(tenant)
    assert verdicts["BKP-RPO"]["status"] == "Pass"
    assert verdicts["BKP-RPO"]["message"] == (
        f"last successful backup at {finished:%Y-%m-%dT%H:%M:%SZ}, within the RPO of 26h"
    )
    assert verdicts["BKP-RESTORE"]["status"] == "Pass"
    assert tenant["status"]["lastBackup"] == {
        "time": f"{finished:%Y-%m-%dT%H:%M:%SZ}",
        "outcome": "Succeeded",
        "job": "backup-ok",
        "lastSuccessTime": f"{finished:%Y-%m-%dT%H:%M:%SZ}",
    }
    assert tenant["status"]["lastRestoreTest"]["outcome"] == "Succeeded"
    assert tenant["status"]["score"] == 100
    assert operator.sample("odoo_tenant_backup_last_success_timestamp_seconds", tenant=name) == finished.timestamp()
    assert (
        operator.sample("odoo_tenant_restore_test_last_success_timestamp_seconds", tenant=name) == finished.timestamp()
    )

    # A later failed run is reported, while the RPO still counts from the last good backup.
    finished_job(ns, name, "backup", "backup-failed", finished + timedelta(hours=1), outcome="Failed")
    tenant = wait_for("the failed run to show", lambda: (t := cluster.get_tenant(name))["status"]["lastBackup"][
        "outcome"] == "Failed" and t)  # fmt: skip
    assert tenant["status"]["lastBackup"]["job"] == "backup-failed"
    assert controls(tenant)["BKP-RPO"]["status"] == "Pass"


def test_old_backup_turns_rpo_to_fail_with_its_age(cluster, operator) -> None:
    name = unique("stale")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec())).returncode == 0
    wait_ready(cluster, name)
    finished_job(ns, name, "backup", "backup-old", datetime.now(UTC) - timedelta(days=3, minutes=10))

    def failing():
        tenant = cluster.get_tenant(name)
        return tenant if controls(tenant)["BKP-RPO"]["status"] == "Fail" else None

    tenant = wait_for("BKP-RPO to fail", failing, timeout=15)
    message = controls(tenant)["BKP-RPO"]["message"]
    assert "3d0h ago, older than the RPO of 26h" in message, message
    assert condition(tenant, "Compliant")["status"] == "False"
    assert operator.sample("odoo_tenant_control_status", tenant=name, control="BKP-RPO") == 0
    delete_tenant(name)


def test_deleted_cronjob_is_repaired(cluster, operator, backed_up) -> None:
    name, ns = backed_up
    before = operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind="CronJob") or 0
    kubectl("delete", "cronjob", "odoo-backup", "-n", ns)
    wait_for("the CronJob to come back", lambda: cluster.get("batch/v1", "CronJob", "odoo-backup", ns), timeout=10)
    wait_for(
        "the repair to be counted",
        lambda: (operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind="CronJob") or 0) > before,
    )


def test_delete_policy_keeps_the_backup_volume(cluster, operator) -> None:
    name = unique("keepvol")
    ns = f"odoo-{name}"
    volume = f"backups-{name}"
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                   "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/tmp/{volume}"}}}  # fmt: skip
    assert apply(pv).returncode == 0
    spec = backup_spec(target={"volume": {"claimName": "backups"}})
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=spec)).returncode == 0
    wait_ready(cluster, name)
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "backups", "namespace": ns},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": volume,
                      "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    assert apply(claim).returncode == 0
    wait_for("the claim to bind", lambda: (cluster.get("v1", "PersistentVolumeClaim", "backups", ns) or {})
             .get("status", {}).get("phase") == "Bound", timeout=30)  # fmt: skip

    delete_tenant(name)
    wait_for("the namespace to go", lambda: cluster.get("v1", "Namespace", ns) is None, timeout=90)
    kept = cluster.get("v1", "PersistentVolume", volume)
    assert kept is not None
    assert kept["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert kept["metadata"]["labels"]["hosting.odoo-operator.io/tenant"] == name
    kubectl("delete", "pv", volume, "--wait=false")


def test_suspended_backup_schedule_is_resumed(cluster, operator, backed_up) -> None:
    name, ns = backed_up
    kubectl("patch", "cronjob", "odoo-backup", "-n", ns, "-p", '{"spec":{"suspend":true}}')
    wait_for(
        "the CronJob to be resumed",
        lambda: cluster.get("batch/v1", "CronJob", "odoo-backup", ns)["spec"]["suspend"] is False,
        timeout=10,
    )


def test_a_forged_job_is_not_evidence_and_deleting_jobs_keeps_the_record(cluster, operator) -> None:
    name = unique("forge")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec())).returncode == 0
    wait_ready(cluster, name)
    # Right labels, but it does not run the declared backup tool: not a backup.
    busybox = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "args": ["true"]}]}}
    finished_job(ns, name, "backup", "totally-a-backup", datetime.now(UTC), template=busybox)
    real = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    finished_job(ns, name, "backup", "real-backup", real)
    tenant = wait_for("the real run to count", lambda: (t := cluster.get_tenant(name))["status"].get(
        "lastBackup", {}).get("job") == "real-backup" and t, timeout=15)  # fmt: skip
    assert controls(tenant)["BKP-RPO"]["status"] == "Pass"

    # History Jobs get deleted (by the CronJob's history limit or by hand); the evidence stays.
    kubectl("delete", "job", "real-backup", "totally-a-backup", "-n", ns)
    kubectl("annotate", "odootenant", name, "poke=1")  # any event; the re-check would do it too
    time_of_last = f"{real:%Y-%m-%dT%H:%M:%SZ}"
    for _ in range(3):
        tenant = wait_ready(cluster, name)
        assert tenant["status"]["lastBackup"]["lastSuccessTime"] == time_of_last
        assert controls(tenant)["BKP-RPO"]["status"] == "Pass"
    delete_tenant(name)


def test_switching_backups_off_exempts_the_controls_and_drops_the_backup_series(cluster, operator) -> None:
    name = unique("nobak")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec())).returncode == 0
    wait_ready(cluster, name)
    finished_job(ns, name, "backup", "backup-ok", datetime.now(UTC) - timedelta(hours=1))
    wait_for("the backup series", lambda: operator.sample("odoo_tenant_backup_last_success_timestamp_seconds",
                                                          tenant=name), timeout=15)  # fmt: skip

    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    tenant = wait_ready(cluster, name)
    assert {c["id"]: c["status"] for c in tenant["status"]["controls"] if c["family"] == "backup"} == {
        "BKP-SCHEDULE": "Exempt", "BKP-RPO": "Exempt", "BKP-RESTORE": "Exempt"}  # fmt: skip
    assert "lastBackup" not in tenant["status"]
    assert cluster.get("batch/v1", "CronJob", "odoo-backup", ns) is None
    # A dashboard would otherwise show an ever older "last backup" for a tenant that has none.
    assert operator.sample("odoo_tenant_backup_last_success_timestamp_seconds", tenant=name) is None
    assert operator.sample("odoo_tenant_restore_test_last_success_timestamp_seconds", tenant=name) is None
    delete_tenant(name)
