//! One address for one claim: the address the claim asks for (annotation `ipAddress`), the one
//! the pool reserves for it (`preAllocations`), or the next free one of the pool's ranges —
//! a range is used up before the next one is tried, and within a range the strategy picks
//! (the lowest free address, or a random free one) — with the prefix, gateway and DNS servers
//! of the range it lies in, each falling back to the pool's own.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use metal3_ipam_api::v1alpha1::{AllocationStrategy, IPPoolSpec, Pool};

use crate::range::{Range, parse_ip};

/// Who holds an address of the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A claim, by kind and name.
    Claim(crate::facts::ClaimKey),
    /// Reserved by `preAllocations` for the claim of that name (of either kind).
    Reserved(String),
}

/// The pool's addresses that are taken, and by whom.
pub type InUse = BTreeMap<IpAddr, Holder>;

/// Whether `ip` is taken by someone else than `claim`.
fn taken_by_other(in_use: &InUse, ip: IpAddr, claim: &crate::facts::ClaimKey) -> bool {
    match in_use.get(&ip) {
        None => false,
        Some(Holder::Claim(holder)) => holder != claim,
        Some(Holder::Reserved(name)) => *name != claim.name,
    }
}

/// An address given to a claim, with what goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix: i32,
    /// Gateway, if any.
    pub gateway: Option<String>,
    /// DNS servers.
    pub dns_servers: Vec<String>,
}

/// Why a claim gets no address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Every address of every range is taken.
    Exhausted,
    /// The `ipAddress` annotation is not an address.
    InvalidRequest(String),
    /// The address asked for is in no range of the pool.
    RequestOutOfRanges(IpAddr),
    /// The address asked for is taken.
    RequestTaken(IpAddr),
    /// The address reserved for the claim is not an address.
    InvalidReservation(String),
    /// The address reserved for the claim is in no range of the pool.
    ReservationOutOfRanges(IpAddr),
    /// The address reserved for the claim is held by another claim.
    ReservationTaken(IpAddr),
    /// The claim asks for another address than the one reserved for it.
    RequestConflictsWithReservation {
        /// The address asked for.
        requested: IpAddr,
        /// The address reserved.
        reserved: IpAddr,
    },
    /// The prefix length of the range (or the pool) is outside 0–128.
    InvalidPrefix(i32),
    /// A claim of the other kind with the same name already has an address of the pool.
    NameTaken(String),
}

impl Failure {
    /// Whether the pool is full (Cluster API's `PoolExhausted` reason); every other failure
    /// is an `AllocationFailed`.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Failure::Exhausted)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Exhausted => f.write_str("the pool has no free address left"),
            Failure::InvalidRequest(text) => {
                write!(f, "the ipAddress annotation {text:?} is not an IP address")
            }
            Failure::RequestOutOfRanges(ip) => {
                write!(f, "the requested address {ip} is in no range of the pool")
            }
            Failure::RequestTaken(ip) => {
                write!(f, "the requested address {ip} is already taken")
            }
            Failure::InvalidReservation(text) => write!(
                f,
                "the address {text:?} pre-allocated to this claim is not an IP address"
            ),
            Failure::ReservationOutOfRanges(ip) => write!(
                f,
                "the address {ip} pre-allocated to this claim is in no range of the pool"
            ),
            Failure::ReservationTaken(ip) => write!(
                f,
                "the address {ip} pre-allocated to this claim is held by another claim"
            ),
            Failure::RequestConflictsWithReservation {
                requested,
                reserved,
            } => write!(
                f,
                "the requested address {requested} differs from the address {reserved} \
                 pre-allocated to this claim"
            ),
            Failure::InvalidPrefix(p) => {
                write!(f, "the prefix length {p} is not between 0 and 128")
            }
            Failure::NameTaken(kind) => write!(
                f,
                "a {kind} of the same name already holds an address of this pool; claim \
                 names must be unique across claim kinds"
            ),
        }
    }
}

/// What a claim brings to the allocation.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The claim.
    pub claim: &'a crate::facts::ClaimKey,
    /// Its `ipAddress` annotation, if set and not empty.
    pub requested: Option<&'a str>,
}

/// Picks a number in `0..=max`, uniformly; the random strategy's only source of chance.
pub type Chance<'a> = &'a mut dyn FnMut(u128) -> u128;

/// The prefix, gateway and DNS servers of an address of `entry`.
pub fn details(pool: &IPPoolSpec, entry: Option<&Pool>, address: IpAddr) -> Allocation {
    let prefix = entry
        .map(|e| e.prefix)
        .filter(|p| *p != 0)
        .unwrap_or(pool.prefix);
    let gateway = entry
        .and_then(|e| e.gateway.as_ref())
        .or(pool.gateway.as_ref())
        .map(|g| g.to_string());
    let dns = entry
        .map(|e| &e.dns_servers)
        .filter(|d| !d.is_empty())
        .unwrap_or(&pool.dns_servers);
    Allocation {
        address,
        prefix,
        gateway,
        dns_servers: dns.iter().map(|d| d.to_string()).collect(),
    }
}

/// The first range (in declaration order) holding `ip`, if any.
pub fn locate(pool: &IPPoolSpec, ip: IpAddr) -> Option<&Pool> {
    pool.pools
        .iter()
        .find(|e| Range::of(e).is_ok_and(|r| r.contains(ip)))
}

/// The lowest free address of `range`.
fn first_free(range: &Range, in_use: &InUse) -> Option<IpAddr> {
    // Of any n+1 addresses at least one is free when only n are taken.
    let probes = in_use.len() as u128 + 1;
    (0..probes)
        .map_while(|i| range.nth(i))
        .find(|ip| !in_use.contains_key(ip))
}

/// A random free address of `range`: from a random index on, the first free one (wrapping
/// around at the end).
fn random_free(range: &Range, in_use: &InUse, chance: Chance<'_>) -> Option<IpAddr> {
    let span = range.span()?;
    let mut offset = chance(span).min(span);
    // Of any n+1 addresses at least one is free when only n are taken.
    let probes = (in_use.len() as u128)
        .saturating_add(1)
        .min(span.saturating_add(1));
    for _ in 0..probes {
        if let Some(ip) = range.nth(offset)
            && !in_use.contains_key(&ip)
        {
            return Some(ip);
        }
        offset = if offset == span { 0 } else { offset + 1 };
    }
    None
}

fn target(pool: &IPPoolSpec, request: &Request<'_>) -> Result<Option<(IpAddr, bool)>, Failure> {
    let requested = request
        .requested
        .map(|text| parse_ip(text).ok_or_else(|| Failure::InvalidRequest(text.to_string())))
        .transpose()?;
    let reserved = pool
        .pre_allocations
        .get(&request.claim.name)
        .map(|text| {
            parse_ip(text.as_str()).ok_or_else(|| Failure::InvalidReservation(text.to_string()))
        })
        .transpose()?;
    match (requested, reserved) {
        (Some(r), Some(p)) if r != p => Err(Failure::RequestConflictsWithReservation {
            requested: r,
            reserved: p,
        }),
        (_, Some(p)) => Ok(Some((p, false))),
        (Some(r), None) => Ok(Some((r, true))),
        (None, None) => Ok(None),
    }
}

/// An address of `pool` for `request`, none of `in_use` but the claim's own.
pub fn allocate(
    pool: &IPPoolSpec,
    request: &Request<'_>,
    in_use: &InUse,
    chance: Chance<'_>,
) -> Result<Allocation, Failure> {
    let allocation = match target(pool, request)? {
        Some((ip, requested)) => {
            let Some(entry) = locate(pool, ip) else {
                return Err(if requested {
                    Failure::RequestOutOfRanges(ip)
                } else {
                    Failure::ReservationOutOfRanges(ip)
                });
            };
            if taken_by_other(in_use, ip, request.claim) {
                return Err(if requested {
                    Failure::RequestTaken(ip)
                } else {
                    Failure::ReservationTaken(ip)
                });
            }
            details(pool, Some(entry), ip)
        }
        None => {
            let found = pool.pools.iter().find_map(|entry| {
                let range = Range::of(entry).ok()?;
                let ip = match pool.strategy() {
                    AllocationStrategy::Random if !range.open => {
                        random_free(&range, in_use, chance)
                    }
                    _ => first_free(&range, in_use),
                }?;
                Some(details(pool, Some(entry), ip))
            });
            found.ok_or(Failure::Exhausted)?
        }
    };
    if !(0..=128).contains(&allocation.prefix) {
        return Err(Failure::InvalidPrefix(allocation.prefix));
    }
    Ok(allocation)
}

#[cfg(test)]
#[path = "alloc_tests.rs"]
mod tests;
