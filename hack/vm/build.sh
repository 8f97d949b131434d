#!/usr/bin/env bash
# Builds what VM-backed simulated servers boot, without root and without loop devices, from
# Debian packages only:
#   vmlinuz, modules/ + modules.load   Debian's cloud kernel (taken from its package, not
#                                       installed) and the modules a virtio/ISO/FAT guest needs,
#                                       in load order
#   test-initrd.gz                      busybox + those modules + test-image-init.sh as /init
#   test-bios.{raw,qcow2}               a bootable disk: MBR, FAT32, SYSLINUX
#   test-uefi.{raw,qcow2}               a bootable disk: GPT, EFI system partition, GRUB
#   live.iso                            a hybrid BIOS+UEFI ISO of the same system
#   *.sha256 *.sha512 *.md5             checksums of every image, as `sha256sum` prints them
# The test system prints `METAL3-TEST-IMAGE booted source=<disk-bios|disk-uefi|live-iso>` and
# what a config-2 drive holds on its serial console (see test-image-init.sh).
#
# Cached outside the clone, keyed by kernel package version and by these scripts' content:
#   ${METAL3_CACHE_DIR:-~/.cache/metal3-dev}/vm/<kernel>_<version>-<hash>/
# A second run finds it there and returns at once. The last line printed is that directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${METAL3_CACHE_DIR:-$HOME/.cache/metal3-dev}"
log() { echo "vm: $*" >&2; }

bash "$HERE/install.sh"

# The newest cloud kernel Debian offers, by exact package name (a glob would fetch them all).
KPKG="${METAL3_VM_KERNEL_PACKAGE:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
  awk '/Depends: linux-image-[0-9]/{print $2; exit}')}"
[[ -n $KPKG ]] || {
  log "cannot find Debian's cloud kernel package (apt-cache depends linux-image-cloud-amd64); run apt-get update"
  exit 1
}
KVER="$(apt-cache show "$KPKG" | awk '/^Version:/{print $2; exit}')"
HASH="$(cat "$HERE/build.sh" "$HERE/test-image-init.sh" | sha256sum | cut -c1-12)"
DEST="$CACHE/vm/${KPKG}_${KVER}-$HASH"

if [[ -f $DEST/.complete ]]; then
  log "reusing $DEST"
  echo "$DEST"
  exit 0
fi
mkdir -p "$CACHE/vm"
exec 9>"$CACHE/vm/.lock"
flock 9
if [[ -f $DEST/.complete ]]; then
  log "reusing $DEST (built by a concurrent run)"
  echo "$DEST"
  exit 0
fi

WORK="$(mktemp -d "$CACHE/vm/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/out"
mkdir -p "$OUT"
start=$SECONDS

# --- kernel and modules ---------------------------------------------------------------------
log "fetching $KPKG $KVER"
(cd "$WORK" && apt-get download "$KPKG=$KVER" >/dev/null 2>&1) || {
  log "apt-get download $KPKG=$KVER failed"
  exit 1
}
dpkg-deb -x "$WORK"/*.deb "$WORK/kpkg"
KREL="${KPKG#linux-image-}"
cp "$WORK/kpkg/boot/vmlinuz-$KREL" "$OUT/vmlinuz"
echo "$KREL" >"$OUT/kernel-release"
depmod -b "$WORK/kpkg" "$KREL"
# virtio devices, IDE and SCSI CDs, ISO and FAT file systems (FAT's default I/O character set
# is ASCII in Debian's kernel: without nls_ascii a FAT file system does not mount), VLANs,
# the ACPI power button.
MODULES="virtio_pci virtio_net virtio_blk virtio_scsi virtio_rng ata_piix sr_mod sd_mod isofs vfat
  nls_cp437 nls_iso8859_1 nls_ascii nls_utf8 8021q button evdev"
for m in $MODULES; do
  modprobe -d "$WORK/kpkg" -S "$KREL" --show-depends "$m"
done | awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' >"$WORK/modules.list"
: >"$OUT/modules.load"
while read -r ko; do
  rel="${ko#"$WORK"/kpkg/}"
  mkdir -p "$OUT/modules/$(dirname "$rel")"
  cp "$ko" "$OUT/modules/$rel"
  echo "/$rel" >>"$OUT/modules.load"
done <"$WORK/modules.list"

# --- the test system's initramfs ------------------------------------------------------------
ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,mnt,etc}
cp /bin/busybox "$ROOT/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -s busybox "$ROOT/bin/$applet"
done
cp -a "$OUT/modules/." "$ROOT/"
cp "$OUT/modules.load" "$ROOT/modules.load"
install -m 0755 "$HERE/test-image-init.sh" "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet) | gzip -6 >"$OUT/test-initrd.gz"

CMDLINE="console=ttyS0,115200 loglevel=3"

# --- BIOS disk: MBR, one bootable FAT32 partition at 1 MiB, SYSLINUX -------------------------
fat_partition() { # <image> <size-MiB> <label>
  truncate -s "$2M" "$1"
  mkfs.vfat -F 32 -n "$3" "$1" >/dev/null
}
DISK_MB=48
PART="$WORK/bios.fat"
fat_partition "$PART" $((DISK_MB - 2)) IMAGE
syslinux --install "$PART"
cat >"$WORK/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT image
PROMPT 0
TIMEOUT 0
LABEL image
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND $CMDLINE metal3.source=disk-bios
CFG
mcopy -i "$PART" "$OUT/vmlinuz" ::vmlinuz
mcopy -i "$PART" "$OUT/test-initrd.gz" ::initrd.gz
mcopy -i "$PART" "$WORK/syslinux.cfg" ::syslinux.cfg
truncate -s "${DISK_MB}M" "$OUT/test-bios.raw"
echo 'start=2048, size='$(((DISK_MB - 2) * 2048))', type=c, bootable' | sfdisk -q "$OUT/test-bios.raw"
dd if=/usr/lib/SYSLINUX/mbr.bin of="$OUT/test-bios.raw" bs=440 count=1 conv=notrunc status=none
dd if="$PART" of="$OUT/test-bios.raw" bs=1M seek=1 conv=notrunc status=none

# --- UEFI disk: GPT, an EFI system partition with GRUB as the removable-media loader ---------
cat >"$WORK/grub-efi.cfg" <<CFG
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
search --no-floppy --label IMAGE --set=root
linux /vmlinuz $CMDLINE metal3.source=disk-uefi
initrd /initrd.gz
boot
CFG
grub-mkstandalone -O x86_64-efi -o "$WORK/BOOTX64.EFI" \
  --install-modules="part_gpt part_msdos fat search search_label linux normal serial terminal boot echo" \
  --modules="part_gpt fat search_label serial" --locales= --fonts= --themes= \
  "boot/grub/grub.cfg=$WORK/grub-efi.cfg"
PART="$WORK/esp.fat"
fat_partition "$PART" $((DISK_MB - 2)) IMAGE
mmd -i "$PART" ::EFI ::EFI/BOOT
mcopy -i "$PART" "$WORK/BOOTX64.EFI" ::EFI/BOOT/BOOTX64.EFI
mcopy -i "$PART" "$OUT/vmlinuz" ::vmlinuz
mcopy -i "$PART" "$OUT/test-initrd.gz" ::initrd.gz
truncate -s "${DISK_MB}M" "$OUT/test-uefi.raw"
printf 'label: gpt\nstart=2048, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"\n' \
  $(((DISK_MB - 2) * 2048)) | sfdisk -q "$OUT/test-uefi.raw"
dd if="$PART" of="$OUT/test-uefi.raw" bs=1M seek=1 conv=notrunc status=none

# --- a hybrid BIOS + UEFI live ISO -------------------------------------------------------------
ISO="$WORK/iso"
mkdir -p "$ISO/boot/grub"
cp "$OUT/vmlinuz" "$ISO/boot/vmlinuz"
cp "$OUT/test-initrd.gz" "$ISO/boot/initrd.gz"
cat >"$ISO/boot/grub/grub.cfg" <<CFG
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry live {
  linux /boot/vmlinuz $CMDLINE metal3.source=live-iso
  initrd /boot/initrd.gz
}
CFG
grub-mkrescue -o "$OUT/live.iso" "$ISO" -- -volid METAL3_LIVE >/dev/null 2>&1

# --- qcow2 forms and checksums ----------------------------------------------------------------
for image in test-bios test-uefi; do
  qemu-img convert -f raw -O qcow2 "$OUT/$image.raw" "$OUT/$image.qcow2"
done
(
  cd "$OUT"
  for f in test-bios.raw test-bios.qcow2 test-uefi.raw test-uefi.qcow2 live.iso; do
    sha256sum "$f" >"$f.sha256"
    sha512sum "$f" >"$f.sha512"
    md5sum "$f" >"$f.md5"
  done
)

touch "$OUT/.complete"
rm -rf "$DEST"
mv "$OUT" "$DEST"
# Builds of other script versions fall out of use; drop those untouched for a week.
find "$CACHE/vm" -mindepth 1 -maxdepth 1 -type d -name 'linux-image-*' ! -path "$DEST" -mtime +7 \
  -exec rm -rf {} + 2>/dev/null || true
log "built $DEST in $((SECONDS - start)) s"
echo "$DEST"
