#!/usr/bin/env bash
# Installs the Debian packages that VM-backed simulated servers and their test images need:
# qemu (TCG; KVM where it works), OVMF for UEFI guests, and the tools that build initramfs,
# ISO and disk images without root. Idempotent: installs only what is missing.
set -euo pipefail

PACKAGES=(
  qemu-system-x86 qemu-utils ovmf          # the VMs, qemu-img, UEFI firmware
  busybox-static kmod cpio                 # initramfs userland, modprobe/depmod for modules
  xorriso isolinux syslinux syslinux-common # BIOS-bootable ISO and disk
  grub-common grub-pc-bin grub-efi-amd64-bin # hybrid BIOS+UEFI ISO, the UEFI disk's loader
  mtools dosfstools fdisk                  # FAT file systems and partition tables on files
  xz-utils                                 # xz-compressed test images for the agent
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "hack/vm/install.sh: install these Debian packages: ${missing[*]}" >&2
  exit 1
}
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "vm: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq -o Dpkg::Use-Pty=0 \
  --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "hack/vm/install.sh: apt-get failed (above)" >&2
  exit 1
fi
