#!/usr/bin/env bash
# Builds metal3-agent as one static binary (glibc's gnu target linked with crt-static: no musl
# target is needed, and the agent resolves names itself, so glibc's NSS is never loaded), in
# release mode, in a target directory of its own so it never invalidates the workspace's build:
#   ${METAL3_CACHE_DIR:-~/.cache/metal3-dev}/agent-target/x86_64-unknown-linux-gnu/release/metal3-agent
# Cargo's own change tracking makes a second run return at once. The last line printed is the
# binary's path.
#
#   hack/agent/build.sh          # the agent
#   hack/agent/build.sh --iso    # also the agent ISO (`metal3 agent-image`) from hack/vm's kernel
#                                # and modules; the last two lines are the agent and the ISO
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
TRIPLE=x86_64-unknown-linux-gnu
TARGET_DIR="$CACHE/agent-target"
log() { echo "agent: $*" >&2; }

iso=false
for arg in "$@"; do
  case "$arg" in
  --iso) iso=true ;;
  *)
    log "unknown argument $arg (only --iso)"
    exit 2
    ;;
  esac
done

# An explicit --target keeps RUSTFLAGS off build scripts and proc macros, which cannot be
# static. Symbols are stripped: the binary goes into every host's ramdisk.
RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --locked --release -p metal3-agent --target "$TRIPLE" \
  --target-dir "$TARGET_DIR" --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$TARGET_DIR/$TRIPLE/release/metal3-agent"

# It must be static: the ramdisk has no dynamic loader and no libc.
if command -v file >/dev/null 2>&1; then
  kind="$(file -b "$BIN")"
  if [[ $kind != *"static"* ]]; then
    log "$BIN is not statically linked: $kind"
    exit 1
  fi
fi
log "built $BIN ($(stat -c %s "$BIN") bytes, static)"

if $iso; then
  VM="$(bash "$ROOT/hack/vm/build.sh" | tail -n 1)"
  KEY="$( (sha256sum "$BIN" | cut -c1-64; basename "$VM") | sha256sum | cut -c1-12)"
  ISO="$CACHE/agent/agent-$KEY.iso"
  if [[ ! -f $ISO ]]; then
    mkdir -p "$CACHE/agent"
    cargo run --locked -q -p metal3-cli --manifest-path "$ROOT/Cargo.toml" -- \
      agent-image --kernel-dir "$VM" --agent "$BIN" --out "$ISO.tmp" >&2
    mv "$ISO.tmp" "$ISO"
  fi
  log "agent ISO $ISO ($(stat -c %s "$ISO") bytes)"
  echo "$BIN"
  echo "$ISO"
else
  echo "$BIN"
fi
