//! The kernel's network configuration through rtnetlink: links (up, MTU, MAC, bonds,
//! VLANs), addresses and routes. Adding what is already there is not an error, so a plan
//! can be applied again after a failure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    BondMode as NlBondMode, BondXmitHashPolicy, LinkAttribute, LinkFlags, LinkMessage,
};
use rtnetlink::{Handle, LinkBond, LinkUnspec, LinkVlan, RouteMessageBuilder};

use super::plan::{BondMode, HashPolicy, LinkKind, Plan};
use crate::config::{format_mac, parse_mac};

/// A netlink request that failed, saying what it was for.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct NetlinkError {
    pub what: String,
    #[source]
    pub source: rtnetlink::Error,
}

/// A network interface as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    pub mac: String,
    pub up: bool,
}

/// A connection to the kernel's routing netlink.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

fn exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc_eexist())
}

const fn libc_eexist() -> i32 {
    nix::errno::Errno::EEXIST as i32
}

impl Netlink {
    /// Opens a connection (in the network namespace of the calling thread). Needs a tokio
    /// runtime.
    pub fn connect() -> std::io::Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// Every interface.
    pub async fn interfaces(&self) -> Result<Vec<Interface>, NetlinkError> {
        let messages: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| NetlinkError {
                what: "list links".into(),
                source,
            })?;
        Ok(messages.iter().map(interface).collect())
    }

    async fn index(&self, name: &str) -> Result<u32, NetlinkError> {
        let found = self
            .interfaces()
            .await?
            .into_iter()
            .find(|i| i.name == name);
        found.map(|i| i.index).ok_or_else(|| NetlinkError {
            what: format!("find link {name}"),
            source: rtnetlink::Error::RequestFailed,
        })
    }

    async fn set(&self, what: String, message: LinkMessage) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|source| NetlinkError { what, source })
    }

    /// Brings interface `index` up.
    pub async fn up(&self, index: u32) -> Result<(), NetlinkError> {
        self.set(
            format!("set link {index} up"),
            LinkUnspec::new_with_index(index).up().build(),
        )
        .await
    }

    /// Turns all-multicast reception on or off (LLDP frames go to a multicast address).
    pub async fn allmulticast(&self, index: u32, on: bool) -> Result<(), NetlinkError> {
        self.set(
            format!("set link {index} allmulticast {on}"),
            LinkUnspec::new_with_index(index).allmulticast(on).build(),
        )
        .await
    }

    /// Adds `ip/prefix` to interface `index` (already there: fine).
    pub async fn add_address(
        &self,
        index: u32,
        ip: IpAddr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        match self.handle.address().add(index, ip, prefix).execute().await {
            Err(e) if !exists(&e) => Err(NetlinkError {
                what: format!("add address {ip}/{prefix}"),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Adds a route to `destination/prefix` through `gateway` on interface `index`, with
    /// `metric` (already there: fine).
    pub async fn add_route(
        &self,
        index: u32,
        destination: IpAddr,
        prefix: u8,
        gateway: IpAddr,
        metric: u32,
    ) -> Result<(), NetlinkError> {
        let message = match (destination, gateway) {
            (IpAddr::V4(d), IpAddr::V4(g)) => RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(d, prefix)
                .gateway(g)
                .output_interface(index)
                .priority(metric)
                .build(),
            (IpAddr::V6(d), IpAddr::V6(g)) => RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(d, prefix)
                .gateway(g)
                .output_interface(index)
                .priority(metric)
                .build(),
            _ => {
                return Err(NetlinkError {
                    what: format!("route to {destination}/{prefix} via {gateway}: mixed families"),
                    source: rtnetlink::Error::RequestFailed,
                });
            }
        };
        match self.handle.route().add(message).execute().await {
            Err(e) if !exists(&e) => Err(NetlinkError {
                what: format!("add route to {destination}/{prefix} via {gateway}"),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// The addresses of every interface, by interface name.
    pub async fn addresses(&self) -> Result<BTreeMap<String, Vec<IpAddr>>, NetlinkError> {
        let names: BTreeMap<u32, String> = self
            .interfaces()
            .await?
            .into_iter()
            .map(|i| (i.index, i.name))
            .collect();
        let messages: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| NetlinkError {
                what: "list addresses".into(),
                source,
            })?;
        let mut out: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for m in messages {
            let Some(name) = names.get(&m.header.index) else {
                continue;
            };
            for attr in &m.attributes {
                if let AddressAttribute::Address(ip) = attr {
                    out.entry(name.clone()).or_default().push(*ip);
                }
            }
        }
        Ok(out)
    }

    /// Creates and configures the links of `plan`, named as `names` says; returns nothing
    /// about addresses (see [`Netlink::apply_addresses`]).
    pub async fn apply_links(
        &self,
        plan: &Plan,
        names: &BTreeMap<String, String>,
    ) -> Result<(), NetlinkError> {
        let name_of = |id: &str| names.get(id).cloned().unwrap_or_default();
        for link in &plan.links {
            let name = name_of(&link.id);
            match &link.kind {
                LinkKind::Nic { .. } => {}
                LinkKind::Bond {
                    members,
                    mode,
                    miimon,
                    hash_policy,
                    ..
                } => {
                    let mut bond = LinkBond::new(&name).mode(bond_mode(*mode));
                    if let Some(ms) = miimon {
                        bond = bond.miimon(*ms);
                    }
                    if let Some(policy) = hash_policy {
                        bond = bond.xmit_hash_policy(hash(*policy));
                    }
                    self.add_link(&name, bond.build()).await?;
                    let bond_index = self.index(&name).await?;
                    for member in members {
                        let member = name_of(member);
                        let index = self.index(&member).await?;
                        self.set(
                            format!("add {member} to bond {name}"),
                            LinkUnspec::new_with_index(index)
                                .down()
                                .controller(bond_index)
                                .build(),
                        )
                        .await?;
                    }
                }
                LinkKind::Vlan {
                    parent, vlan_id, ..
                } => {
                    let parent_index = self.index(&name_of(parent)).await?;
                    self.add_link(&name, LinkVlan::new(&name, parent_index, *vlan_id).build())
                        .await?;
                }
            }
            let index = self.index(&name).await?;
            let mut message = LinkUnspec::new_with_index(index).up();
            if let Some(mtu) = link.mtu {
                message = message.mtu(mtu);
            }
            if let Some(mac) = link_mac(&link.kind) {
                message = message.address(mac.to_vec());
            }
            self.set(format!("configure link {name}"), message.build())
                .await?;
        }
        Ok(())
    }

    async fn add_link(&self, name: &str, message: LinkMessage) -> Result<(), NetlinkError> {
        match self.handle.link().add(message).execute().await {
            Err(e) if !exists(&e) => Err(NetlinkError {
                what: format!("create link {name}"),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Adds the static addresses and routes of `plan`.
    pub async fn apply_addresses(
        &self,
        plan: &Plan,
        names: &BTreeMap<String, String>,
    ) -> Result<(), NetlinkError> {
        for a in &plan.addresses {
            let index = self
                .index(names.get(&a.link).map_or("", String::as_str))
                .await?;
            self.add_address(index, a.ip, a.prefix).await?;
        }
        for r in &plan.routes {
            let index = self
                .index(names.get(&r.link).map_or("", String::as_str))
                .await?;
            self.add_route(index, r.destination, r.prefix, r.gateway, 0)
                .await?;
        }
        Ok(())
    }
}

/// A VLAN's or bond's own MAC, when the network data gives one (a NIC keeps its own).
fn link_mac(kind: &LinkKind) -> Option<[u8; 6]> {
    match kind {
        LinkKind::Nic { .. } => None,
        LinkKind::Vlan { mac, .. } | LinkKind::Bond { mac, .. } => {
            mac.as_deref().and_then(parse_mac)
        }
    }
}

fn bond_mode(mode: BondMode) -> NlBondMode {
    match mode {
        BondMode::BalanceRr => NlBondMode::BalanceRr,
        BondMode::ActiveBackup => NlBondMode::ActiveBackup,
        BondMode::BalanceXor => NlBondMode::BalanceXor,
        BondMode::Broadcast => NlBondMode::Broadcast,
        BondMode::Lacp => NlBondMode::Ieee8023Ad,
        BondMode::BalanceTlb => NlBondMode::BalanceTlb,
        BondMode::BalanceAlb => NlBondMode::BalanceAlb,
    }
}

fn hash(policy: HashPolicy) -> BondXmitHashPolicy {
    match policy {
        HashPolicy::Layer2 => BondXmitHashPolicy::Layer2,
        HashPolicy::Layer23 => BondXmitHashPolicy::Layer23,
        HashPolicy::Layer34 => BondXmitHashPolicy::Layer34,
    }
}

fn interface(m: &LinkMessage) -> Interface {
    let mut out = Interface {
        index: m.header.index,
        name: String::new(),
        mac: String::new(),
        up: m.header.flags.contains(LinkFlags::Up),
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(name) => out.name = name.clone(),
            LinkAttribute::Address(mac) if mac.len() == 6 => out.mac = format_mac(mac),
            _ => {}
        }
    }
    out
}
