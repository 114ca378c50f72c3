#!/usr/bin/env bash
# Installs the system packages the tests need and a fresh machine may lack: PostgreSQL's
# server binaries (the backup tool is tested against a real PostgreSQL), promtool (the alert
# rules' unit tests) and openssl (the control plane's certificates). Does nothing when they
# are present.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v promtool >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "[deps] installing ${missing[*]} from Debian packages"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages may start services of their own; the tests start private ones instead.
if command -v service >/dev/null; then $SUDO service prometheus stop >/dev/null 2>&1 || true; fi
if command -v pg_lsclusters >/dev/null; then
  $SUDO pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | while read -r v c; do
    $SUDO pg_ctlcluster "$v" "$c" stop 2>/dev/null || true
  done
fi
