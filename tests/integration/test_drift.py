"""Continuous enforcement: break a managed child on the real API server, watch it come back.

Real: the API server, the controller manager and the operator process. Checked: each kind of
breakage is restored within 10 seconds, counted in odoo_tenant_drift_repairs_total, and
reported as a DriftRepaired Event on the tenant naming what drifted.
"""

from __future__ import annotations

import json

import pytest

from conftest import apply, delete_tenant, events_for, kubectl, tenant_manifest, unique, wait_for, wait_ready


@pytest.fixture(scope="module")
def settled(cluster, operator):
    name = unique("drift")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, name)
    yield name, ns
    delete_tenant(name)


def _ingress_ports(cluster, ns):
    policy = cluster.get("networking.k8s.io/v1", "NetworkPolicy", "allow-ingress-controller", ns)
    return policy and [p["port"] for p in policy["spec"]["ingress"][0]["ports"]]


BREAKAGES = {
    "delete-default-deny": (
        "NetworkPolicy",
        lambda ns: kubectl("delete", "networkpolicy", "default-deny", "-n", ns),
        lambda cluster, ns: cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns) is not None,
        "NetworkPolicy {ns}/default-deny was deleted; restored",
        "NetworkPolicy deleted",
    ),
    "edit-allow-policy": (
        "NetworkPolicy",
        lambda ns: kubectl("patch", "networkpolicy", "allow-ingress-controller", "-n", ns, "--type", "json", "-p",
                           json.dumps([{"op": "add", "path": "/spec/ingress/0/ports/-",
                                        "value": {"protocol": "TCP", "port": 22}}])),
        lambda cluster, ns: _ingress_ports(cluster, ns) == [8069, 8072],
        "NetworkPolicy {ns}/allow-ingress-controller was changed at spec.ingress[0].ports; restored",
        "NetworkPolicy modified",
    ),
    "widen-default-deny": (
        "NetworkPolicy",
        lambda ns: kubectl("patch", "networkpolicy", "default-deny", "-n", ns, "--type", "merge",
                           "-p", '{"spec":{"ingress":[{}],"egress":[{}]}}'),
        lambda cluster, ns: "ingress" not in cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny",
                                                         ns)["spec"],
        "NetworkPolicy {ns}/default-deny was changed at spec.",
        "NetworkPolicy modified",
    ),
    "strip-psa-enforce-label": (
        "Namespace",
        lambda ns: kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce-"),
        lambda cluster, ns: cluster.get("v1", "Namespace", ns)["metadata"]["labels"].get(
            "pod-security.kubernetes.io/enforce") == "restricted",
        "Namespace {ns} was changed at metadata.labels.pod-security.kubernetes.io/enforce; restored",
        "Namespace modified",
    ),
    "raise-quota": (
        "ResourceQuota",
        lambda ns: kubectl("patch", "resourcequota", "tenant-quota", "-n", ns, "--type", "merge",
                           "-p", '{"spec":{"hard":{"pods":"999","limits.memory":"1Ti"}}}'),
        lambda cluster, ns: cluster.get("v1", "ResourceQuota", "tenant-quota", ns)["spec"]["hard"]["pods"] == "30"
        and cluster.get("v1", "ResourceQuota", "tenant-quota", ns)["spec"]["hard"]["limits.memory"] == "8Gi",
        "ResourceQuota {ns}/tenant-quota was changed at spec.hard",
        "ResourceQuota modified",
    ),
}  # fmt: skip


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_drift_is_repaired_counted_and_reported(cluster, operator, settled, breakage: str) -> None:
    name, ns = settled
    kind, break_it, repaired, message, trigger = BREAKAGES[breakage]
    before = operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind=kind) or 0
    break_it(ns)
    wait_for(f"{breakage} to be repaired", lambda: repaired(cluster, ns), timeout=10, interval=0.1)
    wait_for("the repair to be counted",
             lambda: (operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind=kind) or 0) > before,
             timeout=10)  # fmt: skip
    expected = message.format(ns=ns)
    wait_for("a DriftRepaired event",
             lambda: any(e["reason"] == "DriftRepaired" and e["message"].startswith(expected)
                         for e in events_for(name)), timeout=10)  # fmt: skip
    tenant = wait_ready(cluster, name)
    assert tenant["status"]["score"] == 100
    # The watch, not only the periodic re-check, saw it: a dead watch would hide behind the re-check.
    assert trigger in operator.triggers(name)


def test_deleted_namespace_children_come_back_on_recheck(cluster, operator, settled) -> None:
    """Deleting several children at once (a burst of watch events) still ends fully repaired."""
    name, ns = settled
    kubectl("delete", "networkpolicy", "--all", "-n", ns)
    kubectl("delete", "limitrange,resourcequota", "--all", "-n", ns)
    wait_for("all policies back",
             lambda: len(cluster.list("networking.k8s.io/v1", "NetworkPolicy", ns)) == 3
             and cluster.get("v1", "LimitRange", "tenant-limits", ns) is not None
             and cluster.get("v1", "ResourceQuota", "tenant-quota", ns) is not None, timeout=10)  # fmt: skip


def control(cluster, name: str, cid: str) -> dict:
    return next(c for c in cluster.get_tenant(name)["status"]["controls"] if c["id"] == cid)


def test_a_foreign_policy_that_opens_the_namespace_fails_the_allow_control(cluster, operator, settled) -> None:
    name, ns = settled
    foreign = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "zz-allow-everything", "namespace": ns},
        "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]},
    }
    assert apply(foreign).returncode == 0
    failing = wait_for("ISO-NETPOL-ALLOW to fail", lambda: (c := control(cluster, name, "ISO-NETPOL-ALLOW"))[
        "status"] == "Fail" and c, timeout=10)  # fmt: skip
    assert f"NetworkPolicy {ns}/zz-allow-everything is not managed by the operator" in failing["message"]
    # Not ours, so not deleted; removing it restores the verdict.
    assert cluster.get("networking.k8s.io/v1", "NetworkPolicy", "zz-allow-everything", ns) is not None
    kubectl("delete", "networkpolicy", "zz-allow-everything", "-n", ns)
    wait_for("ISO-NETPOL-ALLOW to pass", lambda: control(cluster, name, "ISO-NETPOL-ALLOW")["status"] == "Pass",
             timeout=10)  # fmt: skip


def test_a_deleted_namespace_is_recreated_and_reported(cluster, operator) -> None:
    name = unique("nsgone")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, name)
    old_uid = cluster.get("v1", "Namespace", ns)["metadata"]["uid"]
    kubectl("delete", "namespace", ns, "--wait=false")
    wait_for("a new namespace", lambda: (n := cluster.get("v1", "Namespace", ns)) and n["metadata"]["uid"] != old_uid
             and n["status"]["phase"] == "Active", timeout=90)  # fmt: skip
    wait_for("the children back", lambda: cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns),
             timeout=10)  # fmt: skip
    assert (operator.sample("odoo_tenant_drift_repairs_total", tenant=name, kind="Namespace") or 0) >= 1
    assert any(e["reason"] == "DriftRepaired" and e["message"].startswith(f"Namespace {ns} was deleted")
               for e in events_for(name))  # fmt: skip
    delete_tenant(name)
