"""Deletion policy: Retain keeps the namespace and everything in it; Delete removes it.

Real: the garbage collector and namespace controller of kube-controller-manager do the
removing (or would, if owner references were left behind), so keeping is proven against them.
"""

from __future__ import annotations

import time

from conftest import apply, delete_tenant, kubectl, tenant_manifest, unique, wait_for, wait_ready


def test_retain_orphans_namespace_and_contents(cluster, operator) -> None:
    name = unique("retain")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns)).returncode == 0  # Retain is the default
    wait_ready(cluster, name)
    # Stand-ins for tenant data: a ConfigMap and a PVC-like object the tenant made itself.
    kubectl("create", "configmap", "odoo-conf", "-n", ns, "--from-literal=db_name=shop")
    delete_tenant(name)
    assert cluster.get_tenant(name) is None
    # Give the garbage collector time to act on any owner reference that was left behind.
    time.sleep(5)
    namespace = cluster.get("v1", "Namespace", ns)
    assert namespace is not None and namespace["status"]["phase"] == "Active"
    assert not namespace["metadata"].get("ownerReferences")
    assert namespace["metadata"]["labels"]["hosting.odoo-operator.io/orphaned"] == "true"
    for api_version, kind, child in [("networking.k8s.io/v1", "NetworkPolicy", "default-deny"),
                                     ("v1", "ResourceQuota", "tenant-quota"),
                                     ("rbac.authorization.k8s.io/v1", "RoleBinding", "tenant-admins")]:  # fmt: skip
        found = cluster.get(api_version, kind, child, ns)
        assert found is not None, f"{kind} {child} was deleted"
        assert not found["metadata"].get("ownerReferences"), f"{kind} {child} still has an owner"
    assert cluster.get("v1", "ConfigMap", "odoo-conf", ns) is not None
    assert operator.sample("odoo_tenant_compliant", tenant=name) is None

    # A tenant of the same name takes its retained namespace back.
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    tenant = wait_ready(cluster, name)
    assert cluster.get("v1", "Namespace", ns)["metadata"]["ownerReferences"][0]["uid"] == tenant["metadata"]["uid"]
    assert cluster.get("v1", "ConfigMap", "odoo-conf", ns) is not None
    delete_tenant(name)


def test_delete_policy_removes_the_namespace(cluster, operator) -> None:
    name = unique("delete")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, name)
    delete_tenant(name)
    wait_for("the namespace to be garbage-collected", lambda: cluster.get("v1", "Namespace", ns) is None, timeout=90)


def test_foreground_deletion_of_a_retained_tenant_is_refused(cluster, operator) -> None:
    """Foreground deletion would let the garbage collector remove the namespace before release."""
    name = unique("foreground")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns)).returncode == 0
    wait_ready(cluster, name)
    refused = kubectl("delete", "odootenant", name, "--cascade=foreground", "--wait=false", check=False)
    assert refused.returncode != 0
    assert "deletionPolicy is Retain: foreground deletion would let the garbage collector" in refused.stderr
    assert cluster.get_tenant(name) is not None
    # With Delete, foreground deletion is what the user asked for.
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, name)
    assert kubectl("delete", "odootenant", name, "--cascade=foreground", "--wait=true", "--timeout=90s",
                   check=False).returncode == 0  # fmt: skip
