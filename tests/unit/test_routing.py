"""Which tenant a watched object's event reaches: the pure routing of `owning_tenant`.

Nothing is faked but the operator's in-memory map of namespaces to tenants, which each test sets
and restores. Checked: owner references first, then the map, then a namespace's adoption label.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from odoo_tenant_operator import reconcile
from odoo_tenant_operator.handlers.tenant import owning_tenant

OWNER = {"apiVersion": "hosting.odoo-operator.io/v1alpha1", "kind": "OdooTenant", "name": "shop", "uid": "u1"}


@pytest.fixture(autouse=True)
def namespace_map() -> Iterator[dict[str, str]]:
    saved = dict(reconcile.NAMESPACE_TENANTS)
    reconcile.NAMESPACE_TENANTS.clear()
    yield reconcile.NAMESPACE_TENANTS
    reconcile.NAMESPACE_TENANTS.clear()
    reconcile.NAMESPACE_TENANTS.update(saved)


def namespace(name: str, labels: dict[str, str] | None = None, owners: list[dict[str, str]] | None = None) -> dict:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels or {}, "ownerReferences": owners or []}}


def test_owner_reference_wins_over_the_map(namespace_map: dict[str, str]) -> None:
    namespace_map["odoo-shop"] = "other"
    assert owning_tenant(namespace("odoo-shop", owners=[OWNER])) == "shop"


def test_object_in_a_mapped_namespace_reaches_its_tenant(namespace_map: dict[str, str]) -> None:
    namespace_map["odoo-shop"] = "shop"
    policy = {"kind": "NetworkPolicy", "metadata": {"name": "extra", "namespace": "odoo-shop"}}
    assert owning_tenant(policy) == "shop"


def test_namespace_labelled_for_adoption_reaches_the_tenant_it_names() -> None:
    labelled = namespace("handmade", labels={"hosting.odoo-operator.io/tenant": "shop"})
    assert owning_tenant(labelled) == "shop"


@pytest.mark.parametrize(
    "body",
    [
        namespace("unrelated"),
        # The label only routes namespaces: a labelled object elsewhere is no claim on a tenant.
        {
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "y", "labels": {"hosting.odoo-operator.io/tenant": "shop"}},
        },
        namespace("foreign-owner", owners=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}]),
    ],
)
def test_unrelated_objects_reach_no_tenant(body: dict) -> None:
    assert owning_tenant(body) is None
