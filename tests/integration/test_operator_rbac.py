"""The operator works with exactly the permissions deploy/base grants it.

Real: the ServiceAccount, ClusterRole and binding from deploy/base applied to the API server,
a token issued for that ServiceAccount by the TokenRequest API, and the operator process
running with that token instead of the admin certificate. The session's admin-credentialed
operator is stopped meanwhile so only the least-privileged one acts.
"""

from __future__ import annotations

import yaml

from conftest import (
    KUBECONFIG,
    ROOT,
    OperatorProcess,
    apply,
    condition,
    delete_tenant,
    kubectl,
    tenant_manifest,
    unique,
    wait_for,
    wait_ready,
)


def service_account_kubeconfig(path) -> None:
    rendered = kubectl("kustomize", str(ROOT / "deploy" / "base")).stdout
    for doc in yaml.safe_load_all(rendered):
        if doc["kind"] in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"):
            assert apply(doc, "--server-side", "--force-conflicts").returncode == 0
    token = kubectl("create", "token", "odoo-tenant-operator", "-n", "odoo-tenant-operator", "--duration=1h").stdout
    admin = yaml.safe_load(KUBECONFIG.read_text())
    admin["users"] = [{"name": "operator", "user": {"token": token.strip()}}]
    admin["contexts"][0]["context"]["user"] = "operator"
    path.write_text(yaml.safe_dump(admin))


def test_operator_runs_with_its_deployed_rbac(cluster, operator, tmp_path) -> None:
    kubeconfig = tmp_path / "operator.kubeconfig"
    service_account_kubeconfig(kubeconfig)
    least = OperatorProcess(tmp_path, recheck_interval=3.0, kubeconfig=kubeconfig)
    operator.stop()
    try:
        # It must be able to create and repair the tenant-admin role itself.
        kubectl("delete", "clusterrole", "odoo-tenant-admin", "--ignore-not-found")
        least.start()
        wait_for("the tenant-admin role", lambda: cluster.get("rbac.authorization.k8s.io/v1", "ClusterRole",
                                                            "odoo-tenant-admin"))  # fmt: skip
        name = unique("rbac-op")
        ns = f"odoo-{name}"
        spec = {"target": {"s3": {"endpoint": "https://s3.example.com", "bucket": "shop", "credentialsSecret": "s3",
                                  "egressCIDR": "198.51.100.7/32"}},
                "database": {"secretName": "db"}, "filestoreClaim": "filestore"}  # fmt: skip
        assert apply(tenant_manifest(name, ns, access={"adminUsers": ["alice"]}, backup=spec)).returncode == 0
        tenant = wait_ready(cluster, name)
        assert condition(tenant, "Degraded")["status"] == "False", condition(tenant, "Degraded")
        kubectl("delete", "networkpolicy", "default-deny", "-n", ns)
        wait_for("the repair", lambda: cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns))
        # Dropping the backup spec prunes the CronJobs and the backup policy.
        assert apply(tenant_manifest(name, ns, access={"adminUsers": ["alice"]})).returncode == 0
        wait_for("the CronJobs to be pruned", lambda: not cluster.list("batch/v1", "CronJob", ns))
        assert condition(wait_ready(cluster, name), "Degraded")["status"] == "False"
        delete_tenant(name)  # Retain: strips owner references with the same permissions
        assert not cluster.get("v1", "Namespace", ns)["metadata"].get("ownerReferences")
        kubectl("delete", "namespace", ns, "--wait=false")
        log = least.log_path.read_text()
        assert "forbidden" not in log.lower(), [line for line in log.splitlines() if "orbidden" in line][:3]
    finally:
        least.stop()
        operator.start()
