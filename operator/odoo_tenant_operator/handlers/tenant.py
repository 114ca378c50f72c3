"""kopf handlers: thin adapters from kopf's triggers to the one reconcile sequence.

Create, update, resume, the periodic re-check and any event on a child that a tenant owns
all end in `reconcile.reconcile_tenant` for that tenant, coalesced so bursts cost one run.
Deletion releases (Retain) or leaves to the garbage collector (Delete), then forgets metrics.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import kopf
import structlog

from odoo_tenant_operator import metrics, reconcile
from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.access import TENANT_ADMIN_ROLE, build_tenant_admin_cluster_role
from odoo_tenant_operator.controls.common import JOB_LABEL, STRICT_FIELDS, TENANT_LABEL, describe_drift
from odoo_tenant_operator.k8s.client import ApiError, Cluster

log = structlog.get_logger("odoo_tenant_operator.handlers")

# The children whose watch events trigger a reconcile of their owning tenant.
CHILD_RESOURCES = [
    ("v1", "namespaces"),
    ("networking.k8s.io/v1", "networkpolicies"),
    ("v1", "resourcequotas"),
    ("v1", "limitranges"),
    ("rbac.authorization.k8s.io/v1", "rolebindings"),
    ("v1", "serviceaccounts"),
    ("batch/v1", "cronjobs"),
]


def owning_tenant(body: Any) -> str | None:
    """The tenant an object belongs to: by owner reference, else by the namespace it is in."""
    meta = body.get("metadata", {})
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == api.KIND and str(owner.get("apiVersion", "")).startswith(api.GROUP + "/"):
            return str(owner.get("name"))
    is_namespace = body.get("kind") == "Namespace"
    namespace = meta.get("name") if is_namespace else meta.get("namespace")
    found = reconcile.NAMESPACE_TENANTS.get(namespace or "")
    if found is None and is_namespace:
        # A namespace labelled for adoption reaches its tenant at once, not at the next re-check.
        found = (meta.get("labels") or {}).get(TENANT_LABEL)
    return found


def register(registry: kopf.OperatorRegistry, cluster: Cluster, recheck_interval: float) -> None:
    resource = (api.GROUP, api.VERSION, api.PLURAL)

    def reconcile_by_name(name: str, trigger: str) -> None:
        def work() -> None:
            try:
                body = cluster.get_tenant(name)  # fresh: status decides what counts as drift
            except ApiError as error:
                metrics.RECONCILE_ERRORS.labels(reason="ReadFailed").inc()
                raise kopf.TemporaryError(str(error), delay=5) from error
            if body is not None:
                reconcile.reconcile_tenant(cluster, body, trigger)

        reconcile.run_coalesced(name, work)

    role_checked = threading.Event()  # set after the first check: a missing role then is drift

    def ensure_tenant_admin_role() -> None:
        desired = build_tenant_admin_cluster_role()
        observed = cluster.get("rbac.authorization.k8s.io/v1", "ClusterRole", TENANT_ADMIN_ROLE)
        drift = describe_drift(desired, observed)
        if drift:
            applied = cluster.apply(desired)
            # An aggregationRule someone added survives apply, and would keep rewriting the rules.
            if describe_drift(desired, applied):
                cluster.replace_fields(desired, STRICT_FIELDS["ClusterRole"])
            if observed is None and not role_checked.is_set():
                log.info("applied", object=f"ClusterRole {TENANT_ADMIN_ROLE}")  # first start on this cluster
            else:
                # It fences every tenant, so it is no one tenant's drift: reported on the role itself.
                log.warning("drift repaired", object=f"ClusterRole {TENANT_ADMIN_ROLE}", drift=drift)
                message = f"ClusterRole {TENANT_ADMIN_ROLE} was {'deleted' if observed is None else drift}; restored"
                try:
                    cluster.post_event(applied, "Warning", "DriftRepaired", message)
                except ApiError as error:
                    log.warning("event not posted", reason="DriftRepaired", error=str(error))
        role_checked.set()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = f"{api.GROUP}/finalizer"
        # Annotations, not status: status belongs to the schema and to our conditions.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=api.GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=api.GROUP)
        settings.posting.level = logging.WARNING
        settings.execution.max_workers = 8
        ensure_tenant_admin_role()

    @kopf.on.resume(*resource, registry=registry)
    @kopf.on.create(*resource, registry=registry)
    @kopf.on.update(*resource, field="spec", registry=registry)
    def on_tenant_changed(name: str, reason: str, **_: Any) -> None:
        reconcile_by_name(name, str(reason))

    recheck_stop = threading.Event()

    def recheck_forever() -> None:
        """Every interval, reconcile every tenant: catches what a missed watch event would hide.

        One loop for the fleet rather than a kopf timer per tenant: a single list call per interval,
        and nothing per-object for kopf to wind down when a tenant is deleted.
        """
        while not recheck_stop.wait(recheck_interval):
            try:
                ensure_tenant_admin_role()
                tenants = cluster.list(api.API_VERSION, api.KIND)
            except ApiError as error:
                metrics.RECONCILE_ERRORS.labels(reason="ReadFailed").inc()
                log.warning("re-check skipped", error=str(error))
                continue
            for tenant in tenants:
                if recheck_stop.is_set():
                    return
                if tenant["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    reconcile_by_name(tenant["metadata"]["name"], "recheck")
                except Exception as error:  # noqa: BLE001 - one tenant's failure must not stop the loop
                    log.error("re-check failed", tenant=tenant["metadata"]["name"], error=str(error))

    @kopf.on.startup(registry=registry)
    def start_rechecks(**_: Any) -> None:
        threading.Thread(target=recheck_forever, name="recheck", daemon=True).start()

    @kopf.on.cleanup(registry=registry)
    def stop_rechecks(**_: Any) -> None:
        recheck_stop.set()

    @kopf.on.delete(*resource, registry=registry)
    def on_tenant_deleted(name: str, body: kopf.Body, **_: Any) -> None:
        try:
            reconcile.release_tenant(cluster, dict(body))
        except ApiError as error:
            raise kopf.TemporaryError(f"cannot release tenant {name}: {error}", delay=5) from error
        metrics.forget_tenant(name)

    def on_child_event(body: kopf.Body, type: str | None, **_: Any) -> None:
        if type is None:
            return  # the initial listing: resume handlers reconcile every tenant already
        tenant = owning_tenant(body)
        if tenant:
            kind = body.get("kind", "")
            reconcile_by_name(tenant, f"{kind} {type.lower()}")

    def owned_by_tenant(body: kopf.Body, **_: Any) -> bool:
        return owning_tenant(body) is not None

    for api_version, plural in CHILD_RESOURCES:
        group, _, version = api_version.rpartition("/")
        kopf.on.event(group=group or None, version=version, plural=plural, when=owned_by_tenant, registry=registry)(
            on_child_event
        )

    # Jobs belong to their CronJob, not the tenant: they are found by the tenant label. A finished
    # backup or restore test updates lastBackup/lastRestoreTest and BKP-RPO/BKP-RESTORE at once.
    @kopf.on.event("batch", "v1", "jobs", labels={JOB_LABEL: kopf.PRESENT, TENANT_LABEL: kopf.PRESENT},
                   registry=registry)  # fmt: skip
    def on_job_event(body: kopf.Body, type: str | None, **_: Any) -> None:
        if type is not None:
            reconcile_by_name(body["metadata"]["labels"][TENANT_LABEL], f"Job {type.lower()}")

    @kopf.on.event("rbac.authorization.k8s.io", "v1", "clusterroles",
                   field="metadata.name", value=TENANT_ADMIN_ROLE, registry=registry)  # fmt: skip
    def on_tenant_admin_role_event(**_: Any) -> None:
        # The initial listing too: a change made while the watch was starting is seen there.
        ensure_tenant_admin_role()
