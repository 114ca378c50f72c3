"""Manifest builders, compared against literal dicts. Nothing is faked: these are pure functions."""

from __future__ import annotations

import pytest

from odoo_tenant_operator.api.v1alpha1 import OdooTenantSpec
from odoo_tenant_operator.controls import access, isolation
from odoo_tenant_operator.controls.common import TenantRef

TENANT = TenantRef("shop", "uid-1")
OWNER = {
    "apiVersion": "hosting.odoo-operator.io/v1alpha1",
    "kind": "OdooTenant",
    "name": "shop",
    "uid": "uid-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
LABELS = {"app.kubernetes.io/managed-by": "odoo-tenant-operator", "hosting.odoo-operator.io/tenant": "shop"}


def spec(**overrides: object) -> OdooTenantSpec:
    raw: dict[str, object] = {"tier": "shared", "isolation": {"namespace": "odoo-shop"}}
    raw.update(overrides)
    return OdooTenantSpec.model_validate(raw)


def meta(name: str, namespace: str | None = "odoo-shop") -> dict[str, object]:
    out: dict[str, object] = {"name": name, "labels": dict(LABELS), "ownerReferences": [OWNER]}
    if namespace:
        out["namespace"] = namespace
    return out


def test_namespace_carries_tenant_tier_and_pinned_pod_security_labels() -> None:
    assert isolation.build_namespace(spec(), TENANT) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "odoo-shop",
            "labels": {
                **LABELS,
                "hosting.odoo-operator.io/tier": "shared",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "v1.37",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/audit-version": "v1.37",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/warn-version": "v1.37",
            },
            "ownerReferences": [OWNER],
        },
    }


def test_dedicated_namespace_pins_pods_to_its_node_pool() -> None:
    dedicated = spec(
        tier="dedicated",
        isolation={
            "namespace": "odoo-shop",
            "nodePool": "shop-pool",
            "podSecurity": {"level": "baseline", "version": "v1.36"},
        },
    )
    ns = isolation.build_namespace(dedicated, TENANT)
    assert ns["metadata"]["annotations"] == {
        "scheduler.alpha.kubernetes.io/node-selector": "hosting.odoo-operator.io/pool=shop-pool"
    }
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/warn-version"] == "v1.36"
    assert ns["metadata"]["labels"]["hosting.odoo-operator.io/tier"] == "dedicated"


def test_orphaned_children_lose_the_owner_reference_and_say_so() -> None:
    ns = isolation.build_namespace(spec(), TENANT, owned=False)
    assert "ownerReferences" not in ns["metadata"]
    assert ns["metadata"]["labels"]["hosting.odoo-operator.io/orphaned"] == "true"


def test_default_deny_selects_every_pod_both_ways() -> None:
    assert isolation.build_default_deny_policy(spec(), TENANT) == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def test_minimal_spec_allows_only_dns_and_the_ingress_controller() -> None:
    dns, ingress = isolation.build_allow_policies(spec(), TENANT)
    assert dns == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("allow-dns"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        },
    }  # fmt: skip
    assert ingress["spec"] == {
        "podSelector": {"matchExpressions": [{"key": "hosting.odoo-operator.io/job", "operator": "DoesNotExist"}]},
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}],
            "ports": [{"protocol": "TCP", "port": 8069}, {"protocol": "TCP", "port": 8072}],
        }],
    }  # fmt: skip


def test_data_services_and_integrations_get_one_policy_each() -> None:
    full = spec(isolation={"namespace": "odoo-shop", "networkPolicy": {
        "ingressControllerNamespace": "edge",
        "postgres": {"cidr": "10.0.0.5/32", "port": 5432},
        "redis": {"podLabels": {"app": "redis"}, "port": 6379},
        "egress": [{"name": "payments", "cidr": "203.0.113.0/24"},
                   {"name": "shipping", "cidr": "198.51.100.0/24", "ports": [443, 8443]}],
    }})  # fmt: skip
    policies = {p["metadata"]["name"]: p["spec"] for p in isolation.build_allow_policies(full, TENANT)}
    assert list(policies) == [
        "allow-dns",
        "allow-ingress-controller",
        "allow-postgres",
        "allow-redis",
        "allow-integrations",
    ]
    assert policies["allow-ingress-controller"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}}
    ]
    assert policies["allow-postgres"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    ]
    assert policies["allow-redis"]["egress"] == [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "odoo-shop"}},
                "podSelector": {"matchLabels": {"app": "redis"}}}],
        "ports": [{"protocol": "TCP", "port": 6379}],
    }]  # fmt: skip
    assert policies["allow-integrations"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
         "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8443}]},
    ]  # fmt: skip


def test_quota_and_limits_come_from_the_spec() -> None:
    custom = spec(
        isolation={
            "namespace": "odoo-shop",
            "quota": {"cpu": "6", "memory": "12Gi", "pods": 40},
            "limits": {"maxCpu": "3"},
        }
    )
    assert isolation.build_resource_quota(custom, TENANT) == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta("tenant-quota"),
        "spec": {"hard": {
            "requests.cpu": "6", "limits.cpu": "6", "requests.memory": "12Gi", "limits.memory": "12Gi",
            "requests.storage": "50Gi", "pods": "40", "persistentvolumeclaims": "10",
        }},
    }  # fmt: skip
    assert isolation.build_limit_range(custom, TENANT)["spec"] == {"limits": [{
        "type": "Container",
        "default": {"cpu": "500m", "memory": "1Gi"},
        "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
        "max": {"cpu": "3", "memory": "4Gi"},
    }]}  # fmt: skip


def test_admins_are_bound_to_the_restricted_role() -> None:
    with_admins = spec(access={"adminUsers": ["alice"], "adminGroups": ["shop-ops"]})
    assert access.build_tenant_admin_binding(with_admins, TENANT) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta("tenant-admins"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "odoo-tenant-admin"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "shop-ops"},
        ],
    }


def test_default_service_account_does_not_automount() -> None:
    assert access.build_default_service_account(spec(), TENANT) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta("default"),
        "automountServiceAccountToken": False,
    }


@pytest.mark.parametrize(
    ("group", "resource"),
    [
        ("networking.k8s.io", "networkpolicies"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "roles"),
        ("", "namespaces"),
    ],
)
def test_tenant_admin_role_cannot_change_the_fences(group: str, resource: str) -> None:
    rules = access.build_tenant_admin_cluster_role()["rules"]
    verbs = {v for r in rules if group in r["apiGroups"] and resource in r["resources"] for v in r["verbs"]}
    assert verbs <= {"get", "list", "watch"}, f"{resource} must be read-only at most, got {sorted(verbs)}"
    assert not any("*" in r["resources"] or "*" in r["verbs"] or "*" in r["apiGroups"] for r in rules)


def test_tenant_admin_role_can_run_odoo() -> None:
    rules = access.build_tenant_admin_cluster_role()["rules"]
    writable = {res for r in rules if "create" in r["verbs"] for res in r["resources"]}
    assert {
        "deployments",
        "statefulsets",
        "services",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "cronjobs",
    } <= writable
