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


def test_a_spec_refused_from_the_start_is_unknown_and_deletes_cleanly(cluster, operator) -> None:
    name = unique("badnew")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, backup=backup_spec(schedule="0 5-1 * * *"))).returncode == 0
    tenant = wait_for("the spec to be refused", lambda: refused(cluster, name))
    # Nothing enforced, so nothing judged: Unknown everywhere, in status and in metrics.
    assert {c["status"] for c in tenant["status"]["controls"]} == {"Unknown"}
    assert operator.sample("odoo_tenant_control_status", tenant=name, control="ISO-NETPOL-DENY") == -1
    assert operator.sample("odoo_tenant_compliant", tenant=name) == 0
    assert cluster.get("v1", "Namespace", ns) is None
    # It never held anything, so its deletion has nothing to release and must not hang.
    result = kubectl("delete", "odootenant", name, "--wait=true", "--timeout=30s", check=False)
    assert result.returncode == 0, result.stderr
    assert operator.sample("odoo_tenant_compliant", tenant=name) is None


def test_retain_in_a_refused_update_keeps_the_data(cluster, operator) -> None:
    name = unique("keepit")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, name)
    kubectl("create", "configmap", "precious", "-n", ns, "--from-literal=orders=42")
    # Retain, declared in the same update as something the operator refuses.
    update = tenant_manifest(name, ns, deletionPolicy="Retain", backup=backup_spec(schedule="0 5-1 * * *"))
    assert apply(update).returncode == 0
    wait_for("the update to be refused", lambda: refused(cluster, name))
    delete_tenant(name)
    kept = cluster.get("v1", "Namespace", ns)
    assert kept is not None and kept["metadata"]["labels"]["hosting.odoo-operator.io/orphaned"] == "true"
    assert cluster.get("v1", "ConfigMap", "precious", ns) is not None
    kubectl("delete", "namespace", ns, "--wait=false")
