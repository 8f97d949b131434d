//! The seam between the agent and its block-device code: list the disks, write an image to
//! the root disk the hints choose, clean the disks. The binary is given one [`Disks`]; the
//! code behind it (`metal3-agent-disk`) lives in its own crate.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use metal3_agent_api::inventory::Disk;
use metal3_agent_api::{CleanMode, Deploy, DeployResult, Progress};
use metal3_agent_disk::BlockDevice;

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

/// What the agent works on: the host's disks through `metal3-agent-disk`.
pub struct BlockDisks {
    roots: metal3_agent_disk::Roots,
    /// The boot configuration, read for the image CAs when a deploy starts (the network, and
    /// so a resolver, is up by then).
    config: PathBuf,
}

impl BlockDisks {
    /// Disks under `sys` (sysfs) and `dev` (device nodes); image CAs from the configuration
    /// at `config`.
    pub fn new(sys: &Path, dev: &Path, config: &Path) -> Self {
        Self {
            roots: metal3_agent_disk::Roots {
                sys: sys.to_path_buf(),
                dev: dev.to_path_buf(),
            },
            config: config.to_path_buf(),
        }
    }

    fn devices(&self) -> Result<Vec<BlockDevice>, DiskError> {
        metal3_agent_disk::block_devices(&self.roots)
            .map_err(|e| DiskError(format!("cannot read the disks from sysfs: {e}")))
    }

    /// The deploy options: an HTTP client trusting the web PKI roots and, if the host's
    /// configuration names them, the image server's own CAs.
    fn options(&self) -> Result<metal3_agent_disk::Options, DiskError> {
        let mut options =
            metal3_agent_disk::Options::new().map_err(|e| DiskError(e.to_string()))?;
        let pem = std::fs::read(&self.config)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<metal3_agent_api::AgentConfig>(&bytes).ok())
            .map(|c| c.image_ca_pem)
            .unwrap_or_default();
        if !pem.trim().is_empty() {
            let roots = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                DiskError(format!(
                    "the configuration's imageCaPem is not PEM certificates ({e}); fix the \
                     operator's image CA setting"
                ))
            })?;
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("metal3-agent/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(std::time::Duration::from_secs(30))
                .read_timeout(std::time::Duration::from_secs(120));
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
            options.client = builder
                .build()
                .map_err(|e| DiskError(format!("cannot build the HTTP client: {e}")))?;
        }
        Ok(options)
    }
}

/// A block device as the inventory lists it.
fn inventory_disk(d: &BlockDevice) -> Disk {
    Disk {
        name: d.name.clone(),
        model: d.model.clone(),
        size: d.size,
        rotational: d.rotational,
        wwn: d.wwn.clone(),
        serial: d.serial.clone(),
        vendor: d.vendor.clone(),
        wwn_with_extension: d.wwn_with_extension.clone(),
        wwn_vendor_extension: d.wwn_vendor_extension.clone(),
        hctl: d.hctl.clone(),
        by_path: d.by_path.clone(),
    }
}

#[async_trait]
impl Disks for BlockDisks {
    fn list(&self) -> Result<Vec<Disk>, DiskError> {
        Ok(self.devices()?.iter().map(inventory_disk).collect())
    }

    async fn deploy(
        &self,
        deploy: &Deploy,
        progress: ProgressFn<'_>,
    ) -> Result<DeployResult, DiskError> {
        let devices = self.devices()?;
        let target = metal3_agent_disk::select_root(&devices, deploy.root_device_hints.as_ref())
            .map_err(|e| DiskError(e.to_string()))?;
        let options = self.options()?;
        metal3_agent_disk::deploy_with(&options, deploy, target, progress)
            .await
            .map_err(|e| DiskError(e.to_string()))
    }

    async fn clean(&self, mode: CleanMode, progress: ProgressFn<'_>) -> Result<(), DiskError> {
        let CleanMode::Metadata = mode;
        let devices = self.devices()?;
        progress("erasing disk metadata", Progress::default());
        tokio::task::spawn_blocking(move || metal3_agent_disk::clean_metadata(&devices))
            .await
            .map_err(|e| DiskError(format!("cleaning stopped: {e}")))?
            .map_err(|e| DiskError(e.to_string()))
    }
}

/// A stand-in that lists no disk and refuses to write or clean any (tests of the call-home
/// loop that must not touch disks).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDisks;

const NOT_BUILT_IN: &str = "this agent was started without disk support";

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
