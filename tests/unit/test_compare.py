"""The desired-vs-observed comparison and quantity parsing that decide what counts as drift."""

from __future__ import annotations

from decimal import Decimal

import pytest

from odoo_tenant_operator.controls.common import describe_drift, first_difference, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [("4", Decimal(4)), ("500m", Decimal("0.5")), ("1Gi", Decimal(2**30)), ("1024Mi", Decimal(2**30)),
     ("2k", Decimal(2000)), ("1.5", Decimal("1.5")), ("1e3", Decimal(1000)), ("four", None), ("", None)],
)  # fmt: skip
def test_parse_quantity(text: str, value: Decimal | None) -> None:
    assert parse_quantity(text) == value


def test_extra_fields_added_by_the_server_are_not_drift() -> None:
    desired = {"spec": {"hard": {"cpu": "4"}}, "metadata": {"labels": {"a": "1"}}}
    observed = {"spec": {"hard": {"cpu": "4"}, "used": {}}, "metadata": {"labels": {"a": "1", "b": "2"}, "uid": "x"}}
    assert first_difference(desired, observed) is None


def test_normalised_quantities_are_not_drift() -> None:
    assert first_difference({"memory": "4096Mi", "cpu": "1000m"}, {"memory": "4Gi", "cpu": "1"}) is None


def test_changed_value_names_its_path() -> None:
    desired = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    observed = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    assert first_difference(desired, observed) == "metadata.labels.pod-security.kubernetes.io/enforce"


def test_list_items_compare_in_order_and_length() -> None:
    desired = {"ports": [{"port": 8069}, {"port": 8072}]}
    assert first_difference(desired, {"ports": [{"port": 8069, "protocol": "TCP"}, {"port": 8072}]}) is None
    assert first_difference(desired, {"ports": [{"port": 8069}]}) == "ports"
    assert first_difference(desired, {"ports": [{"port": 8069}, {"port": 9999}]}) == "ports[1].port"


def test_empty_desired_values_match_absent_ones() -> None:
    assert first_difference({"spec": {"podSelector": {}, "subjects": []}}, {"spec": {}}) is None


def test_describe_drift() -> None:
    assert describe_drift({"a": 1}, None) == "missing"
    assert describe_drift({"a": 1}, {"a": 2}) == "changed at a"
    assert describe_drift({"a": 1}, {"a": 1, "b": 2}) is None
