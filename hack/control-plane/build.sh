#!/usr/bin/env bash
# Builds the real Kubernetes control plane used by the tests and by `metal3 up`: kube-apiserver
# and kubectl from k8s.io/kubernetes, and etcd from go.etcd.io/etcd, using only the Go module
# proxy.
#
# The binaries are cached outside the clone, keyed by version:
#   ${METAL3_CACHE_DIR:-~/.cache/metal3-dev}/control-plane/k8s-<version>-etcd-<version>/bin/
# A second run finds them there and returns at once. The last line printed is the bin directory.
#
#   hack/control-plane/build.sh            # build or reuse
#   KUBE_VERSION=v1.34.4 ETCD_VERSION=v3.6.4 hack/control-plane/build.sh
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
DEST="$CACHE/control-plane/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
BIN="$DEST/bin"

log() { echo "control-plane: $*" >&2; }

have_all() { [[ -x "$BIN/kube-apiserver" && -x "$BIN/kubectl" && -x "$BIN/etcd" ]]; }

if have_all; then
  log "reusing $BIN"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  log "the Go toolchain is required to build kube-apiserver and etcd (install Go >= 1.24 and put 'go' on PATH)"
  exit 1
}

export GOPATH="$CACHE/go"
export GOMODCACHE="$CACHE/go/mod"
export GOCACHE="$CACHE/go/build-cache"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local
mkdir -p "$CACHE/control-plane"

# One build at a time; a second caller waits, then reuses the result.
exec 9>"$CACHE/control-plane/.lock"
flock 9
if have_all; then
  log "reusing $BIN (built by a concurrent run)"
  echo "$BIN"
  exit 0
fi

WORK="$(mktemp -d "$CACHE/control-plane/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
start=$SECONDS

# --- kube-apiserver ---------------------------------------------------------------------------
# k8s.io/kubernetes points its staging modules (k8s.io/api, …) at ./staging; a consumer must
# replace each with the published v0.X.Y of the same release.
log "fetching k8s.io/kubernetes $KUBE_VERSION from the Go module proxy"
if ! gomod_json="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION")"; then
  log "cannot download k8s.io/kubernetes@$KUBE_VERSION: is the Go module proxy (GOPROXY=$(go env GOPROXY)) reachable?"
  exit 1
fi
kube_gomod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$gomod_json")"
staging_version="v0${KUBE_VERSION#v1}"
mkdir -p "$WORK/kube"
{
  echo "module metal3.local/kube-apiserver-build"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$kube_gomod"
} >"$WORK/kube/go.mod"
cat >"$WORK/kube/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
# Stamp the version the way the Kubernetes release build does: the API server reports it and
# derives its compatibility version from it.
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  version_flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
log "building kube-apiserver $KUBE_VERSION (several minutes on 2 cores)"
(cd "$WORK/kube" && go mod tidy >/dev/null 2>&1 || true
 cd "$WORK/kube" && go build -trimpath -ldflags="-s -w $version_flags" -o "$WORK/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
log "building kubectl $KUBE_VERSION"
(cd "$WORK/kube" && go build -trimpath -ldflags="-s -w $version_flags" -o "$WORK/bin/kubectl" k8s.io/kubernetes/cmd/kubectl)

# --- etcd -------------------------------------------------------------------------------------
log "building etcd $ETCD_VERSION"
mkdir -p "$WORK/etcd"
cat >"$WORK/etcd/go.mod" <<EOF
module metal3.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
cat >"$WORK/etcd/tools.go" <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
(cd "$WORK/etcd" && go mod tidy >/dev/null 2>&1 || true
 cd "$WORK/etcd" && go build -trimpath -ldflags="-s -w" -o "$WORK/bin/etcd" go.etcd.io/etcd/server/v3)

"$WORK/bin/kube-apiserver" --version >&2
"$WORK/bin/kubectl" version --client >&2
"$WORK/bin/etcd" --version | head -n 1 >&2

rm -rf "$DEST"
mkdir -p "$DEST"
mv "$WORK/bin" "$BIN"
log "built in $((SECONDS - start)) s into $BIN"
echo "$BIN"
