"""Shared vocabulary of the control families: label keys, owner references, and the pure
comparison that decides whether an observed object still carries what we declared.

No I/O here. The comparison is "desired is a subset of observed" because the API server adds
defaults and other managers add fields; quantities compare by value since the server
normalises them (4096Mi reads back as 4Gi).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from odoo_tenant_operator.api import v1alpha1 as api

FIELD_MANAGER = "odoo-tenant-operator"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "odoo-tenant-operator"
TENANT_LABEL = f"{api.GROUP}/tenant"
TIER_LABEL = f"{api.GROUP}/tier"
ORPHANED_LABEL = f"{api.GROUP}/orphaned"
JOB_LABEL = f"{api.GROUP}/job"  # on backup and restore-test pods, which get their own egress
NODE_POOL_LABEL = f"{api.GROUP}/pool"
NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class TenantRef:
    """The identity of a tenant that children point back to."""

    name: str
    uid: str

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": api.API_VERSION,
            "kind": api.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def child_metadata(name: str, tenant: TenantRef, namespace: str | None = None, *, owned: bool = True) -> dict[str, Any]:
    """Metadata every child carries: our labels and, unless orphaned, the owner reference."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, TENANT_LABEL: tenant.name},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    if owned:
        meta["ownerReferences"] = [tenant.owner_reference()]
    else:
        meta["labels"][ORPHANED_LABEL] = "true"
    return meta


_SUFFIXES = {
    "m": Decimal("0.001"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip


def parse_quantity(value: str) -> Decimal | None:
    """The numeric value of a Kubernetes quantity, or None if it is not one."""
    if not api.is_quantity(value):
        return None
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and value.endswith(suffix):
            number, multiplier = value[: -len(suffix)], _SUFFIXES[suffix]
            break
    else:
        number, multiplier = value, Decimal(1)
    try:
        # The API server rounds sub-milli precision up (0.0001m is stored as 1m); so do we.
        return (Decimal(number) * multiplier).quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    except InvalidOperation:
        return None


def _scalars_equal(desired: Any, observed: Any) -> bool:
    if desired == observed:
        return True
    if isinstance(desired, str) and isinstance(observed, str):
        a, b = parse_quantity(desired), parse_quantity(observed)
        return a is not None and a == b
    return False


_EMPTY: tuple[Any, ...] = ({}, [], None)

# Fields where whatever the server holds beyond what we declared is drift too: an ingress rule
# added to default-deny opens the namespace, an extra subject widens a binding. Elsewhere the
# server and other controllers legitimately add fields (defaults, status, annotations).
STRICT_FIELDS: dict[str, tuple[str, ...]] = {
    "NetworkPolicy": ("spec",),
    "ResourceQuota": ("spec",),
    "LimitRange": ("spec",),
    "RoleBinding": ("subjects", "roleRef"),
    "ClusterRole": ("rules", "aggregationRule"),
}


# Fields the API server never lets change: a differing one means delete and create again.
IMMUTABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "RoleBinding": ("roleRef",),
}


def immutable_change(desired: Manifest, observed: Manifest | None) -> str | None:
    """The immutable field where observed differs from desired (so it must be recreated), or None."""
    if observed is None:
        return None
    for field in IMMUTABLE_FIELDS.get(desired.get("kind", ""), ()):
        if first_difference(desired.get(field), observed.get(field), field, strict=True):
            return field
    return None


def first_difference(desired: Any, observed: Any, path: str = "", strict: bool = False) -> str | None:
    """The first path where observed does not carry what desired declares, or None.

    With `strict`, observed may not carry anything more than desired either.
    """
    if desired in _EMPTY and observed in _EMPTY:
        return None  # [] and {} and absent mean the same to the API server
    if isinstance(desired, dict):
        if not isinstance(observed, dict):
            return path or "."
        for key, value in desired.items():
            where = f"{path}.{key}" if path else key
            if key not in observed:
                # An empty desired value and an absent one mean the same to the API server.
                if value in _EMPTY:
                    continue
                return where
            found = first_difference(value, observed[key], where, strict)
            if found:
                return found
        if strict:
            for key, value in observed.items():
                if key not in desired and value not in _EMPTY:
                    return f"{path}.{key}" if path else key
        return None
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(desired) != len(observed):
            return path
        for index, (a, b) in enumerate(zip(desired, observed, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]", strict)
            if found:
                return found
        return None
    return None if _scalars_equal(desired, observed) else path


def describe_drift(desired: Manifest, observed: Manifest | None) -> str | None:
    """A short human description of how observed drifted from desired, or None if it did not."""
    if observed is None:
        return "missing"
    strict = STRICT_FIELDS.get(desired.get("kind", ""), ())
    loose = {k: v for k, v in desired.items() if k not in strict}
    where = first_difference(loose, observed)
    for field in strict:
        where = where or first_difference(desired.get(field), observed.get(field), field, strict=True)
    return None if where is None else f"changed at {where}"


def object_key(manifest: Manifest) -> str:
    """Kind/namespace/name, the way people write it in messages."""
    meta = manifest["metadata"]
    ns = meta.get("namespace")
    return f"{manifest['kind']} {ns}/{meta['name']}" if ns else f"{manifest['kind']} {meta['name']}"
