//! Why a deploy failed, in words for the host's `errorMessage`: each names the cause and the
//! fix, and none holds a credential (URLs are shown without user info or query).

use std::io;

use crate::checksum::ChecksumError;
use crate::configdrive::ConfigDriveError;
use crate::qcow2::Qcow2Error;

/// Why an image was not written.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "the image URL {url} is not http(s): give an http:// or https:// URL the host can reach"
    )]
    BadUrl { url: String },
    #[error(
        "cannot reach {url}: {cause}. Check the URL and that the host's network reaches the server"
    )]
    Unreachable { url: String, cause: String },
    #[error("{url} answered 404 Not Found: check the URL")]
    NotFound { url: String },
    #[error("{url} answered HTTP {status}: check the image server")]
    Status { url: String, status: u16 },
    #[error("the download of {url} broke after {bytes} bytes: {cause}")]
    Download {
        url: String,
        bytes: u64,
        cause: String,
    },
    #[error("{0}")]
    Checksum(#[from] ChecksumError),
    #[error(
        "the checksums file {url} is larger than 1 MiB: give the checksum itself or a checksums file"
    )]
    ChecksumFileTooLarge { url: String },
    #[error(
        "checksum mismatch: the image's {algorithm} is {actual} but {expected} was expected. Check the image and its checksum"
    )]
    Mismatch {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error(
        "the image is {found} but its format is given as {given}: set the format to {found} (or leave it out)"
    )]
    FormatMismatch {
        found: &'static str,
        given: &'static str,
    },
    #[error(
        "the image is in {0} format, which the agent does not write: convert it to raw or qcow2"
    )]
    UnsupportedFormat(&'static str),
    #[error("{0}")]
    Qcow2(#[from] Qcow2Error),
    #[error(
        "the image needs at least {needed} bytes but the disk {disk} has {capacity}: choose a larger disk (root device hints) or a smaller image"
    )]
    TooBig {
        disk: String,
        needed: u64,
        capacity: u64,
    },
    #[error("the {what} image does not decompress: {cause}")]
    Decompress { what: &'static str, cause: String },
    #[error("cannot write the disk {disk}: {cause}")]
    Disk { disk: String, cause: io::Error },
    #[error("{0}")]
    ConfigDrive(#[from] ConfigDriveError),
    #[error("{0} (what was written to the disk was wiped)")]
    Wiped(Box<DeployError>),
    #[error("{error}; wiping what was written failed too ({wipe}): clean the disk before using it")]
    WipeFailed {
        error: Box<DeployError>,
        wipe: String,
    },
    #[error("the image writer stopped unexpectedly: {0}")]
    Internal(String),
}

impl DeployError {
    /// The error itself, past the note that the disk was wiped.
    pub fn cause(&self) -> &DeployError {
        match self {
            DeployError::Wiped(e) | DeployError::WipeFailed { error: e, .. } => e.cause(),
            e => e,
        }
    }

    /// Whether a partial write was wiped after this error.
    pub fn wiped(&self) -> bool {
        matches!(self, DeployError::Wiped(_))
    }
}
