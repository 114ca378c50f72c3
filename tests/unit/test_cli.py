"""The operator's command line fails early with a message a person can act on (no cluster needed)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

OPERATOR = str(Path(sys.executable).parent / "odoo-tenant-operator")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPERATOR, *args], capture_output=True, text=True, timeout=60)


def test_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    result = run("run", "--kubeconfig", str(tmp_path / "nope"), "--metrics-port", "0")
    assert result.returncode == 1
    assert "cannot load Kubernetes credentials" in result.stderr


def unreachable_cluster(tmp_path: Path) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
    }))  # fmt: skip
    return kubeconfig


def test_unreachable_api_server_is_named(tmp_path: Path) -> None:
    result = run("run", "--kubeconfig", str(unreachable_cluster(tmp_path)), "--metrics-port", "0")
    assert result.returncode == 1
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:1" in result.stderr


def test_busy_metrics_port_is_named(tmp_path: Path) -> None:
    kubeconfig = unreachable_cluster(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("run", "--kubeconfig", str(kubeconfig), "--metrics-address", "127.0.0.1",
                     "--metrics-port", str(port))  # fmt: skip
    assert result.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr


def test_crd_command_prints_the_generated_crd() -> None:
    result = run("crd")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["metadata"]["name"] == "odootenants.hosting.odoo-operator.io"
