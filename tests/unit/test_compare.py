"""The desired-vs-observed comparison and quantity parsing that decide what counts as drift."""

from __future__ import annotations

from decimal import Decimal

import pytest

from odoo_tenant_operator.controls.common import describe_drift, first_difference, immutable_change, parse_quantity


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


def _policy(spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny"},
            "spec": spec}  # fmt: skip


def test_rules_added_to_a_strict_spec_are_drift() -> None:
    desired = _policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    widened = _policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}]})
    assert describe_drift(desired, widened) == "changed at spec.ingress"
    assert describe_drift(desired, _policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})) is None


def test_an_added_aggregation_rule_is_drift() -> None:
    desired = {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [{"verbs": ["get"]}]}
    observed = {**desired, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}
    assert describe_drift(desired, observed) == "changed at aggregationRule"


def test_sub_milli_quantities_round_up_like_the_server() -> None:
    assert first_difference({"cpu": "0.0001m"}, {"cpu": "1m"}) is None
    assert first_difference({"cpu": "0.0001"}, {"cpu": "1m"}) is None


def test_empty_and_absent_lists_match_in_strict_fields() -> None:
    desired = {"kind": "RoleBinding", "metadata": {"name": "b"}, "roleRef": {"name": "r"}, "subjects": []}
    assert describe_drift(desired, {"kind": "RoleBinding", "metadata": {"name": "b"}, "roleRef": {"name": "r"}}) is None


def _binding(role: str) -> dict:
    return {"kind": "RoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                               "name": role}, "subjects": []}  # fmt: skip


@pytest.mark.parametrize(
    ("observed", "expected"),
    [(None, None), (_binding("odoo-tenant-admin"), None), (_binding("cluster-admin"), "roleRef")],
)
def test_a_binding_to_another_role_must_be_recreated(observed: dict | None, expected: str | None) -> None:
    assert immutable_change(_binding("odoo-tenant-admin"), observed) == expected
