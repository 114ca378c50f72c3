"""Demo step: one real backup and restore test of a tenant-like database, seen by the operator.

Starts a private PostgreSQL (as the backup tests do), builds an Odoo-like database and
filestore, runs `odoo-tenant-backup backup` and `restore-test` for real against a volume
target under .local/demo-backup, then records each run as a finished Job in the tenant's
namespace: pods cannot run here (no kubelet), so the Job's status is written the way the Job
controller would, with the real start and end times. The operator then judges BKP-RPO and
BKP-RESTORE from those Jobs.

Usage: .venv/bin/python hack/demo_backup.py TENANT
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "backup"))

import backup_testlib as lib  # noqa: E402 - the helpers the backup tests use to start real servers

BIN = Path(sys.executable).parent
ENV = {**os.environ, "KUBECONFIG": str(ROOT / ".local" / "kubeconfig")}
RETENTION_ENV = (
    "BACKUP_TIMEZONE", "BACKUP_KEEP_LAST", "BACKUP_KEEP_DAILY", "BACKUP_KEEP_WEEKLY", "BACKUP_KEEP_MONTHLY",
)  # fmt: skip


def kubectl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(BIN / "kubectl"), *args], env=ENV, input=stdin, text=True, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_job(namespace: str, tenant: str, kind: str, started: datetime, finished: datetime, ok: bool) -> str:
    name = f"demo-{kind}-{finished:%H%M%S}"
    cronjob = json.loads(kubectl("get", "cronjob", f"odoo-{kind}", "-n", namespace, "-o", "json"))
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"hosting.odoo-operator.io/tenant": tenant, "hosting.odoo-operator.io/job": kind}},
        # The CronJob's own template: only runs of the declared tool count as evidence.
        "spec": {"managedBy": "hosting.odoo-operator.io/demo",
                 "template": cronjob["spec"]["jobTemplate"]["spec"]["template"]},
    }  # fmt: skip
    kubectl("apply", "-f", "-", stdin=json.dumps(job))
    done = "Complete" if ok else "Failed"
    criteria = "SuccessCriteriaMet" if ok else "FailureTarget"
    status = {"startTime": stamp(started), "conditions": [
        {"type": criteria, "status": "True", "lastTransitionTime": stamp(finished)},
        {"type": done, "status": "True", "lastTransitionTime": stamp(finished)}]}  # fmt: skip
    status.update({"completionTime": stamp(finished), "succeeded": 1} if ok else {"failed": 1})
    kubectl("patch", "job", name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}))  # fmt: skip
    return name


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12] + "…"  # a sha256: enough to compare by eye
    return str(value)


def print_report(stdout: str) -> None:
    """The tool's --json report, a field a line; a list of parts, a part a line."""
    for line in stdout.strip().splitlines():
        try:
            report = json.loads(line)
        except ValueError:
            print("    " + line)
            continue
        for key, value in report.items():
            if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
                print(f"    {key}:")
                for item in value:
                    print("      - " + "  ".join(f"{k}={_plain(v)}" for k, v in item.items()))
            elif isinstance(value, list):
                print(f"    {key}: " + ("; ".join(_plain(v) for v in value) or "-"))
            elif isinstance(value, dict):
                print(f"    {key}: " + "  ".join(f"{k}={_plain(v)}" for k, v in value.items()))
            else:
                print(f"    {key}: {_plain(value)}")


def declared_env(namespace: str, kind: str, names: tuple[str, ...]) -> dict[str, str]:
    """Plain settings the operator put in the CronJob's container (the RTO, retention), not secrets."""
    cronjob = json.loads(kubectl("get", "cronjob", f"odoo-{kind}", "-n", namespace, "-o", "json"))
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", []) if e["name"] in names and "value" in e}


def timed_run(*args: str, env: dict[str, str]) -> tuple[lib.ToolRun, datetime, datetime]:
    started = datetime.now(UTC)
    run = lib.run_tool(*args, env=env, timeout=600)
    return run, started, datetime.now(UTC)


def main() -> None:
    tenant = sys.argv[1]
    namespace = kubectl("get", "odootenant", tenant, "-o", "jsonpath={.status.namespace}")
    work = ROOT / ".local" / "demo-backup"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print("[demo] starting a private PostgreSQL and building an Odoo-like database and filestore ...")
    print("[demo] (backups go to a volume target under .local/: the example's S3 endpoint exists only in a cluster)")
    with lib.start_postgres() as pg:
        template = lib.build_tenant_template(pg, work / "filestore", name="boutique")
        target = lib.volume_target(work / "backups")
        env = {**lib.Tenant(tenant, template.database, template.filestore, pg).env(), **target.env}
        # The RTO and retention the operator declared in the CronJobs, as the Jobs' pods would get them.
        env.update(declared_env(namespace, "backup", RETENTION_ENV))
        env.update(declared_env(namespace, "restore-test", ("RESTORE_TEST_RTO_SECONDS",)))
        for args, kind in ((("backup", "--json"), "backup"), (("restore-test", "--json"), "restore-test")):
            print(f"[demo] odoo-tenant-backup {' '.join(args)}")
            run, started, finished = timed_run(*args, env=env)
            print_report(run.stdout)
            if run.returncode != 0:
                print("    " + run.stderr.strip().replace("\n", "\n    "))
            job = record_job(namespace, tenant, kind, started, finished, run.returncode == 0)
            print(f"[demo] recorded as Job {namespace}/{job} ({'Succeeded' if run.returncode == 0 else 'Failed'}): "
                  "the tool ran here, on this machine, since no kubelet runs pods; the Job's status is written "
                  "as the Job controller would")  # fmt: skip
        listing = lib.run_tool("list", env=env)
        print("[demo] odoo-tenant-backup list\n    " + listing.stdout.strip().replace("\n", "\n    "))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = json.loads(kubectl("get", "odootenant", tenant, "-o", "json"))["status"]
        verdicts = {c["id"]: c for c in status["controls"]}
        if verdicts["BKP-RPO"]["status"] == "Pass" and verdicts["BKP-RESTORE"]["status"] == "Pass":
            break
        time.sleep(0.5)
    for cid in ("BKP-SCHEDULE", "BKP-RPO", "BKP-RESTORE"):
        print(f"    {cid:<13} {verdicts[cid]['status']:<7} {verdicts[cid]['message']}")
    for key in ("lastBackup", "lastRestoreTest"):
        print(f"    status.{key}:")
        for field, value in (status.get(key) or {}).items():
            print(f"      {field}: {_plain(value)}")


if __name__ == "__main__":
    main()
