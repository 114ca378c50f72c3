"""Benchmark: how fast the operator brings a fleet of tenants to Ready, how long one reconcile
takes, how quickly drift is repaired, and how much memory the operator holds.

Runs against the real local control plane (started if needed) and the real operator process;
prints figures, asserts nothing. Usage: .venv/bin/python hack/bench_reconcile.py [--tenants N]
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KUBECONFIG = ROOT / ".local" / "kubeconfig"
API_VERSION = "hosting.odoo-operator.io/v1alpha1"
ENV = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run([str(BIN / "kubectl"), *args], env=ENV, input=stdin, text=True, capture_output=True,
                          check=True).stdout  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident set size
            return int(line.split()[1]) / 1024
    return 0.0


def ready_count(prefix: str) -> int:
    items = json.loads(kubectl("get", "odootenants", "-o", "json"))["items"]
    return sum(
        1 for t in items if t["metadata"]["name"].startswith(prefix)
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (t.get("status") or {}).get("conditions", []))
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    started_cluster = subprocess.run([str(ROOT / "hack/cluster.sh"), "status"], capture_output=True).returncode != 0
    if started_cluster:
        subprocess.run([str(ROOT / "hack/cluster.sh"), "up"], check=True)
    kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/odootenants.hosting.odoo-operator.io")
    port = free_port()
    log = open(ROOT / ".local" / "bench-operator.log", "w")  # noqa: SIM115 - lives as long as the process
    operator = subprocess.Popen([str(BIN / "odoo-tenant-operator"), "run", "--kubeconfig", str(KUBECONFIG),
                                 "--metrics-port", str(port), "--health-port", "0", "--recheck-interval", "30"],
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    prefix = f"bench-{uuid.uuid4().hex[:4]}"
    names = [f"{prefix}-{i:03d}" for i in range(args.tenants)]
    try:
        while True:
            try:
                metric(port, "odoo_operator_reconcile_duration_seconds_count")
                break
            except OSError:
                time.sleep(0.2)
        baseline_rss = rss_mib(operator.pid)

        def tenant(n: str) -> str:
            spec = {"tier": "shared", "deletionPolicy": "Delete", "isolation": {"namespace": f"odoo-{n}"}}
            return json.dumps({"apiVersion": API_VERSION, "kind": "OdooTenant", "metadata": {"name": n}, "spec": spec})

        manifests = "\n---\n".join(tenant(n) for n in names)
        start = time.monotonic()
        kubectl("apply", "-f", "-", stdin=manifests)
        while (ready := ready_count(prefix)) < len(names):
            print(f"\r  {ready}/{len(names)} Ready after {time.monotonic() - start:.1f}s", end="", flush=True)
            time.sleep(0.5)
        fleet = time.monotonic() - start
        print(f"\r  {len(names)}/{len(names)} Ready after {fleet:.1f}s")

        count = metric(port, "odoo_operator_reconcile_duration_seconds_count")
        total = metric(port, "odoo_operator_reconcile_duration_seconds_sum")

        repairs = []
        for name in names[:10]:
            kubectl("delete", "networkpolicy", "default-deny", "-n", f"odoo-{name}")
            t0 = time.monotonic()
            while True:
                try:
                    kubectl("get", "networkpolicy", "default-deny", "-n", f"odoo-{name}")
                    break
                except subprocess.CalledProcessError:
                    time.sleep(0.05)
            repairs.append(time.monotonic() - t0)

        print(f"tenants:                       {len(names)}")
        print(f"time to all Ready:             {fleet:.1f} s ({len(names) / fleet:.1f} tenants/s)")
        print(f"reconciles:                    {count:.0f}, mean {1000 * total / max(count, 1):.1f} ms each")
        print(f"drift repair (delete->back):   median {1000 * sorted(repairs)[len(repairs) // 2]:.0f} ms, "
              f"max {1000 * max(repairs):.0f} ms (incl. kubectl polling)")  # fmt: skip
        print(f"operator peak RSS:             {rss_mib(operator.pid):.0f} MiB (idle at start {baseline_rss:.0f} MiB)")
    finally:
        subprocess.run([str(BIN / "kubectl"), "delete", "odootenants", *names, "--wait=false"], env=ENV,
                       capture_output=True)  # fmt: skip
        time.sleep(3)
        operator.send_signal(signal.SIGTERM)
        operator.wait(timeout=30)
        if started_cluster:
            subprocess.run([str(ROOT / "hack/cluster.sh"), "down"], check=True)


if __name__ == "__main__":
    main()
