//! What the provider decides about IP pools without I/O: the name and labels of a Metal3Data's
//! IPClaim (BareMetalHost-name-based preallocation), whether a claim found by name is the
//! data's own, and the DNS servers of a Cluster API address taken from its Metal3 IPPool.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// Label naming the Metal3Data of a claim named after its host (as upstream).
pub const DATA_NAME_LABEL: &str = "infrastructure.cluster.x-k8s.io/data-name";
/// Label naming the pool of a claim named after its host (as upstream).
pub const POOL_NAME_LABEL: &str = "infrastructure.cluster.x-k8s.io/pool-name";

/// The name of a claim named after its Metal3Data: `<data>-<pool>`.
pub fn data_claim_name(data: &str, pool: &str) -> String {
    format!("{data}-{pool}")
}

/// The name of a claim named after the host (`--enable-bmh-name-based-preallocation`):
/// `<host>-<pool>`, so an IPPool's `preAllocations` keyed by it pins an address to the host.
pub fn host_claim_name(host: &str, pool: &str) -> String {
    format!("{host}-{pool}")
}

/// The name and labels of a new IPClaim of `data` (whose labels are `data_labels`) for `pool`:
/// named after the host, with labels naming the data and the pool (by which it is found again
/// when released), when `host_based`; else named after the data with the data's labels.
pub fn new_claim(
    data: &str,
    data_labels: &BTreeMap<String, String>,
    host: &str,
    pool: &str,
    host_based: bool,
) -> (String, BTreeMap<String, String>) {
    let mut labels = data_labels.clone();
    if host_based {
        labels.insert(DATA_NAME_LABEL.into(), data.into());
        labels.insert(POOL_NAME_LABEL.into(), pool.into());
        (host_claim_name(host, pool), labels)
    } else {
        (data_claim_name(data, pool), labels)
    }
}

/// Who a claim found by name belongs to, from its owner references' UIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimOwner {
    /// Owned by this Metal3Data: its address can be used.
    Ours,
    /// Left by an earlier Metal3Data of the same name (or the host's earlier machine), being
    /// deleted: take our finalizer off so it goes, and wait.
    StaleDeleting,
    /// Someone else's and not being deleted (a name clash, or it has not been deleted yet):
    /// wait for it to go.
    Foreign,
}

/// Whether the claim with owner UIDs `owner_uids` and deletion state `deleting` is the data's
/// (`data_uid`), as upstream decides before using a claim's address.
pub fn claim_owner<'a>(
    owner_uids: impl IntoIterator<Item = &'a str>,
    deleting: bool,
    data_uid: &str,
) -> ClaimOwner {
    let ours = owner_uids.into_iter().any(|u| u == data_uid);
    match (ours, deleting) {
        (true, _) => ClaimOwner::Ours,
        (false, true) => ClaimOwner::StaleDeleting,
        (false, false) => ClaimOwner::Foreign,
    }
}

/// The DNS servers of `address`, allocated from the Metal3 IPPool whose spec is `pool_spec`
/// (the JSON of `ipam.metal3.io` IPPool's `spec`): a Cluster API IPAddress carries none, so
/// they are the first range holding the address's own `dnsServers`, else the pool's. An error
/// names an address that no range holds (or that is not an address).
pub fn dns_servers_of(pool_spec: &Value, address: &str) -> Result<Vec<String>, String> {
    let ip: IpAddr = address
        .parse()
        .map_err(|_| format!("allocated address {address:?} is not an IP address"))?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ranges = pool_spec["pools"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    match ranges.iter().find(|range| in_range(ip, range)) {
        Some(range) => {
            let own = strings(&range["dnsServers"]);
            Ok(if own.is_empty() {
                strings(&pool_spec["dnsServers"])
            } else {
                own
            })
        }
        None => Err(format!(
            "allocated address {address} is not in any range of its IP pool"
        )),
    }
}

/// Whether `ip` is within a range's `start`, `end` and `subnet`, each when given (an
/// unreadable bound holds nothing).
fn in_range(ip: IpAddr, range: &Value) -> bool {
    let bound = |key: &str| range[key].as_str().filter(|s| !s.is_empty());
    let number = |a: IpAddr| -> (bool, u128) {
        match a {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (true, u128::from(v6)),
        }
    };
    let (family, n) = number(ip);
    let comparable = |s: &str| -> Option<u128> {
        let (f, m) = number(s.parse().ok()?);
        (f == family).then_some(m)
    };
    if let Some(start) = bound("start") {
        match comparable(start) {
            Some(s) if s <= n => {}
            _ => return false,
        }
    }
    if let Some(end) = bound("end") {
        match comparable(end) {
            Some(e) if n <= e => {}
            _ => return false,
        }
    }
    if let Some(subnet) = bound("subnet") {
        let Some((net, len)) = subnet.split_once('/') else {
            return false;
        };
        let (Some(net), Ok(len)) = (comparable(net), len.parse::<u32>()) else {
            return false;
        };
        let bits = if family { 128 } else { 32 };
        if len > bits {
            return false;
        }
        let host_bits = bits - len;
        let mask = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        if net & mask != n & mask {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_claim_is_named_after_the_host_only_when_asked() {
        let labels: BTreeMap<String, String> = [(
            "cluster.x-k8s.io/cluster-name".to_string(),
            "c1".to_string(),
        )]
        .into();
        let (name, l) = new_claim("tmpl-0", &labels, "host-3", "prov", false);
        assert_eq!(name, "tmpl-0-prov");
        assert_eq!(l, labels);
        let (name, l) = new_claim("tmpl-0", &labels, "host-3", "prov", true);
        assert_eq!(name, "host-3-prov");
        assert_eq!(l.get(DATA_NAME_LABEL).map(String::as_str), Some("tmpl-0"));
        assert_eq!(l.get(POOL_NAME_LABEL).map(String::as_str), Some("prov"));
        assert_eq!(
            l.get("cluster.x-k8s.io/cluster-name").map(String::as_str),
            Some("c1")
        );
    }

    #[test]
    fn only_a_claim_owned_by_the_data_is_used() {
        assert_eq!(claim_owner(["a", "u1"], false, "u1"), ClaimOwner::Ours);
        assert_eq!(claim_owner(["u1"], true, "u1"), ClaimOwner::Ours);
        assert_eq!(claim_owner(["u0"], true, "u1"), ClaimOwner::StaleDeleting);
        assert_eq!(claim_owner([], false, "u1"), ClaimOwner::Foreign);
    }

    #[test]
    fn dns_servers_come_from_the_range_holding_the_address_else_the_pool() {
        let spec = json!({
            "dnsServers": ["192.0.2.53"],
            "pools": [
                {"start": "192.0.2.10", "end": "192.0.2.20", "dnsServers": ["192.0.2.54"]},
                {"subnet": "198.51.100.0/25"},
                {"start": "2001:db8::10", "end": "2001:db8::20", "dnsServers": ["2001:db8::53"]},
            ],
        });
        assert_eq!(
            dns_servers_of(&spec, "192.0.2.15").expect("in range"),
            ["192.0.2.54"]
        );
        assert_eq!(
            dns_servers_of(&spec, "198.51.100.7").expect("in subnet"),
            ["192.0.2.53"]
        );
        assert_eq!(
            dns_servers_of(&spec, "2001:db8::11").expect("v6"),
            ["2001:db8::53"]
        );
        assert!(dns_servers_of(&spec, "198.51.100.200").is_err());
        assert!(dns_servers_of(&spec, "192.0.2.21").is_err());
        assert!(dns_servers_of(&spec, "not-an-ip").is_err());
        // An IPv4 address is never within an IPv6 range.
        let v6 = json!({"pools": [{"subnet": "::/0"}]});
        assert!(dns_servers_of(&v6, "192.0.2.1").is_err());
        // A range without DNS servers and a pool without: none.
        let bare = json!({"pools": [{"subnet": "10.0.0.0/8"}]});
        assert_eq!(
            dns_servers_of(&bare, "10.1.2.3").expect("in"),
            Vec::<String>::new()
        );
    }
}
