//! The hybrid BIOS/UEFI ISO: GRUB (`grub-mkrescue`, run where the image is built) boots the
//! kernel with two initrds, the agent's initramfs and the per-host slot
//! (`metal3_agent_api::bootimage::PLACEHOLDER_PATH`), on the serial console. The generic slot
//! is a valid archive, so the unpatched ISO boots too (the agent then says it has no
//! configuration).

use std::path::Path;
use std::process::Command;

use metal3_agent_api::bootimage;

use crate::{ImageError, io_error};

/// The kernel command line: the serial console, quiet. Nothing per host goes here.
pub const KERNEL_ARGS: &str = "console=ttyS0,115200 loglevel=3";

/// The volume label.
pub const VOLUME_ID: &str = "METAL3_AGENT";

/// GRUB's configuration: boot at once, on the serial console and the screen.
pub fn grub_cfg() -> String {
    let slot = bootimage::PLACEHOLDER_PATH;
    format!(
        "set timeout=0\n\
         serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         menuentry metal3-agent {{\n\
         \x20 linux /boot/vmlinuz {KERNEL_ARGS}\n\
         \x20 initrd /boot/initrd.gz {slot}\n\
         }}\n"
    )
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    std::fs::write(path, bytes).map_err(io_error(path))
}

/// Builds the ISO at `out` from `kernel` and the gzip'd `initrd`; returns the offset of the
/// per-host slot in it.
pub fn build(kernel: &Path, initrd: &[u8], out: &Path) -> Result<u64, ImageError> {
    let stage = tempfile::tempdir().map_err(io_error(Path::new("<temporary directory>")))?;
    let root = stage.path();
    let vmlinuz = std::fs::read(kernel).map_err(io_error(kernel))?;
    write(&root.join("boot/vmlinuz"), &vmlinuz)?;
    write(&root.join("boot/initrd.gz"), initrd)?;
    write(&root.join("boot/grub/grub.cfg"), grub_cfg().as_bytes())?;
    let slot = bootimage::PLACEHOLDER_PATH.trim_start_matches('/');
    write(&root.join(slot), &bootimage::placeholder())?;
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(out)
        .arg(root)
        .args(["--", "-volid", VOLUME_ID])
        .output()
        .map_err(|e| ImageError::Grub {
            status: "not started".into(),
            stderr: format!("{e} (install grub-common, grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools: hack/vm/install.sh)"),
        })?;
    if !output.status.success() {
        return Err(ImageError::Grub {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let image = std::fs::read(out).map_err(io_error(out))?;
    bootimage::find_placeholder(&image).ok_or(ImageError::NoSlot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_boots_the_kernel_with_both_initrds_on_the_serial_console() {
        let cfg = grub_cfg();
        assert!(
            cfg.contains("  linux /boot/vmlinuz console=ttyS0,115200 loglevel=3\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("  initrd /boot/initrd.gz /metal3/host.cpio\n"),
            "{cfg}"
        );
        assert!(cfg.starts_with("set timeout=0\n"));
    }
}
