"""A namespace the tenant may not take: a clear Fail and an Event, never a crash loop.

Real: two tenants racing for one namespace on the API server, and a namespace someone made
by hand. The first tenant must be untouched (same resourceVersions, still Ready).
"""

from __future__ import annotations

import json

from conftest import apply, condition, delete_tenant, events_for, kubectl, tenant_manifest, unique, wait_for, wait_ready
from test_idempotence import snapshot


def failed_with(cluster, name: str, reason: str):
    tenant = cluster.get_tenant(name)
    ready = condition(tenant, "Ready")
    return tenant if ready.get("status") == "False" and ready.get("reason") == reason else None


def test_second_tenant_cannot_take_the_first_ones_namespace(cluster, operator) -> None:
    first, second = unique("first"), unique("second")
    ns = f"odoo-{first}"
    assert apply(tenant_manifest(first, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, first)
    before = snapshot(cluster, ns)

    assert apply(tenant_manifest(second, ns, deletionPolicy="Delete")).returncode == 0
    tenant = wait_for("the conflict to be reported", lambda: failed_with(cluster, second, "NamespaceConflict"))
    message = condition(tenant, "Ready")["message"]
    assert message == f"namespace {ns} is already owned by OdooTenant {first}; choose another spec.isolation.namespace"
    controls = {c["id"]: c for c in tenant["status"]["controls"]}
    assert controls["ISO-NS"]["status"] == "Fail" and controls["ISO-NS"]["message"] == message
    assert controls["ISO-NETPOL-DENY"]["status"] == "Unknown"
    wait_for("a NamespaceConflict event", lambda: any(e["reason"] == "NamespaceConflict" for e in events_for(second)))
    assert operator.sample("odoo_tenant_compliant", tenant=second) == 0

    assert snapshot(cluster, ns) == before, "the losing tenant changed the winner's objects"
    assert condition(wait_ready(cluster, first), "Compliant")["status"] == "True"

    # The message's advice works: a tenant that never held a namespace may move to another one.
    moved = f"odoo-{second}"
    assert apply(tenant_manifest(second, moved, deletionPolicy="Delete")).returncode == 0
    tenant = wait_ready(cluster, second)
    assert tenant["status"]["namespace"] == moved
    assert cluster.get("v1", "Namespace", moved)["metadata"]["ownerReferences"][0]["name"] == second
    assert snapshot(cluster, ns) == before
    # Deleting the loser must not take the winner's namespace with it.
    delete_tenant(second)
    assert cluster.get("v1", "Namespace", ns)["metadata"]["ownerReferences"][0]["name"] == first
    delete_tenant(first)


def test_unmanaged_namespace_is_refused_until_adopted(cluster, operator) -> None:
    name = unique("adopt")
    ns = f"odoo-{name}"
    kubectl("create", "namespace", ns)
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    tenant = wait_for("the conflict to be reported", lambda: failed_with(cluster, name, "NamespaceConflict"))
    assert "already exists and is not managed by this operator" in condition(tenant, "Ready")["message"]
    assert cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns) is None
    backup_controls = {c["id"]: c["status"] for c in tenant["status"]["controls"] if c["family"] == "backup"}
    assert backup_controls == {"BKP-SCHEDULE": "Exempt", "BKP-RPO": "Exempt", "BKP-RESTORE": "Exempt"}

    # Left over in the namespace before adoption: a tenant-admins binding to cluster-admin. Its roleRef
    # cannot be changed, only the binding replaced.
    kubectl("create", "rolebinding", "tenant-admins", "-n", ns, "--clusterrole=cluster-admin", "--user=mallory")

    kubectl("label", "namespace", ns, f"hosting.odoo-operator.io/tenant={name}")
    tenant = wait_ready(cluster, name)
    assert cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns) is not None
    binding = cluster.get("rbac.authorization.k8s.io/v1", "RoleBinding", "tenant-admins", ns)
    assert binding["roleRef"]["name"] == "odoo-tenant-admin"
    assert "mallory" not in [s["name"] for s in binding.get("subjects") or []]
    assert {c["id"]: c["status"] for c in tenant["status"]["controls"]}["IAM-RBAC"] == "Pass"
    # The children were created for the first time, not repaired: no drift to alert anyone about.
    assert not [e["message"] for e in events_for(name) if e["reason"] == "DriftRepaired"]
    assert operator.sample("odoo_tenant_drift_repairs_total", tenant=name) is None
    delete_tenant(name)


def test_a_tenant_that_lost_its_namespace_may_move(cluster, operator) -> None:
    first, second = unique("loser"), unique("taker")
    ns = f"odoo-{first}"
    assert apply(tenant_manifest(first, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, first)
    assert apply(tenant_manifest(second, ns, deletionPolicy="Delete")).returncode == 0
    wait_for("the conflict", lambda: failed_with(cluster, second, "NamespaceConflict"))

    # An administrator hands the namespace over: no owner, labelled for the other tenant.
    kubectl("patch", "namespace", ns, "--type=merge", "-p",
            json.dumps({"metadata": {"ownerReferences": None,
                                     "labels": {"hosting.odoo-operator.io/tenant": second}}}))  # fmt: skip
    assert wait_ready(cluster, second)["status"]["namespace"] == ns
    loser = wait_for("the first tenant's conflict", lambda: failed_with(cluster, first, "NamespaceConflict"))
    assert "namespace" not in loser["status"], "a tenant that holds nothing must not claim a namespace"
    # So the advice of its message can be followed.
    moved = f"odoo-{first}-new"
    assert apply(tenant_manifest(first, moved, deletionPolicy="Delete")).returncode == 0
    assert wait_ready(cluster, first)["status"]["namespace"] == moved
    delete_tenant(first)
    delete_tenant(second)
