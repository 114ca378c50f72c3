"""Who a namespace belongs to: the pure rule that keeps two tenants out of one namespace.

A tenant may use a namespace that does not exist yet, that it already owns, or that was
retained from a tenant of the same name (labelled as ours, owner reference removed). Anything
else is a conflict with a message that says how to resolve it; the operator never takes over
a namespace that someone else created.
"""

from __future__ import annotations

from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.common import ORPHANED_LABEL, TENANT_LABEL, Manifest, TenantRef


def namespace_conflict(observed: Manifest | None, tenant: TenantRef) -> str | None:
    """None if the tenant may own the namespace, else why not."""
    if observed is None:
        return None
    meta = observed["metadata"]
    name = meta["name"]
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == api.KIND]
    if any(o.get("uid") == tenant.uid for o in owners):
        return None
    if owners:
        return (
            f"namespace {name} is already owned by OdooTenant {owners[0].get('name')}; "
            "choose another spec.isolation.namespace"
        )
    labels = meta.get("labels") or {}
    if labels.get(TENANT_LABEL) == tenant.name:
        return None  # retained earlier for a tenant of this name, or labelled for adoption
    if labels.get(ORPHANED_LABEL) == "true" and labels.get(TENANT_LABEL):
        return (
            f"namespace {name} was retained from deleted OdooTenant {labels[TENANT_LABEL]} and may hold its data; "
            f"choose another spec.isolation.namespace, or label it {TENANT_LABEL}={tenant.name} to take it over"
        )
    return (
        f"namespace {name} already exists and is not managed by this operator; choose another "
        f"spec.isolation.namespace, or label it {TENANT_LABEL}={tenant.name} to adopt it"
    )
