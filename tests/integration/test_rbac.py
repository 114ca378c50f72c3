"""Least privilege, checked by the real RBAC authorizer through impersonation (kubectl --as).

Real: kube-apiserver with --authorization-mode=Node,RBAC; the operator creates the binding.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import apply, delete_tenant, kubectl, tenant_manifest, unique, wait_for, wait_ready


@pytest.fixture(scope="module")
def tenants(cluster, operator):
    admin = unique("alice")
    mine, theirs = unique("mine"), unique("theirs")
    assert apply(tenant_manifest(mine, f"odoo-{mine}", deletionPolicy="Delete",
                                 access={"adminUsers": [admin]})).returncode == 0  # fmt: skip
    assert apply(tenant_manifest(theirs, f"odoo-{theirs}", deletionPolicy="Delete",
                                 access={"adminUsers": ["someone-else"]})).returncode == 0  # fmt: skip
    wait_ready(cluster, mine)
    wait_ready(cluster, theirs)
    kubectl("create", "secret", "generic", "db", "-n", f"odoo-{theirs}", "--from-literal=password=s3cret")
    yield admin, f"odoo-{mine}", f"odoo-{theirs}"
    delete_tenant(mine)
    delete_tenant(theirs)


def as_admin(admin: str, *args: str):
    return kubectl("--as", admin, *args, check=False)


def test_admin_may_run_odoo_in_its_namespace(tenants) -> None:
    admin, ns, _ = tenants
    result = as_admin(admin, "create", "deployment", "odoo", "--image=odoo:18.0", "-n", ns)
    assert result.returncode == 0, result.stderr
    assert as_admin(admin, "create", "secret", "generic", "odoo-admin", "--from-literal=pw=x", "-n", ns).returncode == 0
    assert as_admin(admin, "get", "networkpolicies", "-n", ns).returncode == 0


@pytest.mark.parametrize(
    "action",
    [
        ("delete", "networkpolicy", "default-deny"),
        ("patch", "resourcequota", "tenant-quota", "--type=merge", "-p", '{"spec":{"hard":{"pods":"999"}}}'),
        ("delete", "limitrange", "tenant-limits"),
        ("delete", "rolebinding", "tenant-admins"),
        ("create", "rolebinding", "escalate", "--clusterrole=admin", "--user=mallory"),
    ],
)
def test_admin_may_not_weaken_the_fences(tenants, action) -> None:
    admin, ns, _ = tenants
    result = as_admin(admin, *action, "-n", ns)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr or "forbidden" in result.stderr


def test_admin_may_not_relabel_its_namespace(tenants) -> None:
    admin, ns, _ = tenants
    result = as_admin(admin, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=privileged", "--overwrite")
    assert result.returncode != 0 and "forbidden" in result.stderr.lower()


def test_admin_may_not_read_another_tenants_secrets(tenants) -> None:
    admin, _, other = tenants
    for verb in (("get", "secret", "db"), ("get", "secrets")):
        result = as_admin(admin, *verb, "-n", other)
        assert result.returncode != 0 and "forbidden" in result.stderr.lower()


def iam_rbac(cluster, ns: str) -> dict:
    tenant = next(t for t in [cluster.get_tenant(ns.removeprefix("odoo-"))] if t)
    return next(c for c in tenant["status"]["controls"] if c["id"] == "IAM-RBAC")


def test_a_binding_that_can_change_the_fences_fails_iam_rbac(cluster, tenants) -> None:
    admin, ns, _ = tenants
    kubectl("create", "clusterrole", "superpowers-test", "--verb=*", "--resource=*.*")
    kubectl("create", "rolebinding", "viewer", "--clusterrole=view", f"--user={admin}", "-n", ns)
    kubectl("create", "rolebinding", "powers", "--clusterrole=superpowers-test", "--user=mallory", "-n", ns)
    try:
        failing = wait_for("IAM-RBAC to fail", lambda: (c := iam_rbac(cluster, ns))["status"] == "Fail" and c,
                           timeout=10)  # fmt: skip
        assert "RoleBinding powers grants ClusterRole superpowers-test, which can change" in failing["message"]
        assert "viewer" not in failing["message"]
    finally:
        kubectl("delete", "rolebinding", "powers", "-n", ns)
        kubectl("delete", "clusterrole", "superpowers-test")
    wait_for("IAM-RBAC to pass", lambda: iam_rbac(cluster, ns)["status"] == "Pass", timeout=10)


def test_an_aggregation_rule_on_the_tenant_admin_role_is_removed_without_a_write_war(cluster, operator) -> None:
    kubectl("patch", "clusterrole", "odoo-tenant-admin", "--type=merge", "-p",
            '{"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":'
            '{"rbac.authorization.k8s.io/aggregate-to-edit":"true"}}]}}')  # fmt: skip

    def restored():
        role = cluster.get("rbac.authorization.k8s.io/v1", "ClusterRole", "odoo-tenant-admin")
        return role if not role.get("aggregationRule") else None

    role = wait_for("the aggregationRule to be removed", restored, timeout=10)
    assert not [r for r in role["rules"] if "networkpolicies" in r["resources"] and "patch" in r["verbs"]]
    version = role["metadata"]["resourceVersion"]
    time.sleep(4)  # a write war showed as hundreds of new resourceVersions in seconds
    assert cluster.get("rbac.authorization.k8s.io/v1", "ClusterRole", "odoo-tenant-admin")["metadata"][
        "resourceVersion"] == version  # fmt: skip


def test_a_deleted_tenant_admin_role_is_restored_and_reported(cluster, operator) -> None:
    kubectl("delete", "clusterrole", "odoo-tenant-admin")
    role = ("rbac.authorization.k8s.io/v1", "ClusterRole", "odoo-tenant-admin")
    wait_for("the role to come back", lambda: cluster.get(*role), timeout=10)

    def reported():
        selector = "involvedObject.kind=ClusterRole,involvedObject.name=odoo-tenant-admin,reason=DriftRepaired"
        out = kubectl("get", "events", "-n", "default", "-o", "json", "--field-selector", selector)
        return [e["message"] for e in json.loads(out.stdout)["items"]]

    messages = wait_for("a DriftRepaired event on the role", reported, timeout=10)
    assert "ClusterRole odoo-tenant-admin was deleted; restored" in messages
