#!/usr/bin/env bash
# The demo behind `make demo`: local control plane, CRD, operator, example tenants, their
# status and metrics. Safe to run again; `make down` stops everything it started.
#
#   hack/demo.sh                 run the demo
#   hack/demo.sh stop-operator   stop the operator the demo started
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
BIN="$ROOT/.venv/bin"
export KUBECONFIG="$LOCAL/kubeconfig"
KUBECTL="$BIN/kubectl"
OP_PID="$LOCAL/operator.pid"
OP_LOG="$LOCAL/operator.log"
OP_ENV="$LOCAL/operator.env"

# Bold headings and a progress line redrawn in place on a terminal; plain lines in a log.
if [[ -t 1 ]]; then
  say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
  progress() { printf '\r%s\033[K' "$*"; }
  progress_done() { printf '\r%s\033[K\n' "$*"; }
else
  say() { printf '\n==> %s\n' "$*"; }
  progress() { if (( SECONDS % 5 == 0 )); then echo "$*"; fi; }
  progress_done() { echo "$*"; }
fi

# Alive and not a zombie: a just-killed process answers kill -0 until its parent reaps it.
operator_alive() {
  [[ -f "$OP_PID" ]] || return 1
  local state
  state=$(awk '/^State:/{print $2}' "/proc/$(cat "$OP_PID")/status" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != "Z" ]]
}

stop_operator() {
  if operator_alive; then
    kill -TERM "$(cat "$OP_PID")"
    for _ in $(seq 1 40); do kill -0 "$(cat "$OP_PID")" 2>/dev/null || break; sleep 0.25; done
    echo "[demo] operator stopped"
  fi
  rm -f "$OP_PID"
}

start_operator() {
  if operator_alive; then
    echo "[demo] operator already running (pid $(cat "$OP_PID"), log $OP_LOG)"
    return
  fi
  local port
  port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "METRICS_PORT=$port" >"$OP_ENV"
  setsid "$BIN/odoo-tenant-operator" run --kubeconfig "$KUBECONFIG" --metrics-address 127.0.0.1 \
    --metrics-port "$port" --health-port 0 --recheck-interval 15 >>"$OP_LOG" 2>&1 </dev/null &
  echo $! >"$OP_PID"
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break
    operator_alive || { tail -n 20 "$OP_LOG"; echo "[demo] the operator exited"; exit 1; }
    sleep 0.5
  done
  echo "[demo] operator running (pid $(cat "$OP_PID")), JSON logs in $OP_LOG, metrics on 127.0.0.1:$port"
}

wait_ready() { # tenant...
  local start=$SECONDS name status pending
  while :; do
    pending=()
    for name in "$@"; do
      status=$("$KUBECTL" get odootenant "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
      [[ "$status" == "True" ]] || pending+=("$name")
    done
    if [[ ${#pending[@]} -eq 0 ]]; then
      progress_done "[demo] all $# tenants Ready after $((SECONDS - start))s"; return
    fi
    progress "[demo] waiting for Ready: ${pending[*]} ($((SECONDS - start))s)"
    if (( SECONDS - start > 120 )); then
      echo; echo "[demo] tenants not Ready after 120s; see $OP_LOG"; exit 1
    fi
    sleep 1
  done
}

show_controls() { # tenant
  "$KUBECTL" get odootenant "$1" -o json | "$BIN/python" "$ROOT/hack/show_controls.py"
}

demo() {
  say "1/7 Local control plane (etcd, kube-apiserver, kube-controller-manager)"
  "$ROOT/hack/cluster.sh" up

  say "2/7 Install the OdooTenant CRD"
  "$KUBECTL" apply --server-side --force-conflicts -k "$ROOT/crds"
  # Right after creation the CRD may have no conditions yet, which `kubectl wait` reports as an error.
  for _ in $(seq 1 30); do
    "$KUBECTL" wait --for=condition=Established --timeout=60s crd/odootenants.hosting.odoo-operator.io 2>/dev/null && break
    sleep 1
  done

  say "3/7 Start the operator in the background"
  start_operator

  say "4/7 Apply the example tenants (examples/)"
  local tenants=() file
  for file in "$ROOT"/examples/*.yaml; do
    "$KUBECTL" apply -f "$file"
    tenants+=("$("$KUBECTL" get -f "$file" -o jsonpath='{.metadata.name}')")
  done
  echo
  echo "[demo] an invalid manifest is refused by the API server, with a message per mistake:"
  if "$KUBECTL" apply -f "$ROOT/examples/invalid/" 2>&1 | sed 's/^/    /'; then :; fi

  say "5/7 Wait until the tenants are Ready"
  wait_ready "${tenants[@]}"

  say "6/7 Status and metrics"
  "$KUBECTL" get odootenants
  if "$KUBECTL" get odootenants -o jsonpath='{.items[*].status.conditions[?(@.type=="Compliant")].status}' \
      | grep -qw Unknown; then
    echo "(COMPLIANT stays Unknown for a tenant with backups until its first backup and restore test: step 7)"
  fi
  echo
  echo "Controls of ${tenants[0]}:"
  show_controls "${tenants[0]}"
  echo
  echo "Drift repair, live: deleting the default-deny NetworkPolicy of ${tenants[0]} ..."
  local ns
  ns=$("$KUBECTL" get odootenant "${tenants[0]}" -o jsonpath='{.status.namespace}')
  "$KUBECTL" delete networkpolicy default-deny -n "$ns"
  for _ in $(seq 1 20); do
    "$KUBECTL" get networkpolicy default-deny -n "$ns" >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$KUBECTL" get networkpolicy default-deny -n "$ns"
  "$KUBECTL" get events -n default --field-selector "involvedObject.name=${tenants[0]},reason=DriftRepaired" \
    -o custom-columns=REASON:.reason,MESSAGE:.message | tail -n 2
  echo
  source "$OP_ENV"
  echo "Operator metrics (http://127.0.0.1:$METRICS_PORT/metrics):"
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^odoo_(tenant|operator)_' \
    | grep -vE '_bucket\{|^odoo_tenant_(backup|restore_test)_' | sed 's/^/    /'

  say "7/7 Backups: one real backup and restore test, judged by the operator"
  local backed_up=""
  for name in "${tenants[@]}"; do
    [[ -n "$("$KUBECTL" get odootenant "$name" -o jsonpath='{.spec.backup.schedule}')" ]] && backed_up=$name && break
  done
  if [[ -n "$backed_up" ]]; then
    "$KUBECTL" get cronjobs -n "$("$KUBECTL" get odootenant "$backed_up" -o jsonpath='{.status.namespace}')"
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
      "$BIN/python" "$ROOT/hack/demo_backup.py" "$backed_up"
    else
      echo "[demo] PostgreSQL server binaries not found; run 'make system-deps' to see a real backup here"
    fi
    echo
    echo "Backup metrics:"
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^odoo_tenant_(backup|restore_test)_' | sed 's/^/    /'
    echo
    echo "The fleet now, with backups judged:"
    "$KUBECTL" get odootenants
  fi

  cat <<EOF

Done. Try:
    export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH
    kubectl get odootenants
    kubectl describe odootenant ${tenants[0]}
    kubectl explain odootenant.spec.isolation
Stop everything with:  make down
EOF
}

case "${1:-demo}" in
  demo) demo ;;
  stop-operator) stop_operator ;;
  *) echo "usage: $0 [demo|stop-operator]" >&2; exit 2 ;;
esac
