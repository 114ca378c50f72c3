"""Access family: the restricted tenant-admin ClusterRole, the RoleBinding of the tenant's
admins to it, and the default ServiceAccount without token automount. Pure builders.

The role lets a tenant admin run Odoo (workloads, services, config, secrets, volumes, jobs)
but grants nothing that could weaken the controls: no NetworkPolicies, quotas, limit ranges,
RBAC objects or the Namespace itself, beyond reading them.
"""

from __future__ import annotations

from typing import Any

from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.common import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    Manifest,
    TenantRef,
    child_metadata,
)

TENANT_ADMIN_ROLE = "odoo-tenant-admin"
TENANT_ADMIN_BINDING = "tenant-admins"
# What a binding in a tenant namespace must never grant: writing the fences themselves.
FENCES = {
    "networking.k8s.io": {"networkpolicies"},
    "": {"resourcequotas", "limitranges", "namespaces"},
    "rbac.authorization.k8s.io": {"rolebindings", "roles"},
}
_WRITING = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "*"}

_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
_READ = ["get", "list", "watch"]


def build_tenant_admin_cluster_role() -> Manifest:
    rules: list[dict[str, Any]] = [
        {
            "apiGroups": [""],
            "resources": [
                "pods", "pods/log", "pods/exec", "pods/portforward", "services", "endpoints", "configmaps",
                "secrets", "persistentvolumeclaims", "serviceaccounts",
            ],
            "verbs": _WRITE,
        },
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "deployments/scale", "statefulsets", "statefulsets/scale", "replicasets"],
            "verbs": _WRITE,
        },
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _WRITE},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WRITE},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE},
        # Visible, so admins can see the fences, but not editable.
        {
            "apiGroups": [""],
            "resources": ["resourcequotas", "limitranges", "events"],
            "verbs": _READ,
        },
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
    ]  # fmt: skip
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": TENANT_ADMIN_ROLE,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        },
        "rules": rules,
    }


def fence_writes(rules: list[dict[str, Any]]) -> list[str]:
    """The fence resources these RBAC rules let someone change, as 'group/resource' strings."""
    found = []
    for rule in rules or []:
        if not _WRITING & set(rule.get("verbs") or []):
            continue
        resources = set(rule.get("resources") or [])
        for group in rule.get("apiGroups") or []:
            for fence_group, fence_resources in FENCES.items():
                if group not in ("*", fence_group):
                    continue
                hit = fence_resources if "*" in resources else fence_resources & resources
                found += [f"{fence_group or 'core'}/{r}" for r in sorted(hit)]
    return sorted(set(found))


def admin_subjects(spec: api.OdooTenantSpec) -> list[dict[str, str]]:
    users = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": u} for u in spec.access.adminUsers]
    groups = [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g} for g in spec.access.adminGroups]
    return users + groups


def build_tenant_admin_binding(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": child_metadata(TENANT_ADMIN_BINDING, tenant, spec.isolation.namespace, owned=owned),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": TENANT_ADMIN_ROLE,
        },
        "subjects": admin_subjects(spec),
    }


def build_default_service_account(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": child_metadata("default", tenant, spec.isolation.namespace, owned=owned),
        # Odoo needs no API access; a mounted token would only help an attacker.
        "automountServiceAccountToken": False,
    }
