//! The host's network data (OpenStack's `network_data.json`, as Metal³ and Ironic write it)
//! turned into a plan: which links to bring up or create (NICs matched by MAC, VLANs, bonds),
//! which addresses and routes to add, where to run DHCP and which DNS servers to use. Pure:
//! the netlink side applies a plan to a resolved set of interface names.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

/// Why network data cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("network data is not valid: {0}")]
    Parse(String),
    #[error("link {link:?}: type {kind:?} is not supported (phy, ethernet, vif, vlan, bond are)")]
    UnsupportedLink { link: String, kind: String },
    #[error("link {0:?} has no ethernet_mac_address to find its NIC by")]
    NoMac(String),
    #[error("link {link:?} refers to {missing:?}, which no link defines")]
    UnknownLink { link: String, missing: String },
    #[error("link {0:?}: a VLAN needs vlan_link and vlan_id")]
    IncompleteVlan(String),
    #[error("link {0:?}: a bond needs bond_links, each a NIC (phy/ethernet) link")]
    BadBond(String),
    #[error("link {link:?}: bond_mode {mode:?} is not a Linux bonding mode")]
    BadBondMode { link: String, mode: String },
    #[error("network {network:?}: {what} {value:?} is not valid")]
    BadAddress {
        network: String,
        what: &'static str,
        value: String,
    },
    #[error(
        "network {network:?}: type {kind:?} is not supported (ipv4, ipv6, ipv4_dhcp, ipv6_dhcp, ipv6_slaac are)"
    )]
    UnsupportedNetwork { network: String, kind: String },
    #[error("no NIC of this host has MAC {mac} (link {link:?})")]
    NoNic { link: String, mac: String },
}

#[derive(Deserialize)]
struct NetworkData {
    #[serde(default)]
    links: Vec<RawLink>,
    #[serde(default)]
    networks: Vec<RawNetwork>,
    #[serde(default)]
    services: Vec<RawService>,
}

#[derive(Deserialize)]
struct RawLink {
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    ethernet_mac_address: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    vlan_link: Option<String>,
    #[serde(default)]
    vlan_id: Option<u16>,
    #[serde(default)]
    vlan_mac_address: Option<String>,
    #[serde(default)]
    bond_links: Vec<String>,
    #[serde(default)]
    bond_mode: Option<String>,
    #[serde(default)]
    bond_miimon: Option<u32>,
    #[serde(default)]
    bond_xmit_hash_policy: Option<String>,
}

#[derive(Deserialize)]
struct RawNetwork {
    #[serde(default)]
    id: String,
    #[serde(rename = "type")]
    kind: String,
    link: String,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    netmask: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    dns_nameservers: Vec<String>,
}

#[derive(Deserialize)]
struct RawRoute {
    network: String,
    netmask: String,
    gateway: String,
}

#[derive(Deserialize)]
struct RawService {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    address: String,
}

/// Linux bonding modes, by the names `network_data.json` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Lacp,
    BalanceTlb,
    BalanceAlb,
}

impl BondMode {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "balance-rr" | "0" => Self::BalanceRr,
            "active-backup" | "1" => Self::ActiveBackup,
            "balance-xor" | "2" => Self::BalanceXor,
            "broadcast" | "3" => Self::Broadcast,
            "802.3ad" | "4" => Self::Lacp,
            "balance-tlb" | "5" => Self::BalanceTlb,
            "balance-alb" | "6" => Self::BalanceAlb,
            _ => return None,
        })
    }
}

/// Transmit hash policies of a bond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashPolicy {
    Layer2,
    Layer23,
    Layer34,
}

/// What a link is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// A NIC of the host, found by its MAC.
    Nic { mac: String },
    Vlan {
        parent: String,
        vlan_id: u16,
        mac: Option<String>,
    },
    Bond {
        members: Vec<String>,
        mode: BondMode,
        miimon: Option<u32>,
        hash_policy: Option<HashPolicy>,
        mac: Option<String>,
    },
}

/// A link of the plan, by its network data id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub kind: LinkKind,
    pub mtu: Option<u32>,
}

/// An address on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub link: String,
    pub ip: IpAddr,
    pub prefix: u8,
}

/// A route through a gateway on a link (`0.0.0.0/0`: the default route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub link: String,
    pub destination: IpAddr,
    pub prefix: u8,
    pub gateway: IpAddr,
}

/// The network as it should be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// In creation order: NICs, then bonds, then VLANs.
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    /// Links to run DHCP (IPv4) on.
    pub dhcp4: Vec<String>,
    /// Links whose IPv6 comes from router advertisements (`ipv6_dhcp`, `ipv6_slaac`).
    pub autoconf6: Vec<String>,
    pub dns: Vec<IpAddr>,
}

impl Plan {
    /// The plan for `network_data`.
    pub fn from_network_data(network_data: &serde_json::Value) -> Result<Self, PlanError> {
        let data: NetworkData = serde_json::from_value(network_data.clone())
            .map_err(|e| PlanError::Parse(e.to_string()))?;
        let mut plan = Plan::default();
        let mut links = data.links.iter().map(link).collect::<Result<Vec<_>, _>>()?;
        links.sort_by_key(|l| match l.kind {
            LinkKind::Nic { .. } => 0,
            LinkKind::Bond { .. } => 1,
            LinkKind::Vlan { .. } => 2,
        });
        check_references(&links)?;
        plan.links = links;
        for network in &data.networks {
            plan.add_network(network)?;
        }
        for service in data.services.iter().filter(|s| s.kind == "dns") {
            let ip = service.address.parse().map_err(|_| PlanError::BadAddress {
                network: "services".into(),
                what: "dns address",
                value: service.address.clone(),
            })?;
            push_unique(&mut plan.dns, ip);
        }
        Ok(plan)
    }

    fn has_link(&self, id: &str) -> bool {
        self.links.iter().any(|l| l.id == id)
    }

    fn add_network(&mut self, n: &RawNetwork) -> Result<(), PlanError> {
        let name = if n.id.is_empty() { &n.link } else { &n.id };
        if !self.has_link(&n.link) {
            return Err(PlanError::UnknownLink {
                link: name.clone(),
                missing: n.link.clone(),
            });
        }
        let bad = |what: &'static str, value: &str| PlanError::BadAddress {
            network: name.clone(),
            what,
            value: value.to_string(),
        };
        match n.kind.as_str() {
            "ipv4_dhcp" | "dhcp4" => push_unique(&mut self.dhcp4, n.link.clone()),
            "ipv6_dhcp" | "ipv6_dhcpv6-stateful" | "ipv6_dhcpv6-stateless" | "ipv6_slaac" => {
                push_unique(&mut self.autoconf6, n.link.clone())
            }
            "ipv4" | "ipv6" => {
                let text = n.ip_address.as_deref().unwrap_or_default();
                let (ip, prefix) = address_and_prefix(text, n.netmask.as_deref())
                    .ok_or_else(|| bad("ip_address/netmask", text))?;
                if (n.kind == "ipv4") != ip.is_ipv4() {
                    return Err(bad("ip_address", text));
                }
                self.addresses.push(Address {
                    link: n.link.clone(),
                    ip,
                    prefix,
                });
                if let Some(gw) = n.gateway.as_deref().filter(|g| !g.is_empty()) {
                    let gateway: IpAddr = gw.parse().map_err(|_| bad("gateway", gw))?;
                    let any = if ip.is_ipv4() {
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                    };
                    self.push_route(&n.link, any, 0, gateway);
                }
                for r in &n.routes {
                    let (destination, prefix) = address_and_prefix(&r.network, Some(&r.netmask))
                        .ok_or_else(|| bad("route", &r.network))?;
                    let gateway = r
                        .gateway
                        .parse()
                        .map_err(|_| bad("route gateway", &r.gateway))?;
                    self.push_route(&n.link, destination, prefix, gateway);
                }
            }
            other => {
                return Err(PlanError::UnsupportedNetwork {
                    network: name.clone(),
                    kind: other.to_string(),
                });
            }
        }
        for dns in &n.dns_nameservers {
            let ip = dns.parse().map_err(|_| bad("dns_nameservers", dns))?;
            push_unique(&mut self.dns, ip);
        }
        Ok(())
    }

    fn push_route(&mut self, link: &str, destination: IpAddr, prefix: u8, gateway: IpAddr) {
        let route = Route {
            link: link.to_string(),
            destination,
            prefix,
            gateway,
        };
        if !self
            .routes
            .iter()
            .any(|r| r.destination == destination && r.prefix == prefix)
        {
            self.routes.push(route);
        }
    }

    /// The interface name of every link, given the host's NICs as `(name, mac)`: NICs by MAC,
    /// a bond by its id when that is a usable interface name (else `bond<N>`), a VLAN as
    /// `<parent>.<id>` (else `vlan<id>`).
    pub fn resolve(
        &self,
        nics: &[(String, String)],
    ) -> Result<BTreeMap<String, String>, PlanError> {
        let mut names = BTreeMap::new();
        let mut bonds = 0;
        for link in &self.links {
            let name = match &link.kind {
                LinkKind::Nic { mac } => nics
                    .iter()
                    .find(|(_, m)| m.eq_ignore_ascii_case(mac))
                    .map(|(n, _)| n.clone())
                    .ok_or_else(|| PlanError::NoNic {
                        link: link.id.clone(),
                        mac: mac.clone(),
                    })?,
                LinkKind::Bond { .. } => {
                    let taken = |n: &str| nics.iter().any(|(name, _)| name == n);
                    if usable_ifname(&link.id) && !taken(&link.id) {
                        link.id.clone()
                    } else {
                        bonds += 1;
                        format!("bond{}", bonds - 1)
                    }
                }
                LinkKind::Vlan {
                    parent, vlan_id, ..
                } => {
                    let parent = names.get(parent).cloned().unwrap_or_default();
                    let name = format!("{parent}.{vlan_id}");
                    if usable_ifname(&name) {
                        name
                    } else {
                        format!("vlan{vlan_id}")
                    }
                }
            };
            names.insert(link.id.clone(), name);
        }
        Ok(names)
    }
}

fn push_unique<T: PartialEq>(items: &mut Vec<T>, item: T) {
    if !items.contains(&item) {
        items.push(item);
    }
}

/// Whether `name` can name a network interface (at most 15 bytes, no `/`, `:` or spaces).
fn usable_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn link(raw: &RawLink) -> Result<Link, PlanError> {
    let mac = |m: &Option<String>| m.clone().filter(|m| !m.is_empty());
    let kind = match raw.kind.as_str() {
        "phy" | "ethernet" | "vif" | "" => LinkKind::Nic {
            mac: mac(&raw.ethernet_mac_address).ok_or_else(|| PlanError::NoMac(raw.id.clone()))?,
        },
        "vlan" => LinkKind::Vlan {
            parent: raw
                .vlan_link
                .clone()
                .ok_or_else(|| PlanError::IncompleteVlan(raw.id.clone()))?,
            vlan_id: raw
                .vlan_id
                .ok_or_else(|| PlanError::IncompleteVlan(raw.id.clone()))?,
            mac: mac(&raw.vlan_mac_address).or_else(|| mac(&raw.ethernet_mac_address)),
        },
        "bond" => {
            if raw.bond_links.is_empty() {
                return Err(PlanError::BadBond(raw.id.clone()));
            }
            let mode_text = raw.bond_mode.as_deref().unwrap_or("balance-rr");
            LinkKind::Bond {
                members: raw.bond_links.clone(),
                mode: BondMode::parse(mode_text).ok_or_else(|| PlanError::BadBondMode {
                    link: raw.id.clone(),
                    mode: mode_text.to_string(),
                })?,
                miimon: raw.bond_miimon,
                hash_policy: raw.bond_xmit_hash_policy.as_deref().and_then(|p| match p {
                    "layer2" => Some(HashPolicy::Layer2),
                    "layer2+3" => Some(HashPolicy::Layer23),
                    "layer3+4" => Some(HashPolicy::Layer34),
                    _ => None,
                }),
                mac: mac(&raw.ethernet_mac_address),
            }
        }
        other => {
            return Err(PlanError::UnsupportedLink {
                link: raw.id.clone(),
                kind: other.to_string(),
            });
        }
    };
    Ok(Link {
        id: raw.id.clone(),
        kind,
        mtu: raw.mtu,
    })
}

/// Every link a VLAN or bond names exists, bond members are NICs, and a VLAN sits on a NIC
/// or a bond.
fn check_references(links: &[Link]) -> Result<(), PlanError> {
    let find = |id: &str| links.iter().find(|l| l.id == id);
    for l in links {
        match &l.kind {
            LinkKind::Nic { .. } => {}
            LinkKind::Vlan { parent, .. } => match find(parent) {
                None => {
                    return Err(PlanError::UnknownLink {
                        link: l.id.clone(),
                        missing: parent.clone(),
                    });
                }
                Some(Link {
                    kind: LinkKind::Vlan { .. },
                    ..
                }) => return Err(PlanError::IncompleteVlan(l.id.clone())),
                Some(_) => {}
            },
            LinkKind::Bond { members, .. } => {
                for m in members {
                    match find(m) {
                        None => {
                            return Err(PlanError::UnknownLink {
                                link: l.id.clone(),
                                missing: m.clone(),
                            });
                        }
                        Some(Link {
                            kind: LinkKind::Nic { .. },
                            ..
                        }) => {}
                        Some(_) => return Err(PlanError::BadBond(l.id.clone())),
                    }
                }
            }
        }
    }
    Ok(())
}

/// An address and its prefix length from `ip_address` (which may carry `/prefix`) and an
/// optional netmask (dotted IPv4, IPv6 mask notation, or a bare prefix length).
pub fn address_and_prefix(address: &str, netmask: Option<&str>) -> Option<(IpAddr, u8)> {
    let (ip_text, inline) = match address.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix.parse::<u8>().ok()?)),
        None => (address, None),
    };
    let ip: IpAddr = ip_text.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match (inline, netmask.map(str::trim).filter(|m| !m.is_empty())) {
        (Some(p), _) => p,
        (None, Some(mask)) => mask_prefix(mask)?,
        (None, None) => max,
    };
    (prefix <= max).then_some((ip, prefix))
}

/// The prefix length of a contiguous netmask, or of a bare number.
fn mask_prefix(mask: &str) -> Option<u8> {
    if let Ok(n) = mask.parse::<u8>() {
        return Some(n);
    }
    let bits: u128 = match mask.parse::<IpAddr>().ok()? {
        IpAddr::V4(m) => u128::from(u32::from(m)) << 96,
        IpAddr::V6(m) => u128::from(m),
    };
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// `/etc/resolv.conf` naming `servers` (at most three, as the resolver reads).
pub fn resolv_conf(servers: &[IpAddr], search: &[String]) -> String {
    let mut text = String::from("# written by metal3-agent\n");
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers.iter().take(3) {
        text.push_str(&format!("nameserver {s}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MAC0: &str = "52:54:00:00:00:01";
    const MAC1: &str = "52:54:00:00:00:02";

    fn nics() -> Vec<(String, String)> {
        vec![("eth0".into(), MAC0.into()), ("eth1".into(), MAC1.into())]
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn a_static_ipv4_network_on_a_nic() {
        let data = json!({
            "links": [{"id": "enp1s0", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01", "mtu": 9000}],
            "networks": [{"id": "net0", "type": "ipv4", "link": "enp1s0",
                          "ip_address": "192.168.111.20", "netmask": "255.255.255.0",
                          "gateway": "192.168.111.1",
                          "routes": [{"network": "10.10.0.0", "netmask": "255.255.0.0", "gateway": "192.168.111.254"},
                                     {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.168.111.1"}],
                          "dns_nameservers": ["192.168.111.53"]}],
            "services": [{"type": "dns", "address": "8.8.8.8"}, {"type": "dns", "address": "192.168.111.53"}]
        });
        let plan = Plan::from_network_data(&data).expect("plan");
        assert_eq!(
            plan.links,
            vec![Link {
                id: "enp1s0".into(),
                kind: LinkKind::Nic { mac: MAC0.into() },
                mtu: Some(9000)
            }]
        );
        assert_eq!(
            plan.addresses,
            vec![Address {
                link: "enp1s0".into(),
                ip: ip("192.168.111.20"),
                prefix: 24
            }]
        );
        assert_eq!(
            plan.routes,
            vec![
                Route {
                    link: "enp1s0".into(),
                    destination: ip("0.0.0.0"),
                    prefix: 0,
                    gateway: ip("192.168.111.1")
                },
                Route {
                    link: "enp1s0".into(),
                    destination: ip("10.10.0.0"),
                    prefix: 16,
                    gateway: ip("192.168.111.254")
                },
            ],
            "the default route once, though given twice"
        );
        assert_eq!(plan.dns, vec![ip("192.168.111.53"), ip("8.8.8.8")]);
        let names = plan.resolve(&nics()).expect("resolve");
        assert_eq!(names["enp1s0"], "eth0", "matched by MAC, not by name");
    }

    #[test]
    fn a_vlan_on_a_bond_of_two_nics_with_ipv6() {
        let data = json!({
            "links": [
                {"id": "vlan100", "type": "vlan", "vlan_link": "bond0", "vlan_id": 100,
                 "vlan_mac_address": "52:54:00:00:00:01"},
                {"id": "bond0", "type": "bond", "bond_links": ["nic0", "nic1"],
                 "bond_mode": "802.3ad", "bond_miimon": 100, "bond_xmit_hash_policy": "layer3+4",
                 "ethernet_mac_address": "52:54:00:00:00:01"},
                {"id": "nic0", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01"},
                {"id": "nic1", "type": "ethernet", "ethernet_mac_address": "52:54:00:00:00:02"}
            ],
            "networks": [
                {"id": "v6", "type": "ipv6", "link": "vlan100", "ip_address": "fd00:100::20/64",
                 "gateway": "fd00:100::1"},
                {"id": "v6b", "type": "ipv6", "link": "bond0", "ip_address": "fd00:200::20",
                 "netmask": "ffff:ffff:ffff:ffff::"},
                {"id": "d", "type": "ipv4_dhcp", "link": "nic1"}
            ]
        });
        let plan = Plan::from_network_data(&data).expect("plan");
        let order: Vec<_> = plan.links.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(order, ["nic0", "nic1", "bond0", "vlan100"], "parents first");
        assert_eq!(
            plan.links[2].kind,
            LinkKind::Bond {
                members: vec!["nic0".into(), "nic1".into()],
                mode: BondMode::Lacp,
                miimon: Some(100),
                hash_policy: Some(HashPolicy::Layer34),
                mac: Some(MAC0.into()),
            }
        );
        assert_eq!(plan.addresses[0].prefix, 64);
        assert_eq!(plan.addresses[1].prefix, 64);
        assert_eq!(plan.routes[0].destination, ip("::"));
        assert_eq!(plan.dhcp4, vec!["nic1".to_string()]);
        let names = plan.resolve(&nics()).expect("resolve");
        assert_eq!(names["bond0"], "bond0");
        assert_eq!(names["vlan100"], "bond0.100");
        assert_eq!(names["nic1"], "eth1");
    }

    #[test]
    fn names_that_cannot_be_interface_names_are_replaced() {
        let data = json!({"links": [
            {"id": "a-very-long-bond-link-id", "type": "bond", "bond_links": ["n"]},
            {"id": "n", "type": "phy", "ethernet_mac_address": MAC0},
            {"id": "v", "type": "vlan", "vlan_link": "a-very-long-bond-link-id", "vlan_id": 4000}
        ]});
        let plan = Plan::from_network_data(&data).expect("plan");
        let names = plan.resolve(&nics()).expect("resolve");
        assert_eq!(names["a-very-long-bond-link-id"], "bond0");
        assert_eq!(names["v"], "bond0.4000");
        let clash = json!({"links": [
            {"id": "eth0", "type": "bond", "bond_links": ["n"]},
            {"id": "n", "type": "phy", "ethernet_mac_address": MAC1}
        ]});
        let names = Plan::from_network_data(&clash)
            .expect("plan")
            .resolve(&nics())
            .expect("resolve");
        assert_eq!(names["eth0"], "bond0", "a NIC already has that name");
    }

    #[test]
    fn bad_network_data_is_refused_with_a_reason() {
        let nic = json!({"id": "n", "type": "phy", "ethernet_mac_address": MAC0});
        let cases = [
            (
                json!({"links": [{"id": "x", "type": "bridge"}]}),
                "not supported",
            ),
            (
                json!({"links": [{"id": "x", "type": "phy"}]}),
                "no ethernet_mac_address",
            ),
            (
                json!({"links": [{"id": "v", "type": "vlan", "vlan_link": "n"}]}),
                "vlan_id",
            ),
            (
                json!({"links": [{"id": "v", "type": "vlan", "vlan_link": "zz", "vlan_id": 5}]}),
                "\"zz\"",
            ),
            (
                json!({"links": [nic, {"id": "b", "type": "bond", "bond_links": []}]}),
                "bond needs",
            ),
            (
                json!({"links": [nic, {"id": "b", "type": "bond", "bond_links": ["n"], "bond_mode": "fast"}]}),
                "\"fast\"",
            ),
            (
                json!({"links": [nic, {"id": "v", "type": "vlan", "vlan_link": "n", "vlan_id": 5},
                              {"id": "b", "type": "bond", "bond_links": ["v"]}]}),
                "bond needs",
            ),
            (
                json!({"links": [nic], "networks": [{"type": "ipv4", "link": "m", "ip_address": "10.0.0.1"}]}),
                "\"m\"",
            ),
            (
                json!({"links": [nic], "networks": [{"type": "ipv4", "link": "n", "ip_address": "10.0.0.300"}]}),
                "ip_address",
            ),
            (
                json!({"links": [nic], "networks": [{"type": "ipv4", "link": "n", "ip_address": "10.0.0.1", "netmask": "255.0.255.0"}]}),
                "netmask",
            ),
            (
                json!({"links": [nic], "networks": [{"type": "ipv4", "link": "n", "ip_address": "fd00::1"}]}),
                "ip_address",
            ),
            (
                json!({"links": [nic], "networks": [{"type": "ipv4", "link": "n", "ip_address": "10.0.0.1", "gateway": "x"}]}),
                "gateway",
            ),
            (
                json!({"links": [nic], "networks": [{"type": "infiniband", "link": "n"}]}),
                "infiniband",
            ),
            (
                json!({"links": [nic], "services": [{"type": "dns", "address": "dns.example"}]}),
                "dns",
            ),
            (json!({"links": "nope"}), "not valid"),
        ];
        for (data, says) in cases {
            let err = Plan::from_network_data(&data).expect_err(&data.to_string());
            assert!(err.to_string().contains(says), "{data}: {err}");
        }
        let plan = Plan::from_network_data(&json!({"links": [{"id": "n", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:09"}]}))
            .expect("plan");
        let err = plan.resolve(&nics()).expect_err("no such NIC");
        assert!(err.to_string().contains("52:54:00:00:00:09"), "{err}");
    }

    #[test]
    fn addresses_and_masks_in_every_notation() {
        type Case<'a> = (&'a str, Option<&'a str>, Option<(&'a str, u8)>);
        let cases: [Case; 9] = [
            ("10.0.0.5", Some("255.255.255.0"), Some(("10.0.0.5", 24))),
            ("10.0.0.5/16", None, Some(("10.0.0.5", 16))),
            ("10.0.0.5", Some("22"), Some(("10.0.0.5", 22))),
            ("10.0.0.5", None, Some(("10.0.0.5", 32))),
            (
                "fd00::5",
                Some("ffff:ffff:ffff:ff00::"),
                Some(("fd00::5", 56)),
            ),
            ("fd00::5", None, Some(("fd00::5", 128))),
            ("10.0.0.5/33", None, None),
            ("10.0.0.5", Some("255.255.0.255"), None),
            ("not-an-ip", None, None),
        ];
        for (address, mask, want) in cases {
            assert_eq!(
                address_and_prefix(address, mask),
                want.map(|(a, p)| (ip(a), p)),
                "{address} {mask:?}"
            );
        }
    }

    #[test]
    fn resolv_conf_names_at_most_three_servers() {
        let servers = [
            ip("10.0.0.53"),
            ip("fd00::53"),
            ip("8.8.8.8"),
            ip("1.1.1.1"),
        ];
        let text = resolv_conf(&servers, &["example.test".into()]);
        assert_eq!(
            text,
            "# written by metal3-agent\nsearch example.test\nnameserver 10.0.0.53\nnameserver fd00::53\nnameserver 8.8.8.8\n"
        );
    }
}
