#!/usr/bin/env bash
# Builds the Cluster API core controller manager (sigs.k8s.io/cluster-api/core) from the Go
# module proxy, and copies the CRDs and webhook configurations of the same version out of the
# module's source, for the end-to-end test and the README's full stack.
#
# Everything is cached outside the clone, keyed by version:
#   ${METAL3_CACHE_DIR:-~/.cache/metal3-dev}/capi/<version>/
#     bin/manager                 the core manager
#     crd/*.yaml                  the CustomResourceDefinitions it serves and watches
#     webhook/manifests.yaml      its Validating/MutatingWebhookConfigurations
# A second run finds them there and returns at once. The last line printed is that directory.
#
#   hack/capi/build.sh                         # build or reuse
#   CAPI_VERSION=v1.14.2 hack/capi/build.sh
set -euo pipefail

CAPI_VERSION="${CAPI_VERSION:-v1.14.2}"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
DEST="$CACHE/capi/$CAPI_VERSION"

log() { echo "capi: $*" >&2; }

have_all() { [[ -x "$DEST/bin/manager" && -s "$DEST/webhook/manifests.yaml" && -d "$DEST/crd" ]]; }

if have_all; then
  log "reusing $DEST"
  echo "$DEST"
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  log "the Go toolchain is required to build the Cluster API manager (install Go >= 1.24 and put 'go' on PATH)"
  exit 1
}

export GOPATH="$CACHE/go"
export GOMODCACHE="$CACHE/go/mod"
export GOCACHE="$CACHE/go/build-cache"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local
mkdir -p "$CACHE/capi"

# One build at a time; a second caller waits, then reuses the result.
exec 9>"$CACHE/capi/.lock"
flock 9
if have_all; then
  log "reusing $DEST (built by a concurrent run)"
  echo "$DEST"
  exit 0
fi

WORK="$(mktemp -d "$CACHE/capi/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

log "fetching sigs.k8s.io/cluster-api $CAPI_VERSION from the Go module proxy"
mkdir -p "$WORK/mod" "$WORK/out/bin" "$WORK/out/crd" "$WORK/out/webhook"
cat >"$WORK/mod/go.mod" <<EOF
module metal3.local/capi-build

go 1.24

require (
	sigs.k8s.io/cluster-api $CAPI_VERSION
	sigs.k8s.io/cluster-api/api $CAPI_VERSION
)
EOF
cat >"$WORK/mod/tools.go" <<'EOF'
//go:build tools

package tools

import _ "sigs.k8s.io/cluster-api/core"
EOF
if ! src_json="$(cd "$WORK/mod" && go mod download -json "sigs.k8s.io/cluster-api@$CAPI_VERSION")"; then
  log "cannot download sigs.k8s.io/cluster-api@$CAPI_VERSION: is the Go module proxy (GOPROXY=$(go env GOPROXY)) reachable?"
  exit 1
fi
SRC="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$src_json")"
# The core manager's configuration: core/config/ since v1.13, config/ before.
CONFIG="$SRC/core/config"
[[ -d "$CONFIG/crd/bases" ]] || CONFIG="$SRC/config"
[[ -d "$CONFIG/crd/bases" && -f "$CONFIG/webhook/manifests.yaml" ]] || {
  log "no crd/bases or webhook/manifests.yaml under $SRC/core/config or $SRC/config"
  exit 1
}

log "building the Cluster API core manager $CAPI_VERSION (a few minutes on 2 cores)"
version_flags="-X sigs.k8s.io/cluster-api/version.gitVersion=$CAPI_VERSION"
version_flags+=" -X sigs.k8s.io/cluster-api/version.gitTreeState=clean"
(cd "$WORK/mod" && go mod tidy >/dev/null 2>&1 || true
 cd "$WORK/mod" && go build -trimpath -ldflags="-s -w $version_flags" -o "$WORK/out/bin/manager" sigs.k8s.io/cluster-api/core)

# The CRDs of every kind the core manager serves or watches (cluster, addons, runtime, ipam:
# all generated into one crd/bases), without their conversion webhook (kustomize patches add it
# for a deployment; whoever installs them points it at the manager), and the webhook
# configurations, whose clientConfig names a Service the installer replaces the same way.
cp "$CONFIG"/crd/bases/*.yaml "$WORK/out/crd/"
cp "$CONFIG/webhook/manifests.yaml" "$WORK/out/webhook/manifests.yaml"
chmod -R u+w "$WORK/out"

log "$(ls "$WORK/out/crd" | wc -l) CRDs"

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
log "built in $((SECONDS - start)) s into $DEST"
echo "$DEST"
