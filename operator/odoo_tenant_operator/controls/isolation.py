"""Isolation family: the tenant namespace, its Pod Security labels, NetworkPolicies, quota
and limits, as pure builders from the validated spec.

Controls ISO-NS, ISO-PSA, ISO-NETPOL-DENY, ISO-NETPOL-ALLOW, ISO-QUOTA and ISO-NODES are judged
in controls/verdicts.py from what these builders declare and what the API server returns.
"""

from __future__ import annotations

from typing import Any

from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.common import (
    JOB_LABEL,
    NODE_POOL_LABEL,
    NODE_SELECTOR_ANNOTATION,
    TIER_LABEL,
    Manifest,
    TenantRef,
    child_metadata,
)

ODOO_HTTP_PORT = 8069
ODOO_LONGPOLLING_PORT = 8072
DEFAULT_DENY_POLICY = "default-deny"
QUOTA_NAME = "tenant-quota"
LIMIT_RANGE_NAME = "tenant-limits"
PSA_MODES = ("enforce", "audit", "warn")


def pod_security_labels(spec: api.PodSecurity) -> dict[str, str]:
    labels: dict[str, str] = {}
    for mode in PSA_MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = str(spec.level)
        labels[f"pod-security.kubernetes.io/{mode}-version"] = spec.version
    return labels


def build_namespace(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    meta = child_metadata(spec.isolation.namespace, tenant, owned=owned)
    meta["labels"].update({TIER_LABEL: str(spec.tier), **pod_security_labels(spec.isolation.podSecurity)})
    if spec.isolation.nodePool:
        # PodNodeSelector admission pins every pod of the namespace to the pool.
        meta["annotations"] = {NODE_SELECTOR_ANNOTATION: f"{NODE_POOL_LABEL}={spec.isolation.nodePool}"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _network_policy(name: str, namespace: str, tenant: TenantRef, spec: dict[str, Any], owned: bool) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(name, tenant, namespace, owned=owned),
        "spec": spec,
    }


def build_default_deny_policy(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    return _network_policy(
        DEFAULT_DENY_POLICY,
        spec.isolation.namespace,
        tenant,
        {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        owned,
    )


def _namespace_selector(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


# Odoo's own pods; backup and restore-test pods only get DNS, the database and their target.
NOT_JOB_PODS: dict[str, Any] = {"matchExpressions": [{"key": JOB_LABEL, "operator": "DoesNotExist"}]}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _data_service_peer(service: api.DataService, tenant_namespace: str) -> dict[str, Any]:
    if service.cidr:
        return {"ipBlock": {"cidr": service.cidr}}
    return {
        "namespaceSelector": _namespace_selector(service.namespace or tenant_namespace),
        "podSelector": {"matchLabels": dict(service.podLabels or {})},
    }


def build_allow_policies(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> list[Manifest]:
    """The allow rules on top of default-deny, one policy per purpose so each reads on its own."""
    ns = spec.isolation.namespace
    net = spec.isolation.networkPolicy
    policies = [
        _network_policy(
            "allow-dns",
            ns,
            tenant,
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": _namespace_selector("kube-system"),
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
            owned,
        ),
        _network_policy(
            "allow-ingress-controller",
            ns,
            tenant,
            {
                "podSelector": NOT_JOB_PODS,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"namespaceSelector": _namespace_selector(net.ingressControllerNamespace)}],
                        "ports": _tcp(ODOO_HTTP_PORT, ODOO_LONGPOLLING_PORT),
                    }
                ],
            },
            owned,
        ),
    ]
    for name, service in (("postgres", net.postgres), ("redis", net.redis)):
        if service is None:
            continue
        policies.append(
            _network_policy(
                f"allow-{name}",
                ns,
                tenant,
                {
                    # Backups need the database; nothing else needs to be reachable from them.
                    "podSelector": {} if name == "postgres" else NOT_JOB_PODS,
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [_data_service_peer(service, ns)], "ports": _tcp(service.port)}],
                },
                owned,
            )
        )
    if net.egress:
        policies.append(
            _network_policy(
                "allow-integrations",
                ns,
                tenant,
                {
                    "podSelector": NOT_JOB_PODS,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {"to": [{"ipBlock": {"cidr": rule.cidr}}], "ports": _tcp(*rule.ports)} for rule in net.egress
                    ],
                },
                owned,
            )
        )
    return policies


def build_resource_quota(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    quota = spec.isolation.quota
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": child_metadata(QUOTA_NAME, tenant, spec.isolation.namespace, owned=owned),
        "spec": {
            "hard": {
                "requests.cpu": quota.cpu,
                "limits.cpu": quota.cpu,
                "requests.memory": quota.memory,
                "limits.memory": quota.memory,
                "requests.storage": quota.storage,
                "pods": str(quota.pods),
                "persistentvolumeclaims": str(quota.persistentVolumeClaims),
            }
        },
    }


def build_limit_range(spec: api.OdooTenantSpec, tenant: TenantRef, *, owned: bool = True) -> Manifest:
    limits = spec.isolation.limits
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": child_metadata(LIMIT_RANGE_NAME, tenant, spec.isolation.namespace, owned=owned),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": limits.defaultCpu, "memory": limits.defaultMemory},
                    "defaultRequest": {
                        "cpu": limits.defaultRequestCpu,
                        "memory": limits.defaultRequestMemory,
                    },
                    "max": {"cpu": limits.maxCpu, "memory": limits.maxMemory},
                }
            ]
        },
    }
