"""A tenant applied to the real API server gets every child, status and metrics.

Real: kube-apiserver, etcd, kube-controller-manager and the operator process. Checked: each
child's content and owner reference, Ready/Compliant conditions, controls, printer columns
and the Prometheus series, then that the series go away when the tenant does.
"""

from __future__ import annotations

from conftest import (
    apply,
    condition,
    delete_tenant,
    kubectl,
    tenant_manifest,
    unique,
    wait_for,
    wait_ready,
)


def test_tenant_gets_every_child_status_and_metrics(cluster, operator) -> None:
    name = unique("shop")
    ns = f"odoo-{name}"
    manifest = tenant_manifest(
        name, ns, deletionPolicy="Delete", access={"adminUsers": ["alice"], "adminGroups": ["shop-ops"]},
        isolation={"namespace": ns, "networkPolicy": {
            "postgres": {"cidr": "10.20.0.10/32", "port": 5432},
            "egress": [{"name": "payments", "cidr": "203.0.113.0/24"}]}},
    )  # fmt: skip
    assert apply(manifest).returncode == 0
    tenant = wait_ready(cluster, name)
    uid = tenant["metadata"]["uid"]

    status = tenant["status"]
    assert status["namespace"] == ns
    assert status["score"] == 100
    assert condition(tenant, "Compliant")["status"] == "True"
    assert condition(tenant, "Degraded")["status"] == "False"
    assert {c["id"]: c["status"] for c in status["controls"]} == {
        "ISO-NS": "Pass", "ISO-PSA": "Pass", "ISO-NETPOL-DENY": "Pass", "ISO-NETPOL-ALLOW": "Pass",
        "ISO-QUOTA": "Pass", "ISO-NODES": "Exempt", "IAM-RBAC": "Pass", "IAM-SA": "Pass",
        "BKP-SCHEDULE": "Exempt", "BKP-RPO": "Exempt", "BKP-RESTORE": "Exempt",
    }  # fmt: skip

    def owned(obj: dict) -> bool:
        refs = obj["metadata"].get("ownerReferences") or []
        return [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in refs] == [
            ("OdooTenant", name, uid, True)
        ]

    namespace = cluster.get("v1", "Namespace", ns)
    assert owned(namespace)
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.37"
    assert labels["hosting.odoo-operator.io/tenant"] == name
    assert labels["hosting.odoo-operator.io/tier"] == "shared"

    policies = {p["metadata"]["name"]: p for p in cluster.list("networking.k8s.io/v1", "NetworkPolicy", ns)}
    assert set(policies) == {"default-deny", "allow-dns", "allow-ingress-controller", "allow-postgres",
                             "allow-integrations"}  # fmt: skip
    assert all(owned(p) for p in policies.values())
    assert policies["default-deny"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policies["default-deny"]["spec"]["podSelector"] == {}
    ingress = policies["allow-ingress-controller"]["spec"]["ingress"][0]
    assert [p["port"] for p in ingress["ports"]] == [8069, 8072]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}]
    assert policies["allow-postgres"]["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.20.0.10/32"}}]

    quota = cluster.get("v1", "ResourceQuota", "tenant-quota", ns)
    assert owned(quota)
    assert quota["spec"]["hard"]["limits.memory"] == "8Gi" and quota["spec"]["hard"]["pods"] == "30"
    limits = cluster.get("v1", "LimitRange", "tenant-limits", ns)
    assert owned(limits) and limits["spec"]["limits"][0]["max"] == {"cpu": "2", "memory": "4Gi"}
    binding = cluster.get("rbac.authorization.k8s.io/v1", "RoleBinding", "tenant-admins", ns)
    assert owned(binding) and binding["roleRef"]["name"] == "odoo-tenant-admin"
    assert {(s["kind"], s["name"]) for s in binding["subjects"]} == {("User", "alice"), ("Group", "shop-ops")}
    account = cluster.get("v1", "ServiceAccount", "default", ns)
    assert owned(account) and account["automountServiceAccountToken"] is False

    row = kubectl("get", "odootenant", name, "--no-headers").stdout.split()
    assert row[:6] == [name, "shared", ns, "True", "True", "100"]

    assert operator.sample("odoo_tenant_compliant", tenant=name) == 1
    assert operator.sample("odoo_tenant_compliance_score", tenant=name) == 100
    assert operator.sample("odoo_tenant_control_status", tenant=name, control="ISO-NETPOL-DENY") == 1
    assert operator.sample("odoo_tenant_control_status", tenant=name, control="ISO-NODES") == 2
    assert (operator.sample("odoo_operator_reconcile_duration_seconds_count") or 0) > 0

    delete_tenant(name)
    wait_for("the tenant's series to disappear",
             lambda: operator.sample("odoo_tenant_compliant", tenant=name) is None
             and operator.sample("odoo_tenant_control_status", tenant=name) is None)  # fmt: skip


def test_dedicated_tenant_is_pinned_to_its_node_pool(cluster, operator) -> None:
    name = unique("dedicated")
    ns = f"odoo-{name}"
    manifest = tenant_manifest(name, ns, tier="dedicated", deletionPolicy="Delete",
                               isolation={"namespace": ns, "nodePool": "pool-a"})  # fmt: skip
    assert apply(manifest).returncode == 0
    tenant = wait_ready(cluster, name)
    annotations = cluster.get("v1", "Namespace", ns)["metadata"]["annotations"]
    assert annotations["scheduler.alpha.kubernetes.io/node-selector"] == "hosting.odoo-operator.io/pool=pool-a"
    assert {c["id"]: c["status"] for c in tenant["status"]["controls"]}["ISO-NODES"] == "Pass"
    delete_tenant(name)


def test_spec_change_updates_children(cluster, operator) -> None:
    name = unique("grow")
    ns = f"odoo-{name}"
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_ready(cluster, name)
    shipping = {"egress": [{"name": "shipping", "cidr": "198.51.100.0/24"}]}
    grown = tenant_manifest(
        name, ns, deletionPolicy="Delete", isolation={"namespace": ns, "quota": {"cpu": "8"}, "networkPolicy": shipping}
    )
    assert apply(grown).returncode == 0
    wait_ready(cluster, name)
    assert cluster.get("v1", "ResourceQuota", "tenant-quota", ns)["spec"]["hard"]["requests.cpu"] == "8"
    assert cluster.get("networking.k8s.io/v1", "NetworkPolicy", "allow-integrations", ns) is not None
    # Dropping the integrations removes the policy the operator made for them.
    assert apply(tenant_manifest(name, ns, deletionPolicy="Delete")).returncode == 0
    wait_for(
        "allow-integrations to be pruned",
        lambda: cluster.get("networking.k8s.io/v1", "NetworkPolicy", "allow-integrations", ns) is None,
    )
    delete_tenant(name)
