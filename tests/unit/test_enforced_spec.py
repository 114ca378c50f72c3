"""Which spec the operator enforces while an update is refused: `reconcile.enforced_spec`.

Pure: tenant bodies as the API server would return them; nothing is faked. Checked: a valid
spec is enforced as is; a refused one falls back to the last-valid-spec annotation only when
that annotation still validates and names the same namespace.
"""

from __future__ import annotations

import json

import pytest

from odoo_tenant_operator.reconcile import LAST_VALID_SPEC_ANNOTATION, enforced_spec

VALID = {"tier": "shared", "isolation": {"namespace": "odoo-shop"}, "deletionPolicy": "Delete"}
REFUSED = {**VALID, "backup": {"schedule": "0 5-1 * * *", "target": {"volume": {"claimName": "b"}},
                               "database": {"secretName": "db"}, "filestoreClaim": "fs"}}  # fmt: skip


def body(spec: dict, remembered: dict | str | None = None) -> dict:
    annotations = {}
    if remembered is not None:
        text = remembered if isinstance(remembered, str) else json.dumps(remembered)
        annotations[LAST_VALID_SPEC_ANNOTATION] = text
    return {"metadata": {"name": "shop", "annotations": annotations}, "spec": spec}


def test_a_valid_spec_is_enforced_as_it_is() -> None:
    spec, error = enforced_spec(body(VALID, remembered={**VALID, "deletionPolicy": "Retain"}))
    assert error is None and spec is not None and spec.deletionPolicy == "Delete"


def test_a_refused_spec_falls_back_to_the_last_valid_one() -> None:
    spec, error = enforced_spec(body(REFUSED, remembered=VALID))
    assert error is not None and "runs backwards" in str(error)
    assert spec is not None and spec.backup is None


@pytest.mark.parametrize(
    "remembered",
    [
        None,
        "{not json",
        # Another namespace: the annotation would move the tenant, which no update may do.
        {**VALID, "isolation": {"namespace": "odoo-elsewhere"}},
        # What the CRD refuses, written into the annotation by hand.
        {**VALID, "isolation": {"namespace": "odoo-shop"}, "access": {"adminGroups": ["system:authenticated"]}},
        {**VALID, "isolation": {"namespace": "odoo-shop", "networkPolicy": {"egress": [{"name": "a",
                                                                                        "cidr": "0.0.0.0/0"}]}}},
    ],
)  # fmt: skip
def test_an_unusable_annotation_means_there_is_no_last_valid_spec(remembered: dict | str | None) -> None:
    spec, error = enforced_spec(body(REFUSED, remembered=remembered))
    assert spec is None and error is not None
