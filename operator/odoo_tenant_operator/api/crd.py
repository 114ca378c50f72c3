"""Generates the OdooTenant CustomResourceDefinition from the pydantic models.

Pydantic's JSON Schema is close to, but not, a Kubernetes structural schema: it uses $ref,
anyOf-with-null for optional fields and titles. This module inlines and simplifies it so the
models stay the one source of truth; `python -m odoo_tenant_operator.api.crd` prints the CRD
and a unit test fails when crds/ is stale.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from odoo_tenant_operator.api import v1alpha1 as api

_DROP = {"title"}


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        # A field's own validations add to (not replace) those of its type.
        rules = target.get("x-kubernetes-validations", []) + node.get("x-kubernetes-validations", [])
        if rules:
            merged["x-kubernetes-validations"] = rules
        return _structural(merged, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express {node} in a structural schema")
        rest = {k: v for k, v in node.items() if k != "anyOf" and k not in _DROP}
        if rest.get("default", "") is None:
            del rest["default"]
        inner = _structural(variants[0], defs)
        # Extra keys next to anyOf (description, rules) describe the non-null variant.
        rules = inner.get("x-kubernetes-validations", []) + rest.pop("x-kubernetes-validations", [])
        merged = {**inner, **rest}
        if rules:
            merged["x-kubernetes-validations"] = rules
        return merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        elif key == "format" and value == "date-time":
            out[key] = value
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" in out:
        out.pop("additionalProperties", None)
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(raw, defs)


def build_crd() -> dict[str, Any]:
    spec = model_schema(api.OdooTenantSpec)
    spec["x-kubernetes-validations"] = api.SPEC_RULES
    status = model_schema(api.OdooTenantStatus)
    columns = [
        {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
        {"name": "Namespace", "type": "string", "jsonPath": ".status.namespace"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {
            "name": "Compliant",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Compliant")].status',
        },
        {"name": "Score", "type": "integer", "jsonPath": ".status.score"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{api.PLURAL}.{api.GROUP}"},
        "spec": {
            "group": api.GROUP,
            "scope": "Cluster",
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.KIND.lower(),
                "shortNames": ["odt"],
                "categories": ["odoo"],
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "OdooTenant declares one retail Odoo tenant's isolation, access "
                            "and lifecycle policy; the operator turns it into a hardened namespace and "
                            "reports per-control compliance.",
                            "required": ["spec"],
                            "x-kubernetes-validations": api.OBJECT_RULES,
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": "API version of this object.",
                                },
                                "kind": {"type": "string", "description": "Kind of this object."},
                                "metadata": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string", "x-kubernetes-validations": [api.NAME_RULE]}
                                    },
                                },
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    # Shared rule dicts would otherwise become YAML anchors, which people reading the CRD trip over.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crd() -> str:
    header = "# Generated from operator/odoo_tenant_operator/api by `make crds`; do not edit.\n"
    return header + yaml.dump(build_crd(), Dumper=_NoAliasDumper, sort_keys=False, width=100)


def main() -> None:
    sys.stdout.write(render_crd())


if __name__ == "__main__":
    main()
