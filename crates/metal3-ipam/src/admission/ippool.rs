//! IPPool: addresses that are addresses, ranges that hold addresses, pre-allocations inside
//! them, and — on update — the same name prefix and strategy, and no address in use left
//! outside the ranges.

use std::collections::BTreeMap;
use std::net::IpAddr;

use metal3_admission::{FieldError, Findings};
use metal3_ipam_api::v1alpha1::{AllocationStrategy, IPPool, IPPoolSpec, IpAddressStr};

use super::address_field;
use crate::range::{Range, RangeError, parse_ip};

/// Whether `ip` is an address of one of the pool's ranges.
fn in_ranges(spec: &IPPoolSpec, ip: IpAddr) -> bool {
    spec.pools
        .iter()
        .any(|p| Range::of(p).is_ok_and(|r| r.contains(ip)))
}

fn addresses(list: &[IpAddressStr], path: &str, out: &mut Vec<FieldError>) {
    for (i, a) in list.iter().enumerate() {
        out.extend(address_field(Some(a.as_str()), &format!("{path}[{i}]")));
    }
}

/// The pool's ranges, one by one.
fn ranges(spec: &IPPoolSpec, findings: &mut Findings) {
    let random = spec.strategy() == AllocationStrategy::Random;
    for (i, entry) in spec.pools.iter().enumerate() {
        let path = format!("spec.pools[{i}]");
        let errors_before = findings.errors.len();
        if entry.start.is_none() && entry.end.is_none() && entry.subnet.is_none() {
            findings.errors.push(FieldError::new(
                &path,
                "a range needs at least one of start, end or subnet",
            ));
            continue;
        }
        let range = Range::of(entry);
        match &range {
            Ok(_) => {}
            // Upstream accepts a range with an end alone; it yields no address.
            Err(RangeError::NoStart) if !random => findings.warnings.push(format!(
                "{path}: a range with neither start nor subnet yields no address"
            )),
            Err(RangeError::NoStart) => {}
            Err(e) => findings.errors.push(FieldError::new(&path, e.to_string())),
        }
        findings.errors.extend(address_field(
            entry.gateway.as_ref().map(IpAddressStr::as_str),
            &format!("{path}.gateway"),
        ));
        addresses(
            &entry.dns_servers,
            &format!("{path}.dnsServers"),
            &mut findings.errors,
        );
        if random && findings.errors.len() == errors_before {
            let unbounded = match &range {
                Ok(r) => r.open,
                Err(_) => true,
            };
            if unbounded {
                findings.errors.push(FieldError::new(
                    &path,
                    "the random allocation strategy needs a bounded range: give end or subnet \
                     (and start or subnet)",
                ));
            }
        }
    }
}

/// Pre-allocated addresses: addresses, each given once, each inside a range.
fn pre_allocations(spec: &IPPoolSpec, out: &mut Vec<FieldError>) {
    let mut seen: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for (claim, text) in &spec.pre_allocations {
        let path = format!("spec.preAllocations.{claim}");
        let Some(ip) = parse_ip(text.as_str()) else {
            out.push(FieldError::new(
                &path,
                format!("{text} is not an IP address"),
            ));
            continue;
        };
        if let Some(first) = seen.get(&ip) {
            out.push(FieldError::new(
                &path,
                format!("{text} is already pre-allocated to claim {first:?}"),
            ));
            continue;
        }
        seen.insert(ip, claim);
        if !in_ranges(spec, ip) {
            out.push(FieldError::new(
                "spec.preAllocations",
                format!("{text} (claim {claim:?}) is in no range of the pool"),
            ));
        }
    }
}

/// The rules of an IPPool (create when `old` is `None`, else update).
pub fn validate(new: &IPPool, old: Option<&IPPool>) -> Findings {
    let spec = &new.spec;
    let mut findings = Findings::default();
    let out = &mut findings.errors;
    out.extend(address_field(
        spec.gateway.as_ref().map(IpAddressStr::as_str),
        "spec.gateway",
    ));
    addresses(&spec.dns_servers, "spec.dnsServers", out);
    pre_allocations(spec, out);
    ranges(spec, &mut findings);
    if let Some(old) = old {
        let out = &mut findings.errors;
        if spec.name_prefix != old.spec.name_prefix {
            out.push(FieldError::new("spec.namePrefix", "cannot be changed"));
        }
        if spec.strategy() != old.spec.strategy() {
            out.push(FieldError::new(
                "spec.allocationStrategy",
                "cannot be changed once the pool exists",
            ));
        }
        let in_use = old.status.as_ref().map(|s| &s.allocations);
        for (claim, text) in in_use.into_iter().flatten() {
            if let Some(ip) = parse_ip(text.as_str())
                && !in_ranges(spec, ip)
            {
                out.push(FieldError::new(
                    "spec.pools",
                    format!("{text} is in use (claim {claim:?}) but in no range of the pool"),
                ));
            }
        }
    }
    findings
}
