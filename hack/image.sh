#!/usr/bin/env bash
# Builds the container image of `metal3` as an OCI archive, without a container daemon:
#
#   hack/image.sh                 # prints the archive's path as its last line
#
# The image holds one file that matters, the static `metal3` binary (glibc's gnu target linked
# with crt-static, release mode, symbols stripped), run as the entrypoint by a non-root user
# (65532), with /etc/passwd and /etc/group naming that user and a /tmp, on an empty base
# (`FROM scratch`). Its name and tag are what `config/` deploys: ghcr.io/metal3-rs/metal3:<the
# workspace version>. Built with Debian's `umoci` (installed here when missing) into an OCI
# layout, then archived (`oci-archive:` for skopeo, podman and `ctr import`). Cached by the
# binary's hash under ${METAL3_CACHE_DIR:-~/.cache/metal3-dev}/image, so a second run returns at
# once; the release build has its own target directory so it never invalidates the workspace's.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
TRIPLE=x86_64-unknown-linux-gnu
TARGET_DIR="$CACHE/image-target"
NAME=ghcr.io/metal3-rs/metal3
USER_ID=65532
log() { echo "image: $*" >&2; }

# Debian packages: umoci builds the image, skopeo is how the tests (and users) read it.
packages=(umoci skopeo file)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 || {
    log "install these Debian packages: ${missing[*]}"
    exit 1
  }
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq -o Dpkg::Use-Pty=0 \
    --no-install-recommends "${missing[@]}"; } >&2
fi

VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
[[ -n $VERSION ]] || {
  log "cannot read the workspace version from $ROOT/Cargo.toml"
  exit 1
}
REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"

# An explicit --target keeps RUSTFLAGS off build scripts and proc macros, which cannot be static.
log "building metal3 $VERSION (release, static)"
RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --locked --release -p metal3-cli --target "$TRIPLE" \
  --target-dir "$TARGET_DIR" --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$TARGET_DIR/$TRIPLE/release/metal3"
kind="$(file -b "$BIN")"
if [[ $kind != *"static"* ]]; then
  log "$BIN is not statically linked: $kind"
  exit 1
fi

KEY="$( (sha256sum "$BIN" | cut -c1-64; echo "$VERSION $REVISION"; sha256sum "$HERE/image.sh") |
  sha256sum | cut -c1-12)"
OUT="$CACHE/image/metal3-$VERSION-$KEY.tar"
if [[ -f $OUT ]]; then
  log "cached $OUT"
  echo "$OUT"
  exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/metal3-image.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
LAYOUT="$WORK/layout"
BUNDLE="$WORK/bundle"
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$VERSION"
umoci unpack --rootless --image "$LAYOUT:$VERSION" "$BUNDLE" >&2
ROOTFS="$BUNDLE/rootfs"
install -m 0755 "$BIN" "$ROOTFS/metal3"
mkdir -p "$ROOTFS/etc" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"
echo "nonroot:x:$USER_ID:$USER_ID:nonroot:/:/sbin/nologin" >"$ROOTFS/etc/passwd"
echo "nonroot:x:$USER_ID:" >"$ROOTFS/etc/group"
chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group"
umoci repack --image "$LAYOUT:$VERSION" "$BUNDLE" >&2
umoci config --image "$LAYOUT:$VERSION" \
  --os linux --architecture amd64 \
  --config.entrypoint /metal3 \
  --config.user "$USER_ID:$USER_ID" \
  --config.workingdir / \
  --config.label "org.opencontainers.image.title=metal3" \
  --config.label "org.opencontainers.image.description=Metal3 in Rust: bare metal host management for Kubernetes" \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label "org.opencontainers.image.revision=$REVISION" \
  --config.label "org.opencontainers.image.source=https://github.com/metal3-rs/metal3" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" >&2
umoci gc --layout "$LAYOUT"

mkdir -p "$CACHE/image"
tar -C "$LAYOUT" -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
log "built $NAME:$VERSION into $OUT ($(stat -c %s "$OUT") bytes)"
echo "$OUT"
