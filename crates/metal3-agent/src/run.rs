//! The agent from start to the hub's last word: wait for a usable configuration, bring the
//! network up (as PID 1, or when asked), start listening for LLDP, then call home. Shared by
//! PID 1 and a normal process; only what the caller passes differs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metal3_agent_api::AgentConfig;

use crate::client::backoff::Backoff;
use crate::client::hub::Hub;
use crate::client::power::PowerAction;
use crate::client::{self, Agent};
use crate::console;
use crate::disks::Disks;
use crate::init::reaper::Children;
use crate::inventory::Sources;
use crate::net::lldp::Neighbours;
use crate::net::netlink::{Interface, Netlink};
use crate::net::{self, NetOptions};

/// How the agent runs.
pub struct Options {
    pub config: PathBuf,
    pub sources: Sources,
    pub steps_dir: PathBuf,
    /// Bring the network up from the configuration (PID 1 always does).
    pub network: Option<NetOptions>,
    /// Listen for LLDP; an inspection waits this long for frames (none: do not listen).
    pub lldp_window: Option<Duration>,
    /// Set the host name to the BareMetalHost's name (PID 1 does).
    pub set_hostname: bool,
    /// How long to wait before reading a missing or invalid configuration again.
    pub config_retry: Duration,
}

/// Reads the configuration until it is there and valid, saying on the console why not.
pub async fn wait_for_config(options: &Options) -> AgentConfig {
    let mut last = String::new();
    loop {
        match crate::config::load(&options.config) {
            Ok(config) => return config,
            Err(e) => {
                let text = e.to_string();
                if text != last {
                    console::error(&text);
                    last = text;
                }
                console::say(format!(
                    "waiting for a configuration; reading it again in {} s",
                    options.config_retry.as_secs()
                ));
                tokio::time::sleep(options.config_retry).await;
            }
        }
    }
}

/// Brings the network up, trying again after growing pauses until it works.
async fn bring_up_network(nl: &Netlink, config: &AgentConfig, opts: &NetOptions) {
    let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(30));
    loop {
        match net::configure(nl, config.network_data.as_ref(), opts).await {
            Ok(done) => {
                for line in done.lines {
                    console::say(format!("network: {line}"));
                }
                return;
            }
            Err(e) => {
                let pause = backoff.next_pause();
                console::error(format!(
                    "network: {e}; trying again in {} s",
                    pause.as_secs()
                ));
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The physical NICs as netlink lists them.
async fn physical(nl: &Netlink, sources: &Sources) -> Vec<Interface> {
    let names = crate::sysfs::physical_nics(&sources.sys);
    nl.interfaces()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| names.contains(&i.name))
        .collect()
}

/// Runs the agent until the hub asks for a reboot or a power-off.
pub async fn run(options: Options, disks: Arc<dyn Disks>, children: Children) -> PowerAction {
    let config = wait_for_config(&options).await;
    console::say(format!(
        "configuration for {} (hub {})",
        config.host, config.hub_url
    ));
    if options.set_hostname {
        crate::init::set_hostname(&config.host.name);
    }
    let netlink = if options.network.is_some() || options.lldp_window.is_some() {
        match Netlink::connect() {
            Ok(nl) => Some(nl),
            Err(e) => {
                console::error(format!("netlink: {e}"));
                None
            }
        }
    } else {
        None
    };
    if let (Some(nl), Some(opts)) = (&netlink, &options.network) {
        bring_up_network(nl, &config, opts).await;
    }
    let mut lldp = Neighbours::default();
    if let (Some(nl), Some(_)) = (&netlink, options.lldp_window) {
        match Neighbours::start(nl, &physical(nl, &options.sources).await).await {
            Ok(n) => lldp = n,
            Err(e) => console::error(format!("LLDP: not listening: {e}")),
        }
    }
    let macs = crate::inventory::macs(&options.sources);
    if !macs
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&config.boot_mac))
    {
        console::error(format!(
            "no NIC has the boot MAC {} (NICs: {}); the hub will not believe this host",
            config.boot_mac,
            macs.join(", ")
        ));
    }
    let hub = loop {
        match Hub::new(&config) {
            Ok(hub) => break hub,
            Err(e) => {
                console::error(e.to_string());
                tokio::time::sleep(options.config_retry).await;
            }
        }
    };
    let agent = Agent {
        config,
        sources: options.sources,
        disks,
        children,
        steps_dir: options.steps_dir,
        netlink,
        lldp,
        lldp_window: options.lldp_window.unwrap_or_default(),
    };
    client::run(Arc::new(agent), hub).await
}
