"""The reconcile sequence of one tenant: ordered, idempotent ensure steps, then judgement.

Reconcile is by state, not by event: create, update, resume, a watched child's change and
the periodic re-check all call `reconcile_tenant`, which reads each child, writes only what
differs from the builders' output, judges the controls from what the server returned and
writes status once, only if it changed. A step that fails becomes a Problem in the Ready
condition; the other steps still run, so one broken part never hides the state of the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from odoo_tenant_operator import metrics
from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls import access, backup, isolation, ownership
from odoo_tenant_operator.controls import verdicts as judge
from odoo_tenant_operator.controls.common import (
    JOB_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    STRICT_FIELDS,
    TENANT_LABEL,
    Manifest,
    TenantRef,
    describe_drift,
    immutable_change,
    object_key,
)
from odoo_tenant_operator.k8s.client import ApiError, Cluster

log = structlog.get_logger("odoo_tenant_operator.reconcile")

# Only one tenant at a time may claim a namespace, or two could both see it free.
_NAMESPACE_CLAIM = threading.Lock()

# The last spec that validated, kept on the tenant itself so that it survives a restart: it stays
# enforced while a newer spec does not validate.
LAST_VALID_SPEC_ANNOTATION = f"{api.GROUP}/last-valid-spec"

# Which tenant each reconciled namespace belongs to, so watch events on objects the operator does
# not own (a NetworkPolicy or RoleBinding someone added, a namespace stripped of its owner
# reference) still reach the right tenant at once instead of at the next re-check.
NAMESPACE_TENANTS: dict[str, str] = {}


@dataclass
class _TenantGate:
    lock: threading.Lock = field(default_factory=threading.Lock)
    again: bool = False


_gates: dict[str, _TenantGate] = {}
_gates_lock = threading.Lock()


def _gate(name: str) -> _TenantGate:
    with _gates_lock:
        return _gates.setdefault(name, _TenantGate())


def run_coalesced(name: str, work: Callable[[], None]) -> None:
    """Run `work` for a tenant unless a run is in progress; then ask that run to go once more.

    A burst of child events (a namespace deletion touches every child) costs one or two
    reconciles instead of one per event.
    """
    gate = _gate(name)
    with _gates_lock:
        if gate.lock.locked():
            gate.again = True
            return
        gate.lock.acquire()
    try:
        while True:
            with _gates_lock:
                gate.again = False
            work()
            with _gates_lock:
                if not gate.again:
                    break
    finally:
        gate.lock.release()


@contextmanager
def _step(tenant: str, name: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    log.info("reconcile step", tenant=tenant, step=name, duration_ms=round((time.monotonic() - start) * 1000, 1))


class _Run:
    """State of one reconcile: what was observed and what went wrong."""

    def __init__(self, cluster: Cluster, body: Manifest, spec: api.OdooTenantSpec, settled: bool):
        self.cluster = cluster
        self.body = body
        self.spec = spec
        self.name: str = body["metadata"]["name"]
        self.tenant = TenantRef(self.name, body["metadata"]["uid"])
        self.settled = settled
        self.problems: list[judge.Problem] = []
        self.cronjobs: dict[str, Manifest] = {}
        self.conflict = False
        self.backup_runs: tuple[backup.JobRecord, backup.JobRecord] | None = None

    def ensure(self, desired: Manifest, observed: Manifest | None) -> Manifest | None:
        """Apply `desired` if `observed` does not carry it; return what the server now holds."""
        drift = describe_drift(desired, observed)
        if drift is None:
            return observed
        try:
            if immutable_change(desired, observed):
                # A binding pointed at another role cannot be changed back, only replaced.
                meta = desired["metadata"]
                self.cluster.delete(desired["apiVersion"], desired["kind"], meta["name"], meta.get("namespace"))
            applied = self.cluster.apply(desired)
            strict = STRICT_FIELDS.get(desired["kind"])
            if strict and describe_drift(desired, applied):
                applied = self.cluster.replace_fields(desired, strict)
        except ApiError as error:
            self.problems.append(judge.Problem("ApplyFailed", str(error)))
            metrics.RECONCILE_ERRORS.labels(reason="ApplyFailed").inc()
            return observed
        if self.settled:
            # The tenant was in its declared state; someone or something changed this child.
            message = f"{object_key(desired)} was {'deleted' if observed is None else drift}; restored"
            metrics.record_drift_repair(self.name, desired["kind"])
            log.warning(
                "drift repaired",
                tenant=self.name,
                kind=desired["kind"],
                object=object_key(desired),
                drift=drift,
            )
            self.event("Warning", "DriftRepaired", message)
        else:
            log.info("applied", tenant=self.name, object=object_key(desired), change=drift)
        return applied

    def ensure_current(self, desired: Manifest) -> Manifest | None:
        """Read the object `desired` names, then ensure it."""
        meta = desired["metadata"]
        observed = self.read(desired["apiVersion"], desired["kind"], meta["name"], meta.get("namespace"))
        return self.ensure(desired, observed)

    def read(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        try:
            return self.cluster.get(api_version, kind, name, namespace)
        except ApiError as error:
            self.problems.append(judge.Problem("ReadFailed", str(error)))
            return None

    def event(self, event_type: str, reason: str, message: str) -> None:
        try:
            self.cluster.post_event(self.body, event_type, reason, message)
        except ApiError as error:
            log.warning("event not posted", tenant=self.name, reason=reason, error=str(error))


def validate_spec(body: Manifest) -> api.OdooTenantSpec:
    return api.OdooTenantSpec.model_validate(body.get("spec") or {})


def _spec_text(spec: Any) -> str:
    return json.dumps(spec or {}, sort_keys=True, separators=(",", ":"))


def _remember_valid_spec(cluster: Cluster, body: Manifest) -> None:
    text = _spec_text(body.get("spec"))
    if (body["metadata"].get("annotations") or {}).get(LAST_VALID_SPEC_ANNOTATION) == text:
        return
    try:
        cluster.annotate_tenant(body["metadata"]["name"], {LAST_VALID_SPEC_ANNOTATION: text})
    except ApiError as error:
        # Only a later invalid spec needs it; this reconcile goes on.
        log.warning("last valid spec not recorded", tenant=body["metadata"]["name"], error=str(error))


def _last_valid_spec(body: Manifest) -> api.OdooTenantSpec | None:
    """The annotation's spec, if it still validates and names the namespace the spec does.

    Anyone who may edit the tenant may edit the annotation, so it passes the model's checks like a
    spec; and it never moves the tenant: the namespace is the one thing an update cannot change.
    """
    text = (body["metadata"].get("annotations") or {}).get(LAST_VALID_SPEC_ANNOTATION)
    if not text:
        return None
    try:
        spec = validate_spec({"spec": json.loads(text)})
    except (ValueError, ValidationError):
        return None  # edited by hand into something unusable: as if there were none
    declared = ((body.get("spec") or {}).get("isolation") or {}).get("namespace")
    return spec if spec.isolation.namespace == declared else None


def enforced_spec(body: Manifest) -> tuple[api.OdooTenantSpec | None, ValidationError | None]:
    """The spec to enforce and why the current one was refused: while an update does not validate,
    the last valid spec stays in force rather than every fence being dropped."""
    try:
        return validate_spec(body), None
    except ValidationError as error:
        return _last_valid_spec(body), error


def _is_settled(body: Manifest) -> bool:
    """The current spec was reconciled before: any difference found now is drift, not an update.

    A tenant that never held its namespace (a conflict, until someone adopts it for the tenant)
    has no children yet: creating them is not a repair.
    """
    status = body.get("status") or {}
    return bool(status.get("observedGeneration") == body["metadata"].get("generation") and status.get("namespace"))


def _condition(body: Manifest, kind: str) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def _ready(body: Manifest) -> bool:
    return _is_settled(body) and _condition(body, "Ready").get("status") == "True"


def reconcile_tenant(cluster: Cluster, body: Manifest, trigger: str) -> None:
    """Bring one tenant's children to the declared state and publish its status."""
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return  # deletion is release_tenant's business; re-owning children now would undo it
    started = time.monotonic()
    name = meta["name"]
    invalid: judge.Problem | None = None
    spec, error = enforced_spec(body)
    if spec is None:
        assert error is not None
        _publish_invalid_spec(cluster, body, error)
        return
    if error:
        invalid = judge.Problem("InvalidSpec", _invalid_message(error) + "; the last valid spec is still enforced")
    else:
        _remember_valid_spec(cluster, body)
    run = _Run(cluster, body, spec, settled=_is_settled(body))
    observed = _ensure_children(run)
    if invalid:
        run.problems.insert(0, invalid)
        if not _condition(body, "Ready").get("message", "").startswith(invalid.message):
            run.event("Warning", "InvalidSpec", invalid.message)
    verdicts = _judge(run, observed)
    _publish(run, verdicts)
    duration = time.monotonic() - started
    metrics.RECONCILE_DURATION.observe(duration)
    log.info(
        "reconciled",
        tenant=name,
        trigger=trigger,
        duration_ms=round(duration * 1000, 1),
        problems=len(run.problems),
        failing=[v.id for v in verdicts if v.status == api.ControlStatus.Fail],
    )


def _ensure_children(run: _Run) -> judge.Observed | None:
    spec, tenant, ns = run.spec, run.tenant, run.spec.isolation.namespace
    with _step(run.name, "namespace"), _NAMESPACE_CLAIM:
        observed_ns = run.read("v1", "Namespace", ns)
        if run.problems:
            return None
        conflict = ownership.namespace_conflict(observed_ns, tenant)
        if conflict:
            run.conflict = True
            # Unless another tenant holds it, changes to the namespace (deleted, labelled for
            # adoption) come to this tenant at once.
            NAMESPACE_TENANTS.setdefault(ns, run.name)
            run.problems.append(judge.Problem("NamespaceConflict", conflict))
            if _condition(run.body, "Ready").get("message") != conflict:
                run.event("Warning", "NamespaceConflict", conflict)
            metrics.RECONCILE_ERRORS.labels(reason="NamespaceConflict").inc()
            return None
        namespace = run.ensure(isolation.build_namespace(spec, tenant), observed_ns)
        NAMESPACE_TENANTS[ns] = run.name
    if namespace and (namespace.get("status") or {}).get("phase") == "Terminating":
        run.problems.append(
            judge.Problem(
                "NamespaceTerminating",
                f"namespace {ns} is being deleted; it will be recreated once it is gone",
            )
        )
        return judge.Observed(namespace=namespace)

    with _step(run.name, "network-policies"):
        policies = _ensure_set(run, "networking.k8s.io/v1", "NetworkPolicy", _desired_policies(spec, tenant))
        try:
            foreign = [p for p in run.cluster.list("networking.k8s.io/v1", "NetworkPolicy", ns)
                       if (p["metadata"].get("labels") or {}).get(TENANT_LABEL) != run.name]  # fmt: skip
        except ApiError as error:
            run.problems.append(judge.Problem("ReadFailed", str(error)))
            foreign = []

    with _step(run.name, "quota"):
        quota = run.ensure_current(isolation.build_resource_quota(spec, tenant))
        limit_range = run.ensure_current(isolation.build_limit_range(spec, tenant))

    with _step(run.name, "access"):
        run.ensure_current(access.build_tenant_admin_binding(spec, tenant))
        try:
            bindings = run.cluster.list("rbac.authorization.k8s.io/v1", "RoleBinding", ns)
        except ApiError as error:
            run.problems.append(judge.Problem("ReadFailed", str(error)))
            bindings = []
        roles = _bound_roles(run, bindings)
        service_account = run.ensure_current(access.build_default_service_account(spec, tenant))

    with _step(run.name, "backup"):
        run.cronjobs = _ensure_set(run, "batch/v1", "CronJob", backup.build_backup_children(spec, tenant))
        run.backup_runs = _job_records(run) if spec.backup else None

    return judge.Observed(
        namespace=namespace,
        network_policies=policies,
        foreign_policies=foreign,
        quota=quota,
        limit_range=limit_range,
        role_bindings=bindings,
        roles=roles,
        service_account=service_account,
    )


def _bound_roles(run: _Run, bindings: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    """The Role or ClusterRole behind each binding, read once per reconcile."""
    roles: dict[tuple[str, str], Manifest] = {}
    for binding in bindings:
        ref = binding.get("roleRef") or {}
        key = (ref.get("kind", ""), ref.get("name", ""))
        if key in roles or key[0] not in ("Role", "ClusterRole"):
            continue
        namespace = run.spec.isolation.namespace if key[0] == "Role" else None
        found = run.read("rbac.authorization.k8s.io/v1", key[0], key[1], namespace)
        if found is not None:
            roles[key] = found
    return roles


def _ensure_set(run: _Run, api_version: str, kind: str, desired: list[Manifest]) -> dict[str, Manifest]:
    """Ensure every desired object of one kind and prune the ones the spec no longer asks for."""
    found = {m["metadata"]["name"]: run.ensure_current(m) for m in desired}
    _prune_stale(run, api_version, kind, set(found))
    return {name: obj for name, obj in found.items() if obj}


def _desired_policies(spec: api.OdooTenantSpec, tenant: TenantRef) -> list[Manifest]:
    policies = [isolation.build_default_deny_policy(spec, tenant), *isolation.build_allow_policies(spec, tenant)]
    backup_policy = backup.build_backup_network_policy(spec, tenant)
    return policies + ([backup_policy] if backup_policy else [])


def _job_records(run: _Run) -> tuple[backup.JobRecord, backup.JobRecord]:
    """The latest backup and restore-test runs, from the Jobs the CronJobs created."""
    try:
        jobs = run.cluster.list("batch/v1", "Job", run.spec.isolation.namespace, f"{TENANT_LABEL}={run.name}")
    except ApiError as error:
        run.problems.append(judge.Problem("ReadFailed", str(error)))
        jobs = []

    previous = run.body.get("status") or {}
    records = []
    for kind, cronjob, status_key in (
        (backup.BACKUP_JOB, backup.build_backup_cronjob, "lastBackup"),
        (backup.RESTORE_TEST_JOB, backup.build_restore_test_cronjob, "lastRestoreTest"),
    ):
        template = cronjob(run.spec, run.tenant)
        # Only runs of the operator's own pod template count: a Job a tenant admin made with the
        # right labels is not evidence of a backup.
        ours = [
            j
            for j in jobs
            if (j["metadata"].get("labels") or {}).get(JOB_LABEL) == kind and backup.runs_declared_tool(j, template)
        ]
        records.append(backup.summarize_jobs(ours).keep_success(previous.get(status_key)))
    return records[0], records[1]


def _managed_selector(tenant: str) -> str:
    return f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{TENANT_LABEL}={tenant}"


def _prune_stale(run: _Run, api_version: str, kind: str, wanted: set[str]) -> None:
    """Remove objects this operator made for the tenant that the spec no longer asks for.

    Only policies and CronJobs are ever pruned: never anything that holds tenant data.
    """
    ns = run.spec.isolation.namespace
    try:
        for item in run.cluster.list(api_version, kind, ns, _managed_selector(run.name)):
            name = item["metadata"]["name"]
            if name not in wanted:
                run.cluster.delete(api_version, kind, name, ns)
                log.info("pruned", tenant=run.name, object=f"{kind} {ns}/{name}")
    except ApiError as error:
        run.problems.append(judge.Problem("PruneFailed", str(error)))


def _judge(run: _Run, observed: judge.Observed | None) -> list[judge.Verdict]:
    spec, tenant = run.spec, run.tenant
    desired_ns = isolation.build_namespace(spec, tenant)
    if observed is None:
        # Nothing we could look at belongs to this tenant: every control is Unknown but ISO-NS.
        message = run.problems[0].message if run.problems else "not reconciled"
        verdicts = [
            judge.Verdict(
                "ISO-NS",
                "isolation",
                api.ControlStatus.Fail,
                run.problems[0].reason if run.problems else "NotReconciled",
                message,
            )
        ]
        for cid, family in CONTROLS[1:]:
            if family == "backup" and spec.backup is None:
                continue  # Exempt whatever the namespace's state, added below
            verdicts.append(
                judge.Verdict(
                    cid,
                    family,
                    api.ControlStatus.Unknown,
                    "NamespaceUnavailable",
                    "cannot be judged until the namespace belongs to the tenant",
                )
            )
        if spec.backup is None:
            verdicts.append(backup.judge_backup_schedule(spec, [], {}))
            verdicts.extend(backup.judge_backups(spec, _NO_RUNS, _NO_RUNS, {}, datetime.now(UTC)))
        return verdicts
    allow_policies = _desired_policies(spec, tenant)[1:]  # all but default-deny
    return [
        judge.judge_namespace(desired_ns, observed.namespace, tenant),
        judge.judge_pod_security(desired_ns, observed.namespace),
        judge.judge_default_deny(isolation.build_default_deny_policy(spec, tenant), observed.network_policies),
        judge.judge_allow_policies(allow_policies, observed.network_policies, observed.foreign_policies),
        judge.judge_quota(
            isolation.build_resource_quota(spec, tenant),
            isolation.build_limit_range(spec, tenant),
            observed.quota,
            observed.limit_range,
        ),
        judge.judge_nodes(spec, observed.namespace),
        judge.judge_rbac(access.build_tenant_admin_binding(spec, tenant), observed.role_bindings, observed.roles),
        judge.judge_service_account(observed.service_account, spec.isolation.namespace),
        backup.judge_backup_schedule(spec, backup.build_backup_children(spec, tenant), run.cronjobs),
        *backup.judge_backups(spec, *(run.backup_runs or (_NO_RUNS, _NO_RUNS)), run.cronjobs, datetime.now(UTC)),
    ]


_NO_RUNS = backup.JobRecord(None, None, None, None)


CONTROLS = [
    ("ISO-NS", "isolation"), ("ISO-PSA", "isolation"), ("ISO-NETPOL-DENY", "isolation"),
    ("ISO-NETPOL-ALLOW", "isolation"), ("ISO-QUOTA", "isolation"), ("ISO-NODES", "isolation"),
    ("IAM-RBAC", "access"), ("IAM-SA", "access"),
    ("BKP-SCHEDULE", "backup"), ("BKP-RPO", "backup"), ("BKP-RESTORE", "backup"),
]  # fmt: skip


def _write_status(cluster: Cluster, body: Manifest, new: dict[str, Any]) -> None:
    previous = body.get("status") or {}
    # A merge patch keeps keys it does not mention: clear what no longer applies (lastBackup
    # after spec.backup is removed, namespace during a conflict).
    gone = {key: None for key, value in previous.items() if new.get(key) is None and value is not None}
    new = {key: value for key, value in new.items() if value is not None}
    if gone or judge.status_changed(previous, new):
        cluster.patch_tenant_status(body["metadata"]["name"], {**new, **gone})


def _publish(run: _Run, verdicts: list[judge.Verdict]) -> None:
    previous = run.body.get("status") or {}
    new = judge.build_status(
        previous, verdicts, run.problems,
        generation=run.body["metadata"].get("generation", 0),
        namespace=None if run.conflict else run.spec.isolation.namespace,
        now=datetime.now(UTC),
    )  # fmt: skip
    if run.backup_runs:
        backups, restore_tests = run.backup_runs
        new["lastBackup"] = backups.to_status()
        new["lastRestoreTest"] = restore_tests.to_status()
        metrics.record_backup_runs(run.name, backups.last_success, restore_tests.last_success)
    elif run.spec.backup is None:
        metrics.record_backup_runs(run.name, None, None)
    was_ready = _ready(run.body)
    # Metrics first: whoever sees the new status finds the metrics already agreeing with it.
    metrics.record_verdicts(run.name, verdicts, new["score"])
    try:
        _write_status(run.cluster, run.body, new)
    except ApiError as error:
        metrics.RECONCILE_ERRORS.labels(reason="StatusWriteFailed").inc()
        log.error("status not written", tenant=run.name, error=str(error))
    if not run.problems and not was_ready:
        run.event("Normal", "Ready", f"namespace {run.spec.isolation.namespace} reconciled; score {new['score']}")


def _invalid_message(error: ValidationError) -> str:
    return "spec rejected by the operator: " + "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )


def _publish_invalid_spec(cluster: Cluster, body: Manifest, error: ValidationError) -> None:
    """A spec the operator cannot read and no earlier valid one: say so; nothing can be judged."""
    name = body["metadata"]["name"]
    message = _invalid_message(error)
    metrics.RECONCILE_ERRORS.labels(reason="InvalidSpec").inc()
    log.error("invalid spec", tenant=name, error=message)
    generation = body["metadata"].get("generation", 0)
    previous = body.get("status") or {}
    # Nothing is enforced and there is nothing to judge against: every control is Unknown, in
    # status and in metrics alike, rather than an old Pass nobody is keeping true.
    verdicts = [
        judge.Verdict(cid, family, api.ControlStatus.Unknown, "InvalidSpec",
                      "cannot be judged: the spec is refused and no earlier valid spec is known")
        for cid, family in CONTROLS
    ]  # fmt: skip
    new = judge.build_status(
        previous,
        verdicts,
        [judge.Problem("InvalidSpec", message)],
        generation=generation,
        namespace=previous.get("namespace"),
        now=datetime.now(UTC),
    )
    metrics.record_verdicts(name, verdicts, new["score"])
    try:
        if judge.status_changed(body.get("status") or {}, new):
            cluster.patch_tenant_status(name, new)
            cluster.post_event(body, "Warning", "InvalidSpec", message)
    except ApiError as api_error:
        log.error("status not written", tenant=name, error=str(api_error))


def release_tenant(cluster: Cluster, body: Manifest) -> None:
    """On deletion with Retain: strip owner references so the garbage collector keeps everything.

    Each child still existing is re-applied without the owner reference and with the orphaned
    label; server-side apply then drops the reference this field manager had set. With Delete
    nothing is done here and the garbage collector removes the namespace and its contents.
    """
    name = body["metadata"]["name"]
    spec, error = enforced_spec(body)
    if spec is None:
        if not (body.get("status") or {}).get("namespace"):
            log.info("nothing to release: the tenant never held a namespace", tenant=name)
            return
        message = (
            "cannot release the namespace: the spec is refused and no earlier valid spec is known; fix the "
            "spec to let the deletion finish (the namespace keeps its owner reference until then)"
        )
        log.error("deletion blocked", tenant=name, error=message)
        _post_event_quietly(cluster, body, "Warning", "DeletionBlocked", message)
        assert error is not None
        raise error
    # A refused spec and the last valid one may disagree on the policy: anything but Delete in
    # both keeps the data.
    declared = (body.get("spec") or {}).get("deletionPolicy", api.DeletionPolicy.Retain)
    if declared != api.DeletionPolicy.Delete:
        spec = spec.model_copy(update={"deletionPolicy": api.DeletionPolicy.Retain})
    if NAMESPACE_TENANTS.get(spec.isolation.namespace) == name:
        del NAMESPACE_TENANTS[spec.isolation.namespace]  # a tenant that lost a conflict must not unmap the winner
    if spec.deletionPolicy == api.DeletionPolicy.Delete:
        _keep_backup_volume(cluster, body, spec)
        log.info("deleting with the tenant", tenant=name, namespace=spec.isolation.namespace)
        return
    tenant = TenantRef(name, body["metadata"]["uid"])
    ns = spec.isolation.namespace
    observed_ns = cluster.get("v1", "Namespace", ns)
    if observed_ns is None or ownership.namespace_conflict(observed_ns, tenant):
        return  # never ours: nothing to release
    backup_policy = backup.build_backup_network_policy(spec, tenant, owned=False)
    orphans = [
        *backup.build_backup_children(spec, tenant, owned=False),
        *([backup_policy] if backup_policy else []),
        *isolation.build_allow_policies(spec, tenant, owned=False),
        isolation.build_default_deny_policy(spec, tenant, owned=False),
        isolation.build_resource_quota(spec, tenant, owned=False),
        isolation.build_limit_range(spec, tenant, owned=False),
        access.build_tenant_admin_binding(spec, tenant, owned=False),
        access.build_default_service_account(spec, tenant, owned=False),
    ]
    for manifest in orphans:
        meta = manifest["metadata"]
        if cluster.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace")) is not None:
            cluster.apply(manifest)
    # The namespace last: until here, a crash leaves it owned and the handler retries.
    cluster.apply(isolation.build_namespace(spec, tenant, owned=False))
    log.info("retained", tenant=name, namespace=ns)
    _post_event_quietly(
        cluster,
        body,
        "Normal",
        "Retained",
        f"namespace {ns} and its contents are kept (deletionPolicy Retain) and labelled orphaned",
    )


def _post_event_quietly(cluster: Cluster, body: Manifest, event_type: str, reason: str, message: str) -> None:
    """An Event that must not hold up a deletion when it cannot be posted."""
    try:
        cluster.post_event(body, event_type, reason, message)
    except ApiError as error:
        log.warning("event not posted", tenant=body["metadata"]["name"], reason=reason, error=str(error))


def _keep_backup_volume(cluster: Cluster, body: Manifest, spec: api.OdooTenantSpec) -> None:
    """Backups outlive their tenant whatever the deletion policy.

    S3 backups live outside the cluster. A volume target's claim goes with the namespace, so its
    PersistentVolume is switched to reclaim policy Retain first and labelled with the tenant.
    """
    if spec.backup is None or spec.backup.target.volume is None:
        return
    claim = cluster.get("v1", "PersistentVolumeClaim", spec.backup.target.volume.claimName, spec.isolation.namespace)
    volume_name = ((claim or {}).get("spec") or {}).get("volumeName")
    if not volume_name:
        return  # never bound: no backup was ever written to it
    tenant = body["metadata"]["name"]
    cluster.apply(backup.build_backup_volume_retention(volume_name, tenant))
    log.info("backup volume retained", tenant=tenant, volume=volume_name)
    _post_event_quietly(
        cluster,
        body,
        "Normal",
        "BackupsRetained",
        f"PersistentVolume {volume_name} holding the backups is kept (reclaim policy Retain)",
    )
