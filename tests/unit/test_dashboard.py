"""The Grafana dashboard queries only series the operator exports (names from metrics.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from odoo_tenant_operator import metrics

ROOT = Path(__file__).resolve().parents[2]


def exported_series() -> set[str]:
    names = set()
    for collector in metrics.REGISTRY.collect():
        names.update(sample.name for sample in collector.samples)
        names.add(collector.name)
        names.update({f"{collector.name}_total", f"{collector.name}_bucket", f"{collector.name}_count"})
    return names


def test_dashboard_queries_known_series() -> None:
    dashboard = json.loads((ROOT / "deploy/overlays/production/grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\b(odoo_[a-z_]+)", e)}
    assert used, "no odoo_* series in the dashboard"
    assert used <= exported_series(), f"unknown series: {sorted(used - exported_series())}"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
