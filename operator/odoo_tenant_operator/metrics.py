"""Prometheus collectors: fleet facts (odoo_tenant_*) and the operator's own (odoo_operator_*).

Per-tenant series are removed when the tenant goes away, so dashboards never show ghosts.
The collectors live in their own registry, served by `serve()` on the metrics port.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, start_http_server

from odoo_tenant_operator.api.v1alpha1 import ControlStatus
from odoo_tenant_operator.controls.verdicts import Verdict

# *_created series double every counter for no use on dashboards.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()

# Numeric encoding of a control verdict, documented in the HELP text for dashboard authors.
CONTROL_VALUES = {
    ControlStatus.Pass: 1,
    ControlStatus.Fail: 0,
    ControlStatus.Exempt: 2,
    ControlStatus.Unknown: -1,
}

TENANT_COMPLIANT = Gauge(
    "odoo_tenant_compliant", "1 when every applicable control of the tenant passes, else 0 (Unknown too).", ["tenant"],
    registry=REGISTRY,
)  # fmt: skip
CONTROL_STATUS = Gauge(
    "odoo_tenant_control_status",
    "Verdict of one control for one tenant: 1 Pass, 0 Fail, 2 Exempt, -1 Unknown.",
    ["tenant", "control"],
    registry=REGISTRY,
)
COMPLIANCE_SCORE = Gauge(
    "odoo_tenant_compliance_score", "Share of the tenant's applicable controls that pass, 0-100.", ["tenant"],
    registry=REGISTRY,
)  # fmt: skip
DRIFT_REPAIRS = Counter(
    "odoo_tenant_drift_repairs",
    "Managed objects the operator restored after they were deleted or changed, by kind.",
    ["tenant", "kind"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "odoo_operator_reconcile_duration_seconds",
    "Time one tenant reconcile took, from read to status write.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "odoo_operator_reconcile_errors", "Reconciles that could not finish, by reason.", ["reason"],
    registry=REGISTRY,
)  # fmt: skip

BACKUP_LAST_SUCCESS = Gauge(
    "odoo_tenant_backup_last_success_timestamp_seconds",
    "Unix time the tenant's last successful backup Job finished.",
    ["tenant"],
    registry=REGISTRY,
)
RESTORE_TEST_LAST_SUCCESS = Gauge(
    "odoo_tenant_restore_test_last_success_timestamp_seconds",
    "Unix time the tenant's last successful restore-test Job finished.",
    ["tenant"],
    registry=REGISTRY,
)

_PER_TENANT = (
    TENANT_COMPLIANT, CONTROL_STATUS, COMPLIANCE_SCORE, DRIFT_REPAIRS, BACKUP_LAST_SUCCESS, RESTORE_TEST_LAST_SUCCESS,
)  # fmt: skip


def record_verdicts(tenant: str, verdicts: Sequence[Verdict], score: int) -> None:
    for verdict in verdicts:
        CONTROL_STATUS.labels(tenant=tenant, control=verdict.id).set(CONTROL_VALUES[verdict.status])
    compliant = all(v.status in (ControlStatus.Pass, ControlStatus.Exempt) for v in verdicts)
    TENANT_COMPLIANT.labels(tenant=tenant).set(1 if compliant and verdicts else 0)
    COMPLIANCE_SCORE.labels(tenant=tenant).set(score)


def record_backup_runs(tenant: str, backup: datetime | None, restore_test: datetime | None) -> None:
    """None means no series: a 0 would read as "last success in 1970", and a tenant whose backups
    were switched off must not show an ever older last backup on dashboards."""
    for gauge, when in ((BACKUP_LAST_SUCCESS, backup), (RESTORE_TEST_LAST_SUCCESS, restore_test)):
        if when is not None:
            gauge.labels(tenant=tenant).set(when.timestamp())
        else:
            gauge.remove_by_labels({"tenant": tenant})


def record_drift_repair(tenant: str, kind: str) -> None:
    DRIFT_REPAIRS.labels(tenant=tenant, kind=kind).inc()


def forget_tenant(tenant: str) -> None:
    for metric in _PER_TENANT:
        metric.remove_by_labels({"tenant": tenant})


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address, registry=REGISTRY)
