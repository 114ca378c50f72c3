#!/usr/bin/env bash
# For users with Docker: a kind cluster with the OdooTenant CRD installed.
# (This repository's own tests use hack/cluster.sh, which needs no Docker.)
#   hack/kind.sh [cluster-name]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=${1:-odoo-tenants}
command -v kind >/dev/null || { echo "kind is required: https://kind.sigs.k8s.io/docs/user/quick-start/" >&2; exit 1; }
command -v docker >/dev/null || { echo "kind needs a running Docker engine" >&2; exit 1; }
# PodNodeSelector: the dedicated tier pins a namespace's pods with the node-selector annotation,
# which only this admission plugin turns into a pod nodeSelector.
kind get clusters | grep -qx "$NAME" || kind create cluster --name "$NAME" --image kindest/node:v1.35.0 --config - <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
kubeadmConfigPatches:
  - |
    kind: ClusterConfiguration
    apiServer:
      extraArgs:
        enable-admission-plugins: NodeRestriction,PodNodeSelector
EOF
kubectl --context "kind-$NAME" apply --server-side -k "$ROOT/crds"
kubectl --context "kind-$NAME" wait --for=condition=Established --timeout=60s crd/odootenants.hosting.odoo-operator.io
echo "CRD installed. Run the operator locally: odoo-tenant-operator run --kubeconfig ~/.kube/config"
echo "or in the cluster: kubectl apply -k $ROOT/deploy/base (after loading the image with kind load docker-image)"
