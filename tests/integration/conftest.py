"""Fixtures for integration tests against the real local control plane.

Nothing is faked: the session starts etcd, kube-apiserver and kube-controller-manager through
hack/cluster.sh if they are not running (and stops them again afterwards), installs the CRD,
and runs the operator as a subprocess, exactly as a user would. Tests talk to the API server
through kubectl and through the operator's own client module.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from odoo_tenant_operator.k8s.client import Cluster, load_api_client

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
KUBECONFIG = LOCAL / "kubeconfig"
BIN = Path(sys.executable).parent
T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) the control plane before any test runs, with its progress shown.

    The first build takes longer than a test's timeout on 2 cores; inside the session fixture it
    would be cut off and hidden by output capture.
    """
    if not any(item.get_closest_marker("integration") for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        subprocess.run([str(ROOT / "hack" / "cluster.sh"), "build"], check=True)


def wait_for(what: str, probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def kubectl(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    result = subprocess.run([str(BIN / "kubectl"), *args], env=env, input=stdin, text=True, capture_output=True)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


def apply(manifest: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-f", "-", *extra, stdin=yaml.safe_dump(manifest), check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def control_plane() -> Iterator[Path]:
    script = str(ROOT / "hack" / "cluster.sh")
    running = subprocess.run([script, "status"], capture_output=True).returncode == 0
    if not running:
        subprocess.run([script, "up"], check=True)
    os.environ["KUBECONFIG"] = str(KUBECONFIG)
    yield KUBECONFIG
    if not running:
        subprocess.run([script, "down"], check=True)


@pytest.fixture(scope="session")
def crd(control_plane: Path) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / "crds"))
    # A brand-new CRD may have no conditions yet, which `kubectl wait` reports as an error.
    wait_for("the CRD to be established", lambda: kubectl(
        "wait", "--for=condition=Established", "--timeout=30s", "crd/odootenants.hosting.odoo-operator.io",
        check=False).returncode == 0, timeout=60)  # fmt: skip


@pytest.fixture(scope="session")
def cluster(crd: None) -> Cluster:
    return Cluster(load_api_client(str(KUBECONFIG)))


class OperatorProcess:
    """The operator as a user runs it: `odoo-tenant-operator run`, logs to a file."""

    def __init__(self, log_dir: Path, recheck_interval: float, kubeconfig: Path = KUBECONFIG):
        self.kubeconfig = kubeconfig
        self.metrics_port = free_port()
        self.log_path = log_dir / "operator.log"
        self.recheck_interval = recheck_interval
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "odoo-tenant-operator"), "run", "--kubeconfig", str(self.kubeconfig),
             "--metrics-port", str(self.metrics_port), "--metrics-address", "127.0.0.1", "--health-port", "0",
             "--recheck-interval", str(self.recheck_interval)],
            stdout=log, stderr=subprocess.STDOUT,
            # Only --kubeconfig says where the cluster is, as in a user's shell without KUBECONFIG.
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        )  # fmt: skip
        try:
            wait_for("the operator's metrics endpoint", self._metrics_up, timeout=30)
        except BaseException:
            self.stop()  # never leave an operator behind to fight the next one
            raise

    def _metrics_up(self) -> bool:
        assert self.process and self.process.poll() is None, f"operator exited; see {self.log_path}"
        try:
            self.metrics()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.metrics_port = free_port()
        self.start()

    def triggers(self, tenant: str) -> list[str]:
        """What set off each reconcile of `tenant`, from the operator's JSON log."""
        found = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{") and '"reconciled"' in line:
                entry = json.loads(line)
                if entry.get("tenant") == tenant:
                    found.append(str(entry.get("trigger")))
        return found

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def sample(self, name: str, **labels: str) -> float | None:
        """The value of one series, or None if the operator does not export it."""
        for line in self.metrics().splitlines():
            match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match.group(3))
        return None


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(tmp_path_factory.mktemp("operator"), recheck_interval=3.0)
    process.start()
    yield process
    process.stop()
    if request.session.testsfailed:
        # CI keeps no artefacts: the operator's warnings and errors are the evidence.
        lines = [line for line in process.log_path.read_text().splitlines() if '"level": "info"' not in line]
        sys.stderr.write("\n--- operator log, warnings and errors (tail) ---\n" + "\n".join(lines[-60:]) + "\n")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def tenant_manifest(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"tier": "shared", "isolation": {"namespace": namespace}}
    body.update(spec)
    return {"apiVersion": "hosting.odoo-operator.io/v1alpha1", "kind": "OdooTenant", "metadata": {"name": name},
            "spec": body}  # fmt: skip


def condition(tenant: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for item in ((tenant or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return dict(item)
    return {}


def wait_ready(cluster: Cluster, name: str, timeout: float = 30) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        tenant = cluster.get_tenant(name)
        ready = condition(tenant, "Ready")
        generation = (tenant or {}).get("metadata", {}).get("generation")
        if ready.get("status") == "True" and ready.get("observedGeneration") == generation:
            return tenant
        return None

    return wait_for(f"tenant {name} Ready", probe, timeout)


def delete_tenant(name: str) -> None:
    kubectl("delete", "odootenant", name, "--ignore-not-found", "--wait=true", "--timeout=60s")


def events_for(name: str) -> list[dict[str, Any]]:
    out = kubectl("get", "events", "-n", "default", "-o", "json",
                  "--field-selector", f"involvedObject.kind=OdooTenant,involvedObject.name={name}")  # fmt: skip
    return list(json.loads(out.stdout)["items"])
