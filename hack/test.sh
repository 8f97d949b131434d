#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs them.
#
#   bash hack/test.sh            # everything
#   bash hack/test.sh -p metal3-bmc   # one crate; extra arguments go to `cargo test`
#
# Build artefacts that do not belong in the clone are cached under ~/.cache/metal3-dev
# (override with METAL3_CACHE_DIR), keyed by version, so later runs reuse them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "hack/test.sh: '$1' is required but not installed ($2)" >&2
    exit 1
  }
}
need cargo "install Rust 1.95 with rustup"

# Debian packages the tests drive directly: curl (an independent HTTP client for the simulator)
# and chromium (the fleet page is tested in a real headless browser).
missing=()
for tool in curl chromium; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "installing ${missing[*]} (apt-get)"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
  else
    echo "hack/test.sh: install ${missing[*]}" >&2
    exit 1
  fi
fi

export METAL3_CACHE_DIR="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"

# The real Kubernetes control plane (kube-apiserver + etcd) built from Go modules.
if [[ -x hack/control-plane/build.sh ]]; then
  need go "the Go toolchain builds kube-apiserver and etcd from the Go module proxy"
  METAL3_CONTROL_PLANE_BIN="$(hack/control-plane/build.sh | tail -n 1)"
  export METAL3_CONTROL_PLANE_BIN
  echo "control plane binaries: $METAL3_CONTROL_PLANE_BIN"
fi

# Cluster API core (its manager, CRDs and webhook configurations) built from the Go module
# proxy, for the provider's end-to-end test (crates/metal3-cli/tests/capi_core).
if [[ -x hack/capi/build.sh ]]; then
  need go "the Go toolchain builds Cluster API's manager from the Go module proxy"
  METAL3_CAPI_DIR="$(hack/capi/build.sh | tail -n 1)"
  export METAL3_CAPI_DIR
  echo "cluster api: $METAL3_CAPI_DIR"
fi

# OpenStack's sushy Redfish client (Python, from PyPI), to test the simulator with.
if [[ -x hack/python/sushy.sh ]]; then
  need python3 "the sushy Redfish client runs in a Python virtualenv"
  METAL3_SUSHY_PYTHON="$(hack/python/sushy.sh | tail -n 1)"
  export METAL3_SUSHY_PYTHON
  echo "sushy: $METAL3_SUSHY_PYTHON"
fi

# OpenStack Ironic and sushy-tools (Python, from PyPI), run on loopback by the Ironic tests.
if [[ -x hack/python/ironic.sh ]]; then
  need python3 "OpenStack Ironic runs in a Python virtualenv"
  METAL3_IRONIC_BIN="$(hack/python/ironic.sh | tail -n 1)"
  export METAL3_IRONIC_BIN
  echo "ironic: $METAL3_IRONIC_BIN"
fi

# qemu, OVMF and the image tools (Debian packages), Debian's cloud kernel and the VM test images,
# for the simulator's VM-backed servers.
if [[ -x hack/vm/build.sh ]]; then
  METAL3_VM_IMAGES="$(hack/vm/build.sh | tail -n 1)"
  export METAL3_VM_IMAGES
  echo "vm images: $METAL3_VM_IMAGES"
fi

# The agent: a static binary and its boot ISO (kernel and modules from hack/vm), cached.
if [[ -x hack/agent/build.sh ]]; then
  agent_out="$(hack/agent/build.sh --iso)"
  METAL3_AGENT_STATIC="$(echo "$agent_out" | tail -n 2 | head -n 1)"
  METAL3_AGENT_ISO="$(echo "$agent_out" | tail -n 1)"
  export METAL3_AGENT_STATIC METAL3_AGENT_ISO
  echo "agent: $METAL3_AGENT_STATIC, ISO $METAL3_AGENT_ISO"
fi

# `-p CRATE` narrows the run to that crate; without it, the whole workspace.
scope=(--workspace)
for arg in "$@"; do
  case "$arg" in
  -p | --package | --package=* | -p?*) scope=() ;;
  esac
done

# The container image (a release build of metal3 in a target directory of its own, cached),
# for metal3-cli's image test; a run narrowed to another crate does not need it.
if [[ -x hack/image.sh ]] && { ((${#scope[@]})) || [[ " $* " == *" metal3-cli "* ]]; }; then
  METAL3_IMAGE_ARCHIVE="$(hack/image.sh | tail -n 1)"
  export METAL3_IMAGE_ARCHIVE
  echo "image: $METAL3_IMAGE_ARCHIVE"
fi
cargo test "${scope[@]}" --locked "$@"
