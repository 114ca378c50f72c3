#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver and kube-controller-manager built from the
# pinned upstream Go modules in hack/controlplane and started on loopback.
#
#   hack/cluster.sh up      build (first time only), start, wait for /readyz (idempotent)
#   hack/cluster.sh down    stop exactly the processes `up` started
#   hack/cluster.sh status  say whether it runs
#   hack/cluster.sh build   only build (or find in the cache) the binaries
#
# State lives in .local/ (git-ignored): certificates, etcd data, logs, pids and the admin
# kubeconfig .local/kubeconfig. Binaries are cached outside the repo, keyed by the pinned
# module files, in ${ODOO_OPERATOR_CACHE:-~/.cache/odoo-tenant-operator}.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
PLANE="$LOCAL/controlplane"
MODDIR="$ROOT/hack/controlplane"
CACHE_ROOT="${ODOO_OPERATOR_CACHE:-$HOME/.cache/odoo-tenant-operator}"
KUBECONFIG_PATH="$LOCAL/kubeconfig"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

k8s_version() { awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$MODDIR/go.mod"; }

# The cache key changes whenever a pinned version changes, so a stale binary is never used.
# Version stamps, as Kubernetes' own build sets them, so `kubectl version` and /version tell the
# truth instead of v0.0.0-master.
ldflags() {
  local v minor
  v=$(k8s_version); minor=${v#v1.}; minor=${minor%%.*}
  local x="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$x"
}

bin_dir() {
  local key
  key=$( (cat "$MODDIR/go.mod" "$MODDIR/go.sum"; ldflags) | sha256sum | cut -c1-12)
  echo "$CACHE_ROOT/controlplane-$(k8s_version)-$key"
}

built() { [[ -x "$1/kube-apiserver" && -x "$1/kube-controller-manager" && -x "$1/etcd" ]]; }

cmd_build() {
  local dir; dir=$(bin_dir)
  if built "$dir"; then
    log "control plane binaries cached in $dir"
    echo "$dir"; return
  fi
  command -v go >/dev/null || die "Go is required to build the control plane (https://go.dev/doc/install)"
  mkdir -p "$CACHE_ROOT"
  # Two clones (a demo and a test run) may build at once: one builds, the other waits and reuses.
  exec 9>"$CACHE_ROOT/build.lock"
  if ! flock -n 9; then
    log "another build of the control plane is running; waiting for it"
    flock 9
  fi
  if built "$dir"; then
    flock -u 9
    echo "$dir"; return
  fi
  mkdir -p "$dir.tmp"
  export GOFLAGS="${GOFLAGS:--mod=mod}"
  # Keep Go's module and build caches outside the repo so later builds and clones reuse them.
  export GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}" GOCACHE="${GOCACHE:-$(go env GOCACHE)}"
  local start=$SECONDS
  log "building the control plane (Kubernetes $(k8s_version)); the first build takes several minutes on 2 cores"
  local targets=(
    "etcd:go.etcd.io/etcd/server/v3"
    "kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver"
    "kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager"
  )
  local i=0 t name pkg
  for t in "${targets[@]}"; do
    i=$((i + 1)); name=${t%%:*}; pkg=${t#*:}
    log "[$i/${#targets[@]}] go build $pkg"
    local s=$SECONDS ticker
    # go build is silent for minutes on kube-apiserver; a heartbeat shows it is still working.
    # (Off the $(cmd_build) pipe and the lock, so a leftover sleep holds neither.)
    (n=0; while sleep 5; do n=$((n + 5)); ((n % 30)) || log "[$i/${#targets[@]}] still building $name (${n}s)"; done) \
      >&2 9>&- &
    ticker=$!
    if ! (cd "$MODDIR" && go build -ldflags="$(ldflags)" -o "$dir.tmp/$name" "$pkg"); then
      kill "$ticker" 2>/dev/null
      die "building $name failed (see the go output above)"
    fi
    kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
    log "[$i/${#targets[@]}] $name built in $((SECONDS - s))s"
  done
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  flock -u 9
  log "control plane built in $((SECONDS - start))s, cached in $dir"
  echo "$dir"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

is_running() {
  [[ -f "$PLANE/env" ]] || return 1
  pid_alive "$PLANE/etcd.pid" && pid_alive "$PLANE/kube-apiserver.pid" && pid_alive "$PLANE/kube-controller-manager.pid"
}

gen_certs() {
  local c="$PLANE/pki"
  [[ -f "$c/admin.crt" ]] && return
  mkdir -p "$c"
  log "generating certificates and the service-account signing key"
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=odoo-tenant-operator-local-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    sign() { # name subject [san]
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      if [[ -n "${3:-}" ]]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    sign apiserver "/CN=kube-apiserver" \
      "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    sign admin "/O=system:masters/CN=local-admin"
    sign controller-manager "/CN=system:kube-controller-manager"
  )
}

write_kubeconfig() { # path user cert key
  local server="https://127.0.0.1:$APISERVER_PORT" c="$PLANE/pki"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $server
    certificate-authority: $c/ca.crt
users:
- name: $2
  user:
    client-certificate: $c/$3.crt
    client-key: $c/$3.key
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
EOF
}

start_bg() { # name logfile command...
  local name=$1; shift
  # setsid: the process outlives this script and `down` can stop its whole group.
  setsid "$@" >"$PLANE/$name.log" 2>&1 < /dev/null &
  echo $! >"$PLANE/$name.pid"
}

wait_for() { # what seconds command...
  local what=$1 limit=$2; shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$PLANE/$what.pid"; then
      tail -n 5 "$PLANE/$what.log" >&2
      die "$what exited; its log is $PLANE/$what.log"
    fi
    if (( SECONDS - start > limit )); then die "$what did not become ready in ${limit}s; see $PLANE/$what.log"; fi
    sleep 0.5
  done
  log "$what ready after $((SECONDS - start))s"
}

cmd_up() {
  if is_running; then
    log "already running"
    echo "export KUBECONFIG=$KUBECONFIG_PATH"
    return
  fi
  cmd_down quiet
  local bins; bins=$(cmd_build)
  mkdir -p "$PLANE"
  gen_certs
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); APISERVER_PORT=$(free_port)
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nBIN_DIR=%s\n' \
    "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$bins" >"$PLANE/env"
  local c="$PLANE/pki"

  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  start_bg etcd "$bins/etcd" --name local --data-dir "$PLANE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 2147483648 --unsafe-no-fsync
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  log "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
  start_bg kube-apiserver "$bins/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$c/apiserver.crt" --tls-private-key-file "$c/apiserver.key" \
    --client-ca-file "$c/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$c/sa.pub" --service-account-signing-key-file "$c/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins PodNodeSelector \
    --allow-privileged=false
  write_kubeconfig "$KUBECONFIG_PATH" local-admin admin
  write_kubeconfig "$PLANE/controller-manager.kubeconfig" kube-controller-manager controller-manager
  wait_for kube-apiserver 120 curl -sf --cacert "$c/ca.crt" --cert "$c/admin.crt" --key "$c/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"

  log "starting kube-controller-manager"
  start_bg kube-controller-manager "$bins/kube-controller-manager" \
    --kubeconfig "$PLANE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$PLANE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$PLANE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$c/sa.key" --root-ca-file "$c/ca.crt" \
    --use-service-account-credentials=true
  # A default ServiceAccount appearing in a brand-new namespace proves the controllers run.
  local kc probe="cluster-probe-$RANDOM"
  kc=$(kubectl_bin)
  KUBECONFIG="$KUBECONFIG_PATH" "$kc" create namespace "$probe" >/dev/null
  wait_for kube-controller-manager 60 env KUBECONFIG="$KUBECONFIG_PATH" "$kc" get serviceaccount default -n "$probe"
  KUBECONFIG="$KUBECONFIG_PATH" "$kc" delete namespace "$probe" --wait=false >/dev/null
  log "control plane up (Kubernetes $(k8s_version))"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
}

kubectl_bin() {
  if [[ -x "$ROOT/.venv/bin/kubectl" ]]; then echo "$ROOT/.venv/bin/kubectl"; else command -v kubectl; fi
}

cmd_down() {
  local quiet=${1:-}
  local name pid stopped=""
  for name in kube-controller-manager kube-apiserver etcd; do
    [[ -f "$PLANE/$name.pid" ]] || continue
    pid=$(cat "$PLANE/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      stopped=yes
      [[ -n "$quiet" ]] || log "stopping $name (pid $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PLANE/$name.pid"
  done
  [[ -n "$quiet" ]] || if [[ -n "$stopped" ]]; then
    log "control plane stopped (data kept in $PLANE; remove it with: rm -rf $PLANE)"
  else
    log "control plane was not running"
  fi
}

cmd_status() {
  if is_running; then echo "running: export KUBECONFIG=$KUBECONFIG_PATH"; else echo "stopped"; return 1; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  build) cmd_build >/dev/null ;;
  *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
