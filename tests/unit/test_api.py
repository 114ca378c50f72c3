"""The pydantic models (source of truth) and the CRD generated from them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from odoo_tenant_operator.api import crd
from odoo_tenant_operator.api.v1alpha1 import OdooTenantSpec

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "odootenants.hosting.odoo-operator.io.yaml"
PACKAGE = ROOT / "operator" / "odoo_tenant_operator"


def test_checked_in_crd_is_generated_from_the_models() -> None:
    assert CRD_FILE.read_text() == crd.render_crd(), "crds/ is stale: run `make crds`"


def _schema() -> dict:
    return yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _walk(node: dict, path: str = ""):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")


def test_every_spec_field_is_described_for_kubectl_explain() -> None:
    fields = _walk(_schema()["properties"]["spec"], "spec")
    # Items of a list of strings or numbers are described by the list itself.
    missing = [
        p for p, node in fields if not node.get("description") and not (p.endswith("[]") and node["type"] != "object")
    ]
    assert missing == []


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema()):
        assert "type" in node or path == "", f"{path} has no type"
        assert not {"$ref", "anyOf", "allOf", "title"} & set(node), f"{path} is not structural"


def test_defaults_and_printer_columns() -> None:
    version = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["deletionPolicy"]["default"] == "Retain"
    assert spec["isolation"]["properties"]["podSecurity"]["properties"]["level"]["default"] == "restricted"
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Tier", "Namespace", "Ready", "Compliant", "Score", "Age"
    ]  # fmt: skip
    assert version["subresources"] == {"status": {}}


def test_minimal_spec_gets_safe_defaults() -> None:
    spec = OdooTenantSpec.model_validate({"tier": "shared", "isolation": {"namespace": "odoo-a"}})
    assert spec.deletionPolicy == "Retain"
    assert spec.isolation.podSecurity.level == "restricted"
    assert spec.isolation.networkPolicy.egress == []


@pytest.mark.parametrize(
    "isolation",
    [{"namespace": "odoo-a", "quota": {"cpu": "four"}}, {"namespace": "odoo-a", "limits": {"maxMemory": "lots"}}],
)
def test_model_rejects_what_the_schema_rejects(isolation: dict) -> None:
    with pytest.raises(ValidationError, match="not a Kubernetes quantity"):
        OdooTenantSpec.model_validate({"tier": "shared", "isolation": isolation})


@pytest.mark.parametrize(
    ("isolation", "access", "message"),
    [
        ({"networkPolicy": {"redis": {"podLabels": {"bad key!": "x"}, "port": 6379}}}, {}, "is not a valid label"),
        ({"networkPolicy": {"redis": {"podLabels": {"app": "x y"}, "port": 6379}}}, {}, "is not a valid label"),
        ({}, {"adminUsers": ["alice", ""]}, "at least 1 character"),
    ],
)
def test_model_rejects_what_children_could_not_carry(isolation: dict, access: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OdooTenantSpec.model_validate(
            {"tier": "shared", "isolation": {"namespace": "odoo-a", **isolation}, "access": access}
        )


# Layers, lowest first: a module may import only from its own layer or lower ones.
LAYERS = [{"api"}, {"controls"}, {"k8s", "metrics", "logging"}, {"reconcile"}, {"handlers", "cli"}]


def _layer(module: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if module in names)


def test_layer_order() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        top = rel.parts[0].removesuffix(".py")
        if top in ("__init__", "backup"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("odoo_tenant_operator."):
                target = node.module.split(".")[1]
                if target in ("__init__",):
                    continue
                if _layer(target) > _layer(top):
                    violations.append(f"{rel} imports {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module == "odoo_tenant_operator":
                for alias in node.names:
                    if alias.name != "__version__" and _layer(alias.name) > _layer(top):
                        violations.append(f"{rel} imports odoo_tenant_operator.{alias.name}")
    assert violations == []


def test_pure_layers_do_no_io() -> None:
    for layer in ("api", "controls"):
        for path in (PACKAGE / layer).glob("*.py"):
            text = path.read_text()
            assert "kubernetes" not in {
                n.names[0].name.split(".")[0] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import)
            }, f"{path.name} imports the Kubernetes client"
            assert "import kopf" not in text and "from kopf" not in text, f"{path.name} imports kopf"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"isolation": {"namespace": "kube-public"}}, "is a system namespace"),
        ({"isolation": {"namespace": "default"}}, "is a system namespace"),
        ({"access": {"adminGroups": ["system:authenticated"]}}, "never tenant admins"),
        ({"isolation": {"namespace": "odoo-a", "networkPolicy": {"egress": [{"name": "all", "cidr": "0.0.0.0/0"}]}}},
         "whole address space"),
        ({"isolation": {"namespace": "odoo-a", "networkPolicy": {"postgres": {"cidr": "10.0.0.1/24", "port": 5432}}}},
         "without host bits"),
        ({"tier": "dedicated"}, "isolation.nodePool is required for tier dedicated"),
    ],
)  # fmt: skip
def test_model_keeps_the_crds_guardrails(change: dict, message: str) -> None:
    # What reaches the operator without the API server's CEL rules (the last-valid-spec annotation).
    body = {"tier": "shared", "isolation": {"namespace": "odoo-a"}, **change}
    with pytest.raises(ValidationError, match=message):
        OdooTenantSpec.model_validate(body)
