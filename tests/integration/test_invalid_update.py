"""An update the CRD accepts but the operator refuses: the last valid spec stays enforced.

Real: the API server (which accepts the update), the operator process, a restart of it. The
refused spec is a backup schedule whose hour range runs backwards: the CRD's pattern cannot
compare numbers, the operator can, and the CronJob API would refuse it. Checked: Ready=False
says why and an Event is posted, drift is still repaired before and after a restart (the last
valid spec is kept on the tenant, not only in memory), and fixing the spec applies it.
"""

from __future__ import annotations

from test_backup_operator import backup_spec

from conftest import apply, condition, delete_tenant, events_for, kubectl, tenant_manifest, unique, wait_for, wait_ready


def refused(cluster, name: str):
    tenant = cluster.get_tenant(name)
    ready = condition(tenant, "Ready")
    if ready.get("reason") == "InvalidSpec" and ready.get("observedGeneration") == tenant["metadata"]["generation"]:
        return tenant
    return None


def break_and_watch_repair(cluster, operator, name: str, ns: str) -> None:
    before = operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind="NetworkPolicy") or 0
    kubectl("delete", "networkpolicy", "default-deny", "-n", ns)
    wait_for("default-deny to come back",
             lambda: cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns), timeout=10)  # fmt: skip
    wait_for("the repair to be counted",
             lambda: (operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind="NetworkPolicy") or 0)
             > before, timeout=10)  # fmt: skip


def test_last_valid_spec_stays_enforced_across_a_restart(cluster, operator) -> None:
    name = unique("badupd")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec())).returncode == 0
    wait_ready(cluster, name)

    result = apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec(schedule="0 5-1 * * *")))
    assert result.returncode == 0, result.stderr  # the CRD cannot tell; the operator must
    tenant = wait_for("the update to be refused", lambda: refused(cluster, name))
    message = condition(tenant, "Ready")["message"]
    assert "range 5-1 runs backwards in '0 5-1 * * *'; write 1-5" in message
    assert message.endswith("the last valid spec is still enforced")
    assert any(e["reason"] == "InvalidSpec" for e in events_for(name))
    # The controls are still judged against what is enforced, not dropped to Unknown.
    assert {c["id"]: c["status"] for c in tenant["status"]["controls"]}["ISO-NETPOL-DENY"] == "Pass"
    assert cluster.get("batch/v1", "CronJob", "odoo-backup", ns)["spec"]["schedule"] == "0 2 * * *"

    break_and_watch_repair(cluster, operator, name, ns)
    operator.restart()
    break_and_watch_repair(cluster, operator, name, ns)
    assert condition(refused(cluster, name), "Ready")["message"] == message

    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete", backup=backup_spec(schedule="0 1-5 * * *")))\
        .returncode == 0  # fmt: skip
    wait_ready(cluster, name)
    assert cluster.get("batch/v1", "CronJob", "odoo-backup", ns)["spec"]["schedule"] == "0 1-5 * * *"
    delete_tenant(name)
