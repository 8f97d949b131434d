//! The seam between the agent and its block-device code: list the disks, write an image to
//! the root disk the hints choose, clean the disks. The binary is given one [`Disks`]; the
//! code behind it (`metal3-agent-disk`) lives in its own crate.

use async_trait::async_trait;
use metal3_agent_api::inventory::Disk;
use metal3_agent_api::{CleanMode, Deploy, DeployResult, Progress};

/// Reports what a long disk operation is doing: a step name (`downloading`, `writing config
/// drive`, …) and how many bytes it moved.
pub type ProgressFn<'a> = &'a (dyn Fn(&str, Progress) + Send + Sync);

/// Why a disk operation failed, as the host's error message will say it (never a
/// credential: URLs are shown without their user info and query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DiskError(pub String);

/// What the agent does with the host's disks.
#[async_trait]
pub trait Disks: Send + Sync {
    /// Every disk of the host, as the inventory lists them.
    fn list(&self) -> Result<Vec<Disk>, DiskError>;

    /// Chooses the root disk by `deploy`'s root device hints, then writes the image and the
    /// config drive to it. A failure leaves no half-written image that looks provisioned.
    async fn deploy(
        &self,
        deploy: &Deploy,
        progress: ProgressFn<'_>,
    ) -> Result<DeployResult, DiskError>;

    /// Cleans every disk.
    async fn clean(&self, mode: CleanMode, progress: ProgressFn<'_>) -> Result<(), DiskError>;
}

/// Whether the binary is built with [`NoDisks`] (tests check what the agent reports).
// TODO(issue 17): false once `metal3-agent-disk` is wired in.
pub const STAND_IN: bool = true;

/// The stand-in until the block-device code is wired in: lists no disk and refuses to write
/// or clean any.
// TODO(issue 17): replace with `metal3-agent-disk` when both branches land.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDisks;

const NOT_BUILT_IN: &str = "disk support not built in";

#[async_trait]
impl Disks for NoDisks {
    fn list(&self) -> Result<Vec<Disk>, DiskError> {
        Ok(Vec::new())
    }

    async fn deploy(&self, _: &Deploy, _: ProgressFn<'_>) -> Result<DeployResult, DiskError> {
        Err(DiskError(NOT_BUILT_IN.into()))
    }

    async fn clean(&self, _: CleanMode, _: ProgressFn<'_>) -> Result<(), DiskError> {
        Err(DiskError(NOT_BUILT_IN.into()))
    }
}
