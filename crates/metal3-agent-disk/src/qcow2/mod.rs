//! Our own qcow2 reader, built for a stream: the image arrives once, front to back, and its
//! clusters go to the disk as they pass, with memory bounded by the tables, not the image.
//!
//! - [`header`]: the header (versions 2 and 3) and what the agent refuses (backing files,
//!   encryption, external data files, extended L2 entries);
//! - [`stream`]: the converter fed the image's bytes in order.
//!
//! **Order.** `qemu-img` places each L2 table before most of the clusters it maps, so a
//! cluster's place on the disk is usually known when its bytes arrive. Bytes that arrive
//! before any table maps them (the first compressed clusters of an L2 range come before their
//! table; refcount blocks are never mapped) are kept while L2 tables are still ahead: the most
//! recent [`stream::DEFAULT_ORPHAN_LIMIT`] bytes of them, not the image. A table that maps
//! bytes no longer kept fails the image with a clear error (re-create it with
//! `qemu-img convert -O qcow2`, or serve it raw) — a second ranged download could fetch them,
//! but no image qemu-img writes needs it.

pub mod header;
pub mod stream;

pub use header::Header;
pub use stream::Qcow2Stream;

/// Why a qcow2 image cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Qcow2Error {
    #[error("not a qcow2 image (no QFI magic)")]
    NotQcow2,
    #[error("qcow2 version {0} is not supported (only 2 and 3)")]
    Version(u32),
    #[error(
        "the qcow2 image has a backing file: flatten it first (`qemu-img convert -O qcow2 image.qcow2 flat.qcow2`)"
    )]
    BackingFile,
    #[error("the qcow2 image is encrypted: the agent writes unencrypted images only")]
    Encrypted,
    #[error(
        "the qcow2 image uses {0}, which the agent does not support: re-create it with `qemu-img convert -O qcow2`"
    )]
    Feature(&'static str),
    #[error("the qcow2 image is marked corrupt: repair it with `qemu-img check -r all`")]
    MarkedCorrupt,
    #[error("the qcow2 image is invalid: {0}")]
    Invalid(String),
    #[error("the qcow2 image ended early: {0}")]
    Truncated(String),
    #[error(
        "the qcow2 image stores {0} before the table that maps them, beyond what the agent buffers: re-create it with `qemu-img convert -O qcow2` (which puts tables first) or serve it raw"
    )]
    NotStreamable(String),
    #[error("a compressed qcow2 cluster at offset {offset} does not decompress: {cause}")]
    Compressed { offset: u64, cause: String },
}
