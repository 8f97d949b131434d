//! The agent's boot image, built where images are built (not on a host): an initramfs with
//! the static `metal3-agent` as `/init`, the kernel modules a server needs and optional
//! custom deploy steps ([`initramfs`]), and a hybrid BIOS/UEFI ISO that boots it with GRUB
//! and carries the per-host slot (`/metal3/host.cpio`) the operator's hub fills in when it
//! serves the image to a host ([`iso`]). `metal3 agent-image` is the command; tests call
//! [`build`] directly.

pub mod initramfs;
pub mod iso;

use std::path::{Path, PathBuf};

/// Why the image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
    #[error("grub-mkrescue failed ({status}): {stderr}")]
    Grub { status: String, stderr: String },
    #[error(
        "the ISO does not hold the per-host slot exactly once at a sector boundary; the hub \
         could not patch it"
    )]
    NoSlot,
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What goes into the image.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// A directory laid out as `hack/vm/build.sh` writes it: `vmlinuz`, `modules/` (a tree
    /// rooted at `/`, e.g. `modules/lib/modules/<release>/…`) and `modules.load` (the
    /// modules to load, in order, as absolute paths in that tree).
    pub kernel_dir: PathBuf,
    /// The static agent binary.
    pub agent: PathBuf,
    /// Executables to ship as custom deploy steps (`/usr/lib/metal3-agent/steps/`).
    pub steps: Option<PathBuf>,
}

/// What was built.
#[derive(Clone, Debug)]
pub struct Built {
    pub iso: PathBuf,
    pub iso_bytes: u64,
    /// The gzip'd initramfs's size.
    pub initramfs_bytes: u64,
    /// The per-host slot's offset in the ISO.
    pub slot_offset: u64,
}

/// Builds the ISO at `out`.
pub fn build(inputs: &Inputs, out: &Path) -> Result<Built, ImageError> {
    let initrd = initramfs::build(inputs)?;
    let slot_offset = iso::build(&inputs.kernel_dir.join("vmlinuz"), &initrd, out)?;
    let iso_bytes = std::fs::metadata(out).map_err(io_error(out))?.len();
    Ok(Built {
        iso: out.to_path_buf(),
        iso_bytes,
        initramfs_bytes: initrd.len() as u64,
        slot_offset,
    })
}
