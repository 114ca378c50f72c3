"""Idempotence: a settled tenant is never rewritten, by re-checks or by an operator restart.

Real: the API server's resourceVersions are the evidence; the operator process is restarted
for real. The re-check interval in the test session is 3 seconds.
"""

from __future__ import annotations

import time

from conftest import apply, delete_tenant, tenant_manifest, unique, wait_for, wait_ready


def snapshot(cluster, ns: str) -> dict[str, str]:
    """resourceVersion of the namespace and of every object the operator manages in it."""
    versions = {"Namespace": cluster.get("v1", "Namespace", ns)["metadata"]["resourceVersion"]}
    for api_version, kind in [("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "ResourceQuota"),
                              ("v1", "LimitRange"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                              ("v1", "ServiceAccount")]:  # fmt: skip
        for item in cluster.list(api_version, kind, ns):
            versions[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return versions


def reconciles(operator) -> float:
    return operator.sample("odoo_operator_reconcile_duration_seconds_count") or 0


def wait_for_rechecks(operator, count: int = 2) -> None:
    start = reconciles(operator)
    started = time.monotonic()
    wait_for(f"{count} more reconciles", lambda: reconciles(operator) >= start + count, timeout=30)
    # The timer fires per tenant; past one full interval every tenant has been re-checked.
    time.sleep(max(0.0, operator.recheck_interval * 1.5 - (time.monotonic() - started)))


def test_settled_tenant_is_not_rewritten(cluster, operator) -> None:
    name = unique("steady")
    ns = f"odoo-{name}"
    manifest = tenant_manifest(name, ns, deletionPolicy="Delete", access={"adminUsers": ["alice"]},
                               isolation={"namespace": ns, "networkPolicy": {
                                   "postgres": {"podLabels": {"app": "pg"}, "port": 5432},
                                   "egress": [{"name": "payments", "cidr": "203.0.113.0/24"}]}})  # fmt: skip
    assert apply(manifest).returncode == 0
    wait_ready(cluster, name)
    wait_for_rechecks(operator)
    before = snapshot(cluster, ns)
    status_before = cluster.get_tenant(name)["status"]
    assert len(before) >= 9

    wait_for_rechecks(operator)
    assert snapshot(cluster, ns) == before, "a forced re-check rewrote a settled child"
    assert cluster.get_tenant(name)["status"] == status_before, "a re-check rewrote an unchanged status"

    operator.restart()
    wait_for_rechecks(operator)
    assert snapshot(cluster, ns) == before, "an operator restart rewrote a settled child"
    assert cluster.get_tenant(name)["status"] == status_before
    delete_tenant(name)
