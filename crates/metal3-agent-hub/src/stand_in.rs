//! A stand-in for the agent, for tests of the hub and of the backends that drive it where the
//! real agent cannot run (it runs only as PID 1 of a VM's ramdisk). It does what the real one
//! does on the wire: reads its configuration from a host's boot image (the cpio archive in the
//! slot, as the kernel unpacks it), trusts only the hub's CA, presents its token and reports.
//! Built only with the `stand-in` feature.

use metal3_agent_api::inventory::InspectionData;
use metal3_agent_api::{AgentConfig, CommandStatus, REPORT_PATH, Reply, Report};

/// The name the configuration has in a host's archive.
const CONFIG_NAME: &[u8] = b"etc/metal3-agent/config.json\0";

/// Bytes of a `newc` cpio header.
const HEADER: usize = 110;

/// The agent configuration in a host's boot image (its archive found by content).
pub fn config_in(image: &[u8]) -> Option<AgentConfig> {
    let at = image
        .windows(CONFIG_NAME.len())
        .position(|w| w == CONFIG_NAME)?;
    let header = image.get(at.checked_sub(HEADER)?..at)?;
    if !header.starts_with(b"070701") {
        return None;
    }
    let field = |i: usize| {
        let hex = std::str::from_utf8(header.get(6 + i * 8..14 + i * 8)?).ok()?;
        usize::from_str_radix(hex, 16).ok()
    };
    let (size, name_len) = (field(6)?, field(11)?);
    let data = (at + name_len).next_multiple_of(4);
    serde_json::from_slice(image.get(data..data + size)?).ok()
}

/// An agent as the hub sees it: one boot of one host.
pub struct StandIn {
    /// What it found in its boot image.
    pub config: AgentConfig,
    /// Random per boot.
    pub boot_id: String,
    /// The NICs it reports.
    pub macs: Vec<String>,
    client: reqwest::Client,
}

impl StandIn {
    /// Boots from the image at `iso_url`: fetches it as a BMC does (any certificate) and reads
    /// the configuration in it.
    pub async fn boot(iso_url: &str, macs: Vec<String>) -> Result<Self, String> {
        let bmc = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| e.to_string())?;
        let response = bmc
            .get(iso_url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch {iso_url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("cannot fetch {iso_url}: {}", response.status()));
        }
        let image = response.bytes().await.map_err(|e| e.to_string())?;
        let config = config_in(&image).ok_or("the image holds no agent configuration")?;
        Self::from_config(config, macs)
    }

    /// Boots with `config`: a client that trusts only the hub's CA.
    pub fn from_config(config: AgentConfig, macs: Vec<String>) -> Result<Self, String> {
        let ca = reqwest::Certificate::from_pem(config.hub_ca_pem.as_bytes())
            .map_err(|e| format!("the hub CA: {e}"))?;
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            boot_id: format!("boot-{:016x}", fastrand::u64(..)),
            macs,
            client,
        })
    }

    /// Reports; the hub's reply, or its status and reason.
    pub async fn report(
        &self,
        inventory: Option<InspectionData>,
        status: Option<CommandStatus>,
    ) -> Result<Reply, (u16, String)> {
        self.report_as(self.config.token.expose(), inventory, status)
            .await
    }

    /// Reports presenting `token` (tests of refusals).
    pub async fn report_as(
        &self,
        token: &str,
        inventory: Option<InspectionData>,
        status: Option<CommandStatus>,
    ) -> Result<Reply, (u16, String)> {
        let report = Report {
            host: self.config.host.clone(),
            boot_id: self.boot_id.clone(),
            agent_version: "stand-in".into(),
            macs: self.macs.clone(),
            inventory,
            status,
        };
        let url = format!("{}{REPORT_PATH}", self.config.hub_url);
        let mut request = self.client.post(&url).json(&report);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| (0, e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let why = response.text().await.unwrap_or_default();
            return Err((status.as_u16(), why));
        }
        response.json().await.map_err(|e| (0, e.to_string()))
    }
}
