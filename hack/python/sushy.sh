#!/usr/bin/env bash
# Creates (or reuses) a Python virtualenv with OpenStack's `sushy` Redfish client, used by the
# tests as an independent Redfish client of our simulator (Ironic's redfish driver uses sushy).
# Cached outside the clone, keyed by version; prints the venv's python as its last line.
set -euo pipefail
SUSHY_VERSION="${SUSHY_VERSION:-5.14.0}"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
VENV="$CACHE/venv/sushy-$SUSHY_VERSION"
log() { echo "sushy: $*" >&2; }

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import sushy" 2>/dev/null; then
  echo "$VENV/bin/python"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || {
  log "python3 is required to run the sushy Redfish client in tests (apt-get install python3 python3-venv)"
  exit 1
}
mkdir -p "$CACHE/venv"
exec 9>"$CACHE/venv/.lock"
flock 9
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import sushy" 2>/dev/null; then
  rm -rf "$VENV"
  log "creating $VENV"
  python3 -m venv "$VENV" || {
    log "cannot create a virtualenv (apt-get install python3-venv)"
    exit 1
  }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "sushy==$SUSHY_VERSION" || {
    log "cannot install sushy==$SUSHY_VERSION from PyPI: is the package index reachable?"
    exit 1
  }
fi
echo "$VENV/bin/python"
