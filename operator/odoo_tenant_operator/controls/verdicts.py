"""Control verdicts and the tenant status, as pure functions of desired and observed state.

Each `judge_*` takes what the builders declare and what the API server returned and says
Pass, Fail or Exempt with a message a person can act on. `build_status` turns verdicts and
reconcile problems into the status block, keeping lastTransitionTime when nothing changed so
an unchanged tenant produces an identical status (and so no write).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.access import TENANT_ADMIN_BINDING, fence_writes
from odoo_tenant_operator.controls.common import (
    NODE_SELECTOR_ANNOTATION,
    TENANT_LABEL,
    Manifest,
    TenantRef,
    describe_drift,
    first_difference,
    object_key,
)
from odoo_tenant_operator.controls.isolation import PSA_MODES

Status = api.ControlStatus


@dataclass(frozen=True)
class Verdict:
    id: str
    family: str
    status: Status
    reason: str
    message: str


@dataclass(frozen=True)
class Problem:
    """Something that kept a reconcile step from finishing (reason is one CamelCase word)."""

    reason: str
    message: str


@dataclass(frozen=True)
class Observed:
    """What the API server returned for one tenant's children (None: does not exist)."""

    namespace: Manifest | None
    network_policies: dict[str, Manifest] = field(default_factory=dict)
    foreign_policies: Sequence[Manifest] = ()
    quota: Manifest | None = None
    limit_range: Manifest | None = None
    role_bindings: Sequence[Manifest] = ()
    roles: Mapping[tuple[str, str], Manifest] = field(default_factory=dict)
    service_account: Manifest | None = None


def _verdict(cid: str, family: str, failures: Sequence[str], ok: str, fail_reason: str) -> Verdict:
    if failures:
        return Verdict(cid, family, Status.Fail, fail_reason, "; ".join(failures))
    return Verdict(cid, family, Status.Pass, "AsDeclared", ok)


def _drift_messages(desired: Iterable[Manifest], observed: dict[str, Manifest]) -> list[str]:
    out = []
    for manifest in desired:
        drift = describe_drift(manifest, observed.get(manifest["metadata"]["name"]))
        if drift:
            out.append(f"{object_key(manifest)} {drift}")
    return out


def judge_namespace(desired: Manifest, observed: Manifest | None, tenant: TenantRef) -> Verdict:
    name = desired["metadata"]["name"]
    failures = []
    if observed is None:
        failures.append(f"namespace {name} does not exist")
    else:
        labels = observed["metadata"].get("labels") or {}
        if labels.get(TENANT_LABEL) != tenant.name:
            failures.append(f"namespace {name} is not labelled {TENANT_LABEL}={tenant.name}")
        owners = observed["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == tenant.uid for o in owners):
            failures.append(f"namespace {name} is not owned by tenant {tenant.name}")
    return _verdict(
        "ISO-NS", "isolation", failures, f"namespace {name} exists, labelled and owned", "NamespaceNotOwned"
    )


def judge_pod_security(desired: Manifest, observed: Manifest | None) -> Verdict:
    wanted = {k: v for k, v in desired["metadata"]["labels"].items() if k.startswith("pod-security.kubernetes.io/")}
    labels = (observed or {}).get("metadata", {}).get("labels") or {}
    failures = [
        f"label {key} is {labels.get(key)!r}, want {value!r}"
        for key, value in wanted.items()
        if labels.get(key) != value
    ]
    level = wanted.get("pod-security.kubernetes.io/enforce")
    modes = "/".join(PSA_MODES)
    return _verdict("ISO-PSA", "isolation", failures, f"{modes} at {level}", "PodSecurityLabelsDrifted")


def judge_default_deny(desired: Manifest, observed: dict[str, Manifest]) -> Verdict:
    return _verdict(
        "ISO-NETPOL-DENY", "isolation", _drift_messages([desired], observed),
        "default-deny ingress and egress in place", "DefaultDenyMissing",
    )  # fmt: skip


def judge_allow_policies(
    desired: Sequence[Manifest], observed: dict[str, Manifest], foreign: Sequence[Manifest] = ()
) -> Verdict:
    """The operator's allow policies match the spec, and no other policy allows more.

    NetworkPolicies only ever add allowed traffic, so any policy the operator did not make
    widens what the spec declares; it is reported, not deleted (it is not ours).
    """
    names = ", ".join(m["metadata"]["name"] for m in desired)
    failures = _drift_messages(desired, observed) + [
        f"NetworkPolicy {p['metadata'].get('namespace')}/{p['metadata']['name']} is not managed by the operator "
        "and allows traffic the spec does not declare"
        for p in foreign
    ]
    return _verdict(
        "ISO-NETPOL-ALLOW", "isolation", failures, f"allow policies match the spec ({names})", "AllowPoliciesDrifted"
    )


def judge_quota(
    desired_quota: Manifest, desired_limits: Manifest, quota: Manifest | None, limit_range: Manifest | None
) -> Verdict:
    failures = []
    for manifest, seen in ((desired_quota, quota), (desired_limits, limit_range)):
        drift = describe_drift(manifest, seen)
        if drift:
            failures.append(f"{object_key(manifest)} {drift}")
    return _verdict("ISO-QUOTA", "isolation", failures, "ResourceQuota and LimitRange match the spec", "QuotaDrifted")


def judge_nodes(spec: api.OdooTenantSpec, observed: Manifest | None) -> Verdict:
    if spec.tier != api.Tier.dedicated:
        return Verdict("ISO-NODES", "isolation", Status.Exempt, "SharedTier", "shared tier runs on the shared pool")
    want = f"{api.GROUP}/pool={spec.isolation.nodePool}"
    have = ((observed or {}).get("metadata", {}).get("annotations") or {}).get(NODE_SELECTOR_ANNOTATION)
    failures = [] if have == want else [f"namespace node selector is {have!r}, want {want!r}"]
    return _verdict(
        "ISO-NODES",
        "isolation",
        failures,
        f"pods pinned to node pool {spec.isolation.nodePool}",
        "NodePoolNotPinned",
    )


def judge_rbac(desired: Manifest, bindings: Sequence[Manifest], roles: Mapping[tuple[str, str], Manifest]) -> Verdict:
    """Our binding is as declared, and no other binding in the namespace lets anyone change a fence.

    `roles` maps (kind, name) of each binding's roleRef to the Role or ClusterRole read from the
    server; a binding to a role that cannot be read is reported rather than assumed harmless.
    """
    failures = []
    ours = next((b for b in bindings if b["metadata"]["name"] == TENANT_ADMIN_BINDING), None)
    drift = describe_drift(desired, ours)
    if drift:
        failures.append(f"{object_key(desired)} {drift}")
    for binding in bindings:
        name = binding["metadata"]["name"]
        if name == TENANT_ADMIN_BINDING:
            continue
        ref = binding.get("roleRef") or {}
        role = roles.get((ref.get("kind", ""), ref.get("name", "")))
        if role is None:
            failures.append(f"RoleBinding {name} refers to {ref.get('kind')} {ref.get('name')}, which cannot be read")
            continue
        writes = fence_writes(role.get("rules") or [])
        if writes:
            failures.append(f"RoleBinding {name} grants {ref.get('kind')} {ref.get('name')}, "
                            f"which can change {', '.join(writes)}")  # fmt: skip
    return _verdict("IAM-RBAC", "access", failures, "no binding in the namespace can change its fences", "RbacTooBroad")


def judge_service_account(observed: Manifest | None, namespace: str) -> Verdict:
    automount = (observed or {}).get("automountServiceAccountToken")
    failures = (
        []
        if automount is False
        else [f"default ServiceAccount in {namespace} automounts its token (automountServiceAccountToken={automount})"]
    )
    return _verdict(
        "IAM-SA",
        "access",
        failures,
        "default ServiceAccount does not automount its token",
        "TokenAutomounted",
    )


def score(verdicts: Sequence[Verdict]) -> int:
    """Share of judged controls that pass; Exempt and Unknown (no evidence yet) do not count."""
    judged = [v for v in verdicts if v.status in (Status.Pass, Status.Fail)]
    if not judged:
        return 100
    passing = sum(1 for v in judged if v.status == Status.Pass)
    return round(100 * passing / len(judged))


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _carry_transition(entry: dict[str, Any], previous: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    keep = previous is not None and previous.get("status") == entry["status"]
    entry["lastTransitionTime"] = previous["lastTransitionTime"] if keep and previous else _timestamp(now)
    return entry


def build_conditions(verdicts: Sequence[Verdict], problems: Sequence[Problem], generation: int) -> list[dict[str, Any]]:
    """Ready, Compliant and Degraded without timestamps (build_status adds them)."""
    failing = [v for v in verdicts if v.status == Status.Fail]
    if problems:
        ready = ("False", problems[0].reason, "; ".join(p.message for p in problems))
    else:
        ready = ("True", "Reconciled", "all children applied")
    if failing:
        compliant = ("False", "ControlsFailing", "; ".join(f"{v.id}: {v.message}" for v in failing))
    elif problems:
        compliant = ("Unknown", "NotReconciled", "controls cannot be judged until the tenant reconciles")
    elif unknown := [v for v in verdicts if v.status == Status.Unknown]:
        compliant = ("Unknown", "AwaitingEvidence", "; ".join(f"{v.id}: {v.message}" for v in unknown))
    else:
        compliant = ("True", "AllControlsPass", f"{len(verdicts)} controls pass or are exempt")
    if problems or failing:
        degraded = (
            "True",
            problems[0].reason if problems else "ControlsFailing",
            ready[2] if problems else compliant[2],
        )
    else:
        degraded = ("False", "Healthy", "nothing is failing")
    return [
        {"type": kind, "status": s, "reason": r, "message": m, "observedGeneration": generation}
        for kind, (s, r, m) in (("Ready", ready), ("Compliant", compliant), ("Degraded", degraded))
    ]


def build_status(
    previous: dict[str, Any],
    verdicts: Sequence[Verdict],
    problems: Sequence[Problem],
    *,
    generation: int,
    namespace: str | None,
    now: datetime,
) -> dict[str, Any]:
    old_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    old_controls = {c.get("id"): c for c in previous.get("controls") or []}
    conditions = [
        _carry_transition(c, old_conditions.get(c["type"]), now)
        for c in build_conditions(verdicts, problems, generation)
    ]
    controls = [
        _carry_transition(
            {
                "id": v.id,
                "family": v.family,
                "status": str(v.status),
                "reason": v.reason,
                "message": v.message,
            },
            old_controls.get(v.id),
            now,
        )
        for v in verdicts
    ]
    return {
        "observedGeneration": generation,
        "namespace": namespace,
        "score": score(verdicts),
        "conditions": conditions,
        "controls": controls,
    }


def status_changed(previous: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when writing `new` would change anything in `previous`."""
    return first_difference(new, previous) is not None
