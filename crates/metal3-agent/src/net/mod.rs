//! The host's network: from its network data when the configuration has some (static
//! addresses, routes, VLANs, bonds, DHCP where it says), else DHCP on every NIC with a link;
//! then `/etc/resolv.conf`. [`plan`] is the pure part, [`netlink`] and [`dhcp`] talk to the
//! kernel and the network; [`lldp`] listens for switches' LLDP announcements.

pub mod dhcp;
pub mod lldp;
pub mod netlink;
pub mod plan;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dhcp::Lease;
use netlink::{Netlink, NetlinkError};
use plan::{Plan, PlanError};

use crate::config::parse_mac;
use crate::sysfs;

/// Why the network could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("no NIC got an address by DHCP ({0})")]
    NoLease(String),
    #[error("cannot write {path}: {source}")]
    Resolv {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where and how long.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// Where sysfs is (NICs, carrier).
    pub sys: PathBuf,
    /// Where to write the DNS servers.
    pub resolv_conf: PathBuf,
    /// How long to wait for NICs to get a link before DHCP.
    pub carrier_wait: Duration,
    /// DISCOVERs (and REQUESTs) sent before DHCP gives up on a NIC.
    pub dhcp_attempts: u32,
}

impl NetOptions {
    /// The real system's paths.
    pub fn new(sys: impl Into<PathBuf>) -> Self {
        Self {
            sys: sys.into(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            carrier_wait: Duration::from_secs(10),
            dhcp_attempts: 6,
        }
    }
}

/// What [`configure`] did, a line per step, for the console.
#[derive(Clone, Debug, Default)]
pub struct Configured {
    pub lines: Vec<String>,
}

/// Brings the network up as `network_data` says (none: DHCP on every NIC with a link) and
/// writes the DNS servers; DHCP leases are renewed in the background.
pub async fn configure(
    nl: &Netlink,
    network_data: Option<&serde_json::Value>,
    opts: &NetOptions,
) -> Result<Configured, NetError> {
    let mut done = Configured::default();
    let interfaces = nl.interfaces().await?;
    if let Some(lo) = interfaces.iter().find(|i| i.name == "lo") {
        nl.up(lo.index).await?;
    }
    let mut static_addresses = 0;
    let (dhcp_on, mut dns) = match network_data {
        Some(data) => {
            let plan = Plan::from_network_data(data)?;
            let nics: Vec<(String, String)> = interfaces
                .iter()
                .filter(|i| i.name != "lo")
                .map(|i| (i.name.clone(), i.mac.clone()))
                .collect();
            let names = plan.resolve(&nics)?;
            nl.apply_links(&plan, &names).await?;
            nl.apply_addresses(&plan, &names).await?;
            static_addresses = plan.addresses.len();
            for a in &plan.addresses {
                done.lines
                    .push(format!("{} {}/{}", names[&a.link], a.ip, a.prefix));
            }
            for l in &plan.autoconf6 {
                done.lines
                    .push(format!("{} IPv6 from router advertisements", names[l]));
            }
            let dhcp: Vec<String> = plan.dhcp4.iter().map(|l| names[l].clone()).collect();
            (dhcp, plan.dns.clone())
        }
        None => {
            let nics = sysfs::physical_nics(&opts.sys);
            for name in &nics {
                if let Some(i) = interfaces.iter().find(|i| &i.name == name) {
                    nl.up(i.index).await?;
                }
            }
            (
                with_carrier(&opts.sys, &nics, opts.carrier_wait).await,
                Vec::new(),
            )
        }
    };
    if !dhcp_on.is_empty() || network_data.is_none() {
        let leases = dhcp_all(nl, &opts.sys, &dhcp_on, opts.dhcp_attempts).await;
        let mut failures = Vec::new();
        for (name, lease) in &leases {
            match lease {
                Ok(lease) => {
                    done.lines.push(format!(
                        "{name} {}/{} by DHCP from {}",
                        lease.address, lease.prefix, lease.server
                    ));
                    for server in &lease.dns {
                        if !dns.contains(&IpAddr::V4(*server)) {
                            dns.push(IpAddr::V4(*server));
                        }
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        // No address at all: nothing to call home with, so the caller tries again.
        if leases.iter().all(|(_, l)| l.is_err()) && static_addresses == 0 {
            let why = if dhcp_on.is_empty() {
                "no NIC has a link".to_string()
            } else {
                failures.join("; ")
            };
            return Err(NetError::NoLease(why));
        }
        done.lines.extend(failures);
    }
    write_resolv(&opts.resolv_conf, &dns)?;
    if !dns.is_empty() {
        let list: Vec<String> = dns.iter().map(IpAddr::to_string).collect();
        done.lines.push(format!("DNS {}", list.join(" ")));
    }
    Ok(done)
}

fn write_resolv(path: &Path, dns: &[IpAddr]) -> Result<(), NetError> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, plan::resolv_conf(dns, &[])).map_err(|source| NetError::Resolv {
        path: path.to_path_buf(),
        source,
    })
}

/// The NICs of `nics` that have a link within `wait` (all that have one once any has and
/// the others had a moment more).
async fn with_carrier(sys: &Path, nics: &[String], wait: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut first_seen: Option<tokio::time::Instant> = None;
    loop {
        let up: Vec<String> = nics
            .iter()
            .filter(|n| sysfs::nic_carrier(sys, n))
            .cloned()
            .collect();
        let now = tokio::time::Instant::now();
        if up.len() == nics.len() || now >= deadline {
            return up;
        }
        if !up.is_empty() {
            let since = *first_seen.get_or_insert(now);
            if now - since >= Duration::from_secs(2) {
                return up;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// DHCP on every NIC of `names` at once; each lease is applied and kept renewed.
async fn dhcp_all(
    nl: &Netlink,
    sys: &Path,
    names: &[String],
    attempts: u32,
) -> Vec<(String, Result<Lease, NetError>)> {
    let runs = names.iter().enumerate().map(|(n, name)| async move {
        let result = dhcp_one(nl, sys, name, attempts, 100 + n as u32).await;
        (name.clone(), result)
    });
    futures::future::join_all(runs).await
}

async fn dhcp_one(
    nl: &Netlink,
    sys: &Path,
    name: &str,
    attempts: u32,
    metric: u32,
) -> Result<Lease, NetError> {
    let mac = sysfs::nic_mac(sys, name)
        .as_deref()
        .and_then(parse_mac)
        .ok_or_else(|| NetError::NoLease(format!("{name} has no MAC")))?;
    let lease = dhcp::obtain(name, mac, attempts)
        .await
        .map_err(|e| NetError::NoLease(e.to_string()))?;
    let interfaces = nl.interfaces().await?;
    let index = interfaces
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.index)
        .ok_or_else(|| NetError::NoLease(format!("{name} disappeared")))?;
    apply_lease(nl, index, &lease, metric).await?;
    tokio::spawn(keep_renewed(
        nl.clone(),
        name.to_string(),
        mac,
        index,
        lease.clone(),
        metric,
    ));
    Ok(lease)
}

async fn apply_lease(nl: &Netlink, index: u32, lease: &Lease, metric: u32) -> Result<(), NetError> {
    nl.add_address(index, IpAddr::V4(lease.address), lease.prefix)
        .await?;
    if let Some(router) = lease.router {
        let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        nl.add_route(index, any, 0, IpAddr::V4(router), metric)
            .await?;
    }
    Ok(())
}

/// Renews `lease` at half its time, for as long as the agent runs; a lease the server will
/// not renew is replaced by a new one.
async fn keep_renewed(
    nl: Netlink,
    name: String,
    mac: [u8; 6],
    index: u32,
    mut lease: Lease,
    metric: u32,
) {
    loop {
        let half = Duration::from_secs(u64::from(lease.lease_secs.max(60)) / 2);
        tokio::time::sleep(half).await;
        let next = match dhcp::renew(&name, mac, &lease).await {
            Some(next) => Some(next),
            None => dhcp::obtain(&name, mac, 6).await.ok(),
        };
        if let Some(next) = next {
            if next.address != lease.address || next.prefix != lease.prefix {
                crate::console::say(format!(
                    "{name}: DHCP gave a new address {}/{}",
                    next.address, next.prefix
                ));
            }
            let _ = apply_lease(&nl, index, &next, metric).await;
            lease = next;
        }
    }
}

/// Every interface's addresses by name (for the inventory), empty when netlink fails.
pub async fn addresses(nl: &Netlink) -> BTreeMap<String, Vec<IpAddr>> {
    nl.addresses().await.unwrap_or_default()
}
