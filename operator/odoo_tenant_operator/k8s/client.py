"""The one place that talks to the Kubernetes API.

Everything goes through `Cluster`: reads return plain dicts (None when absent), writes are
server-side apply under one field manager with forced ownership (the operator is the
authority on what it declares), and Events are posted on the tenant. Errors are re-raised as
`ApiError` carrying what was being done, so callers can put them in a condition verbatim.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ApiException, NotFoundError

from odoo_tenant_operator.api import v1alpha1 as api
from odoo_tenant_operator.controls.common import FIELD_MANAGER, Manifest, object_key

EVENT_NAMESPACE = "default"  # where core/v1 Events about cluster-scoped objects live


class ApiError(Exception):
    """An API call failed; the message says what was attempted and what the server said."""

    def __init__(self, action: str, error: ApiException):
        self.status = getattr(error, "status", None)
        reason = getattr(error, "reason", "") or ""
        body = getattr(error, "body", "") or ""
        detail = body if isinstance(body, str) else body.decode(errors="replace")
        try:
            detail = json.loads(detail).get("message", detail)
        except (ValueError, AttributeError):
            pass
        super().__init__(f"cannot {action}: {self.status} {reason}: {detail}".strip())


def load_api_client(kubeconfig: str | None = None, in_cluster: bool = False) -> client.ApiClient:
    if in_cluster:
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=kubeconfig or os.environ.get("KUBECONFIG"))
    return client.ApiClient()


class Cluster:
    """A thin, thread-safe facade over the dynamic client."""

    def __init__(self, api_client: client.ApiClient):
        self._dynamic = DynamicClient(api_client)
        self._resources: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        with self._lock:
            if key not in self._resources:
                self._resources[key] = self._dynamic.resources.get(api_version=api_version, kind=kind)
            return self._resources[key]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        resource = self._resource(api_version, kind)
        try:
            found = resource.get(name=name, namespace=namespace) if namespace else resource.get(name=name)
        except NotFoundError:
            return None
        except ApiException as error:
            where = f"{namespace}/{name}" if namespace else name
            raise ApiError(f"read {kind} {where}", error) from error
        result: Manifest = found.to_dict()
        return result

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Manifest]:
        resource = self._resource(api_version, kind)
        try:
            found = resource.get(namespace=namespace, label_selector=label_selector)
        except NotFoundError:
            return []
        except ApiException as error:
            raise ApiError(f"list {kind} in {namespace or 'the cluster'}", error) from error
        items: list[Manifest] = [item.to_dict() for item in found.items]
        for item in items:
            # Lists omit apiVersion/kind on items; the rest of the code expects them.
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def apply(self, manifest: Manifest) -> Manifest:
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        try:
            result = self._dynamic.server_side_apply(
                resource,
                body=manifest,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except ApiException as error:
            raise ApiError(f"apply {object_key(manifest)}", error) from error
        applied: Manifest = result.to_dict()
        return applied

    def replace_fields(self, manifest: Manifest, fields: tuple[str, ...]) -> Manifest:
        """Overwrite whole top-level fields with an update, dropping what other managers added.

        Server-side apply never removes fields another manager owns (an ingress rule someone
        patched into default-deny); an update of the whole field does.
        """
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        for attempt in range(5):
            try:
                current = resource.get(name=meta["name"], namespace=meta.get("namespace")).to_dict()
                for field in fields:
                    if field in manifest:
                        current[field] = manifest[field]
                    else:
                        current.pop(field, None)
                result = resource.replace(body=current, namespace=meta.get("namespace"), field_manager=FIELD_MANAGER)
                replaced: Manifest = result.to_dict()
                return replaced
            except ApiException as error:
                # Another writer (a controller reacting to the same change) got in between: read again.
                if getattr(error, "status", None) == 409 and attempt < 4:
                    continue
                raise ApiError(f"replace {', '.join(fields)} of {object_key(manifest)}", error) from error
        raise AssertionError("unreachable")

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Delete one object this operator made and no longer wants (never tenant data)."""
        try:
            self._resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return
        except ApiException as error:
            raise ApiError(f"delete {kind} {namespace}/{name}", error) from error

    def get_tenant(self, name: str) -> Manifest | None:
        return self.get(api.API_VERSION, api.KIND, name)

    def annotate_tenant(self, name: str, annotations: dict[str, str]) -> None:
        resource = self._resource(api.API_VERSION, api.KIND)
        try:
            self._dynamic.patch(
                resource,
                body={"metadata": {"annotations": annotations}},
                name=name,
                content_type="application/merge-patch+json",
            )
        except NotFoundError:
            return
        except ApiException as error:
            raise ApiError(f"annotate {api.KIND} {name}", error) from error

    def patch_tenant_status(self, name: str, status: dict[str, Any]) -> None:
        resource = self._resource(api.API_VERSION, api.KIND)
        try:
            self._dynamic.patch(
                resource.status,
                body={"status": status},
                name=name,
                content_type="application/merge-patch+json",
            )
        except NotFoundError:
            return  # deleted meanwhile: nothing left to describe
        except ApiException as error:
            raise ApiError(f"write status of {api.KIND} {name}", error) from error

    def post_event(self, tenant: Manifest, event_type: str, reason: str, message: str) -> None:
        """A core/v1 Event about the tenant (or another cluster-scoped object the operator keeps),
        visible in `kubectl describe`."""
        meta = tenant["metadata"]
        kind = tenant.get("kind", api.KIND)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # One Event per tenant, reason and message, counted, as kubelet and controllers do:
        # a repeated warning shows as "x12" in `kubectl describe`, not as twelve lines.
        digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{message}".encode()).hexdigest()[:16]
        name = f"{meta['name']}.{digest}"
        events = self._resource("v1", "Event")
        try:
            existing = events.get(name=name, namespace=EVENT_NAMESPACE).to_dict()
            events.patch(
                name=name, namespace=EVENT_NAMESPACE, content_type="application/merge-patch+json",
                body={"count": int(existing.get("count") or 1) + 1, "lastTimestamp": now},
            )  # fmt: skip
            return
        except NotFoundError:
            pass
        except ApiException as error:
            raise ApiError(f"update event {reason} for {kind} {meta['name']}", error) from error
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": EVENT_NAMESPACE},
            "involvedObject": {
                "apiVersion": tenant.get("apiVersion", api.API_VERSION),
                "kind": kind,
                "name": meta["name"],
                "uid": meta.get("uid"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": os.environ.get("HOSTNAME", FIELD_MANAGER),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            events.create(body=event, namespace=EVENT_NAMESPACE)
        except ApiException as error:
            raise ApiError(f"post event {reason} for {kind} {meta['name']}", error) from error
