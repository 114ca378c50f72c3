"""Control verdicts and status assembly from literal observed objects; no cluster involved."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from odoo_tenant_operator.api.v1alpha1 import ControlStatus, OdooTenantSpec
from odoo_tenant_operator.controls import access, isolation, ownership
from odoo_tenant_operator.controls import verdicts as judge
from odoo_tenant_operator.controls.common import TenantRef

TENANT = TenantRef("shop", "uid-1")
SPEC = OdooTenantSpec.model_validate(
    {"tier": "shared", "isolation": {"namespace": "odoo-shop"}, "access": {"adminUsers": ["alice"]}}
)
DEDICATED = OdooTenantSpec.model_validate(
    {"tier": "dedicated", "isolation": {"namespace": "odoo-shop", "nodePool": "pool-a"}}
)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


def served(manifest: dict) -> dict:
    """What the API server would return: the manifest plus server-set fields."""
    out = copy.deepcopy(manifest)
    out["metadata"].update({"uid": "server-uid", "resourceVersion": "7"})
    return out


def test_namespace_passes_when_labelled_and_owned() -> None:
    ns = isolation.build_namespace(SPEC, TENANT)
    assert judge.judge_namespace(ns, served(ns), TENANT).status == ControlStatus.Pass


def _unowned(ns: dict) -> dict:
    del ns["metadata"]["ownerReferences"]
    return ns


def _unlabelled(ns: dict) -> dict:
    del ns["metadata"]["labels"]["hosting.odoo-operator.io/tenant"]
    return ns


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ns: None, "namespace odoo-shop does not exist"),
        (_unowned, "namespace odoo-shop is not owned by tenant shop"),
        (_unlabelled, "namespace odoo-shop is not labelled hosting.odoo-operator.io/tenant=shop"),
    ],
)
def test_namespace_fails_with_a_reason(mutate, message: str) -> None:
    observed = mutate(served(isolation.build_namespace(SPEC, TENANT)))
    verdict = judge.judge_namespace(isolation.build_namespace(SPEC, TENANT), observed, TENANT)
    assert verdict.status == ControlStatus.Fail
    assert message in verdict.message


def test_pod_security_fails_on_a_missing_or_weakened_label() -> None:
    desired = isolation.build_namespace(SPEC, TENANT)
    observed = served(desired)
    del observed["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    observed["metadata"]["labels"]["pod-security.kubernetes.io/warn"] = "privileged"
    verdict = judge.judge_pod_security(desired, observed)
    assert verdict.status == ControlStatus.Fail
    assert "pod-security.kubernetes.io/enforce is None, want 'restricted'" in verdict.message
    assert "pod-security.kubernetes.io/warn is 'privileged'" in verdict.message
    assert judge.judge_pod_security(desired, served(desired)).status == ControlStatus.Pass


def test_default_deny_missing_or_weakened() -> None:
    desired = isolation.build_default_deny_policy(SPEC, TENANT)
    assert judge.judge_default_deny(desired, {}).message == "NetworkPolicy odoo-shop/default-deny missing"
    weakened = served(desired)
    weakened["spec"]["policyTypes"] = ["Ingress"]
    verdict = judge.judge_default_deny(desired, {"default-deny": weakened})
    assert verdict.status == ControlStatus.Fail
    assert verdict.message == "NetworkPolicy odoo-shop/default-deny changed at spec.policyTypes"
    assert judge.judge_default_deny(desired, {"default-deny": served(desired)}).status == ControlStatus.Pass


def test_allow_policies_fail_when_a_port_is_opened() -> None:
    desired = isolation.build_allow_policies(SPEC, TENANT)
    observed = {m["metadata"]["name"]: served(m) for m in desired}
    assert judge.judge_allow_policies(desired, observed).status == ControlStatus.Pass
    observed["allow-ingress-controller"]["spec"]["ingress"][0]["ports"].append({"protocol": "TCP", "port": 22})
    verdict = judge.judge_allow_policies(desired, observed)
    assert verdict.status == ControlStatus.Fail
    assert "allow-ingress-controller changed at spec.ingress[0].ports" in verdict.message


def test_allow_policies_fail_when_another_policy_opens_the_namespace() -> None:
    desired = isolation.build_allow_policies(SPEC, TENANT)
    observed = {m["metadata"]["name"]: served(m) for m in desired}
    foreign = {"metadata": {"name": "zz-allow-all", "namespace": "odoo-shop"}, "spec": {"ingress": [{}]}}
    verdict = judge.judge_allow_policies(desired, observed, [foreign])
    assert verdict.status == ControlStatus.Fail
    assert verdict.message == (
        "NetworkPolicy odoo-shop/zz-allow-all is not managed by the operator "
        "and allows traffic the spec does not declare"
    )


def test_quota_fails_when_raised_and_passes_when_normalised() -> None:
    quota, limits = isolation.build_resource_quota(SPEC, TENANT), isolation.build_limit_range(SPEC, TENANT)
    normalised = served(quota)
    normalised["spec"]["hard"]["limits.memory"] = "8192Mi"
    assert judge.judge_quota(quota, limits, normalised, served(limits)).status == ControlStatus.Pass
    raised = served(quota)
    raised["spec"]["hard"]["pods"] = "999"
    verdict = judge.judge_quota(quota, limits, raised, None)
    assert verdict.status == ControlStatus.Fail
    assert "tenant-quota changed at spec.hard.pods" in verdict.message
    assert "LimitRange odoo-shop/tenant-limits missing" in verdict.message


def test_nodes_exempt_for_shared_and_judged_for_dedicated() -> None:
    assert judge.judge_nodes(SPEC, None).status == ControlStatus.Exempt
    ns = isolation.build_namespace(DEDICATED, TENANT)
    assert judge.judge_nodes(DEDICATED, served(ns)).status == ControlStatus.Pass
    del ns["metadata"]["annotations"]
    verdict = judge.judge_nodes(DEDICATED, ns)
    assert verdict.status == ControlStatus.Fail
    assert "want 'hosting.odoo-operator.io/pool=pool-a'" in verdict.message


def _binding(name: str, kind: str, role: str) -> dict:
    return {"metadata": {"name": name}, "roleRef": {"kind": kind, "name": role},
            "subjects": [{"kind": "User", "name": "alice"}]}  # fmt: skip


ROLES = {
    ("ClusterRole", "view"): {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]},
    ("ClusterRole", "superpowers"): {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
    ("Role", "netpol-editor"): {"rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                                           "verbs": ["patch"]}]},
}  # fmt: skip


def test_rbac_passes_for_harmless_extra_bindings() -> None:
    ours = served(access.build_tenant_admin_binding(SPEC, TENANT))
    desired = access.build_tenant_admin_binding(SPEC, TENANT)
    assert judge.judge_rbac(desired, [ours], {}).status == ControlStatus.Pass
    assert judge.judge_rbac(desired, [ours, _binding("viewer", "ClusterRole", "view")], ROLES).status == "Pass"


def test_rbac_fails_on_bindings_that_can_change_the_fences() -> None:
    ours = served(access.build_tenant_admin_binding(SPEC, TENANT))
    bindings = [ours, _binding("all", "ClusterRole", "superpowers"), _binding("np", "Role", "netpol-editor"),
                _binding("ghost", "ClusterRole", "missing")]  # fmt: skip
    verdict = judge.judge_rbac(access.build_tenant_admin_binding(SPEC, TENANT), bindings, ROLES)
    assert verdict.status == ControlStatus.Fail
    assert "RoleBinding all grants ClusterRole superpowers, which can change core/limitranges, core/namespaces" in (
        verdict.message
    )
    assert "RoleBinding np grants Role netpol-editor, which can change networking.k8s.io/networkpolicies" in (
        verdict.message
    )
    assert "RoleBinding ghost refers to ClusterRole missing, which cannot be read" in verdict.message


def test_fence_writes_of_the_tenant_admin_role_is_empty() -> None:
    assert access.fence_writes(access.build_tenant_admin_cluster_role()["rules"]) == []


@pytest.mark.parametrize(("automount", "status"), [(False, "Pass"), (True, "Fail"), (None, "Fail")])
def test_service_account_automount(automount: bool | None, status: str) -> None:
    observed = {"metadata": {"name": "default"}}
    if automount is not None:
        observed["automountServiceAccountToken"] = automount
    assert judge.judge_service_account(observed, "odoo-shop").status == status


def _verdicts(*statuses: ControlStatus) -> list[judge.Verdict]:
    return [judge.Verdict(f"C-{i}", "isolation", s, "R", f"m{i}") for i, s in enumerate(statuses)]


def test_score_ignores_exempt_controls() -> None:
    P, F, E = ControlStatus.Pass, ControlStatus.Fail, ControlStatus.Exempt
    assert judge.score(_verdicts(P, P, P, E)) == 100
    assert judge.score(_verdicts(P, F, E)) == 50
    assert judge.score(_verdicts(P, P, F)) == 67
    assert judge.score(_verdicts(E)) == 100
    assert judge.score(_verdicts(P, ControlStatus.Unknown)) == 100
    assert judge.score(_verdicts(F, ControlStatus.Unknown)) == 0


def test_unknown_controls_leave_compliance_unknown() -> None:
    verdicts = [judge.Verdict("BKP-RPO", "backup", ControlStatus.Unknown, "AwaitingFirstRun", "no backup yet"),
                *_verdicts(ControlStatus.Pass)]  # fmt: skip
    conditions = {c["type"]: c for c in judge.build_conditions(verdicts, [], 1)}
    assert conditions["Compliant"]["status"] == "Unknown"
    assert conditions["Compliant"]["message"] == "BKP-RPO: no backup yet"
    assert conditions["Ready"]["status"] == "True" and conditions["Degraded"]["status"] == "False"


def test_status_conditions_for_a_healthy_tenant() -> None:
    status = judge.build_status({}, _verdicts(ControlStatus.Pass), [], generation=3, namespace="odoo-shop", now=NOW)
    assert status["observedGeneration"] == 3 and status["namespace"] == "odoo-shop" and status["score"] == 100
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"] == {"type": "Ready", "status": "True", "reason": "Reconciled",
                                   "message": "all children applied", "observedGeneration": 3,
                                   "lastTransitionTime": "2026-12-03T12:00:00Z"}  # fmt: skip
    assert conditions["Compliant"]["status"] == "True"
    assert conditions["Degraded"]["status"] == "False"


def test_status_conditions_for_a_conflict() -> None:
    problem = judge.Problem("NamespaceConflict", "namespace x is already owned by OdooTenant a")
    status = judge.build_status({}, _verdicts(ControlStatus.Fail), [problem], generation=1, namespace="x", now=NOW)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "NamespaceConflict")
    assert conditions["Ready"]["message"] == "namespace x is already owned by OdooTenant a"
    assert conditions["Compliant"]["status"] == "False"
    assert conditions["Degraded"]["status"] == "True"


def test_unchanged_status_keeps_transition_times_and_needs_no_write() -> None:
    first = judge.build_status({}, _verdicts(ControlStatus.Pass), [], generation=1, namespace="n", now=NOW)
    second = judge.build_status(first, _verdicts(ControlStatus.Pass), [], generation=1, namespace="n", now=LATER)
    assert second == first
    assert not judge.status_changed(first, second)
    third = judge.build_status(second, _verdicts(ControlStatus.Fail), [], generation=1, namespace="n", now=LATER)
    assert judge.status_changed(second, third)
    assert third["controls"][0]["lastTransitionTime"] == "2026-12-03T13:00:00Z"
    assert {c["type"]: c for c in third["conditions"]}["Ready"]["lastTransitionTime"] == "2026-12-03T12:00:00Z"


@pytest.mark.parametrize(
    ("observed", "conflict"),
    [
        (None, None),
        ({"metadata": {"name": "n", "ownerReferences": [{"kind": "OdooTenant", "uid": "uid-1", "name": "shop"}]}},
         None),
        ({"metadata": {"name": "n", "ownerReferences": [{"kind": "OdooTenant", "uid": "uid-2", "name": "other"}]}},
         "namespace n is already owned by OdooTenant other; choose another spec.isolation.namespace"),
        ({"metadata": {"name": "n", "labels": {"hosting.odoo-operator.io/tenant": "shop",
                                               "hosting.odoo-operator.io/orphaned": "true"}}}, None),
        ({"metadata": {"name": "n", "labels": {"hosting.odoo-operator.io/tenant": "old-shop",
                                               "hosting.odoo-operator.io/orphaned": "true"}}},
         "namespace n was retained from deleted OdooTenant old-shop and may hold its data; choose another "
         "spec.isolation.namespace, or label it hosting.odoo-operator.io/tenant=shop to take it over"),
        ({"metadata": {"name": "n"}},
         "namespace n already exists and is not managed by this operator; choose another "
         "spec.isolation.namespace, or label it hosting.odoo-operator.io/tenant=shop to adopt it"),
    ],
)  # fmt: skip
def test_namespace_conflict(observed: dict | None, conflict: str | None) -> None:
    assert ownership.namespace_conflict(observed, TENANT) == conflict
