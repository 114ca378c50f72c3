"""Command line: `odoo-tenant-operator run` starts the operator; `crd` prints the CRD."""

from __future__ import annotations

import argparse
import os
import sys

from odoo_tenant_operator import __version__

_DESCRIPTION = (
    "Kubernetes operator for OdooTenant resources: isolated, backed-up, continuously enforced Odoo tenants "
    "with per-control compliance status and Prometheus metrics."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odoo-tenant-operator", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against the cluster")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    where.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    run.add_argument("--metrics-port", type=int, default=8080, help="Prometheus metrics port (default 8080)")
    run.add_argument("--metrics-address", default="0.0.0.0", help="metrics listen address (default 0.0.0.0)")
    run.add_argument(
        "--health-port", type=int, default=8081, help="liveness endpoint port, 0 to disable (default 8081)"
    )
    run.add_argument(
        "--log-format", choices=["json", "console"], default="json",
        help="json (default): one JSON object a line, for log collectors; console: for people",
    )  # fmt: skip
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info",
                     help="lowest level logged (default info)")  # fmt: skip
    run.add_argument(
        "--recheck-interval", type=float, default=30.0,
        help="seconds between periodic re-checks of every tenant, which catch missed watch events (default 30)",
    )  # fmt: skip
    commands.add_parser("crd", help="print the OdooTenant CustomResourceDefinition")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "crd":
        from odoo_tenant_operator.api.crd import main as print_crd

        print_crd()
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    if args.kubeconfig:
        # Before any import of the Kubernetes client: it reads the variable once, at import time,
        # and kopf's login goes through it. Set later, kopf would look in ~/.kube/config instead.
        os.environ["KUBECONFIG"] = args.kubeconfig
    import kopf

    from odoo_tenant_operator import logging as oplogging
    from odoo_tenant_operator import metrics
    from odoo_tenant_operator.handlers import tenant
    from odoo_tenant_operator.k8s.client import Cluster, load_api_client

    oplogging.configure(args.log_format, args.log_level)
    try:
        api_client = load_api_client(args.kubeconfig, args.in_cluster)
    except Exception as error:  # noqa: BLE001 - any config problem ends here with its message
        sys.exit(f"odoo-tenant-operator: cannot load Kubernetes credentials: {error}")
    try:
        metrics.serve(args.metrics_port, args.metrics_address)
    except OSError as error:
        sys.exit(f"odoo-tenant-operator: cannot serve metrics on {args.metrics_address}:{args.metrics_port}: {error}")
    try:
        cluster = Cluster(api_client)
    except Exception as error:  # noqa: BLE001 - discovery fails in many ways; all mean the same to a user
        host = api_client.configuration.host
        sys.exit(f"odoo-tenant-operator: cannot reach the Kubernetes API server at {host}: {error}")
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(kopf.login_via_client)
    tenant.register(registry, cluster, args.recheck_interval)
    liveness = f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
    kopf.run(registry=registry, clusterwide=True, standalone=True, liveness_endpoint=liveness)


if __name__ == "__main__":
    main()
