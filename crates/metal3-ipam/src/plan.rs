//! One pass over a pool, as pure decisions: which claims let go of their address, the pool's
//! allocations (`status.indexes`) afterwards, which claims get which address, which cannot,
//! and whether a deleted pool may go.
//!
//! The allocations in the pool's status are the reservations: the controller writes them with
//! the resourceVersion it read before it creates any address object, so of two managers (or
//! passes) choosing from the same state only one can write, and the other chooses again from
//! what was written. An address is taken when an address object of either kind holds it, when
//! the status reserves it for a live claim, or when `preAllocations` keeps it for a claim.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use metal3_ipam_api::v1alpha1::{IPPoolSpec, IpAddressStr};

use crate::alloc::{self, Allocation, Chance, Failure, Holder, InUse, Request};
use crate::facts::{AddressFacts, ClaimFacts, ClaimKey, ClaimKind, address_name};
use crate::range::parse_ip;

/// Address objects to delete before the plan: those of claims being deleted that nothing
/// else holds, and those whose claim is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Releases {
    /// Deleted claims to let go, once their address objects are gone.
    pub claims: Vec<ClaimKey>,
    /// Address objects to delete, by kind and name.
    pub objects: Vec<(ClaimKind, String)>,
}

/// What to delete first (see [`Releases`]).
pub fn releases(claims: &[ClaimFacts], addresses: &[AddressFacts]) -> Releases {
    let mut out = Releases::default();
    let existing: BTreeSet<&ClaimKey> = claims.iter().map(|c| &c.key).collect();
    for claim in claims {
        if claim.deleting && claim.finalized && !claim.other_finalizers {
            out.claims.push(claim.key.clone());
        }
    }
    for address in addresses {
        let owner = ClaimKey::new(address.kind, &address.claim);
        if out.claims.contains(&owner) || !existing.contains(&owner) {
            out.objects.push((address.kind, address.name.clone()));
        }
    }
    out
}

/// What the pass observed, releases done.
pub struct Observed<'a> {
    /// The pool's spec.
    pub pool: &'a IPPoolSpec,
    /// The pool is being deleted.
    pub deleting: bool,
    /// `status.indexes` as read.
    pub indexes: &'a BTreeMap<String, IpAddressStr>,
    /// Claims of the pool, both kinds.
    pub claims: &'a [ClaimFacts],
    /// Address objects of the pool that still exist, both kinds.
    pub addresses: &'a [AddressFacts],
    /// Claims whose address objects are gone: they are let go.
    pub released: &'a BTreeSet<ClaimKey>,
}

/// A claim that has an address and whose answer is not complete yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The claim.
    pub claim: ClaimKey,
    /// Its address and what goes with it.
    pub allocation: Allocation,
    /// Name of its address object.
    pub object: String,
    /// The address object does not exist yet.
    pub create: bool,
    /// The address was chosen in this pass.
    pub new: bool,
}

/// What the pass does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The pool's allocations after the pass, by claim name.
    pub indexes: BTreeMap<String, IpAddressStr>,
    /// Claims to answer (address object and status).
    pub answers: Vec<Answer>,
    /// Claims that get no address, and why.
    pub failures: Vec<(ClaimKey, Failure)>,
    /// Some claims wait (paused, or the pool is being deleted): look again later.
    pub waiting: bool,
    /// The pool is being deleted and nothing of it is left: its finalizer may go.
    pub finished: bool,
}

struct Held {
    address: IpAddr,
    object: Option<String>,
}

/// What is taken before the pass decides anything: pre-allocations (unless the pool is being
/// deleted), addresses held by objects, and reservations of live claims without an object.
fn taken(observed: &Observed<'_>) -> (InUse, BTreeMap<ClaimKey, Held>) {
    let mut in_use = InUse::new();
    if !observed.deleting {
        for (name, text) in &observed.pool.pre_allocations {
            if let Some(ip) = parse_ip(text.as_str()) {
                in_use.insert(ip, Holder::Reserved(name.clone()));
            }
        }
    }
    let mut held: BTreeMap<ClaimKey, Held> = BTreeMap::new();
    for a in observed.addresses {
        let Some(ip) = a.address else { continue };
        let key = ClaimKey::new(a.kind, &a.claim);
        in_use.insert(ip, Holder::Claim(key.clone()));
        held.entry(key).or_insert(Held {
            address: ip,
            object: Some(a.name.clone()),
        });
    }
    for (name, text) in observed.indexes {
        let Some(ip) = parse_ip(text.as_str()) else {
            continue;
        };
        let Some(claim) = observed.claims.iter().find(|c| {
            c.key.name == *name
                && !c.deleting
                && !c.failed
                && !held.contains_key(&c.key)
                && !observed.released.contains(&c.key)
        }) else {
            continue;
        };
        let free = match in_use.get(&ip) {
            None => true,
            Some(Holder::Reserved(owner)) => *owner == claim.key.name,
            Some(Holder::Claim(_)) => false,
        };
        if free {
            in_use.insert(ip, Holder::Claim(claim.key.clone()));
            held.insert(
                claim.key.clone(),
                Held {
                    address: ip,
                    object: None,
                },
            );
        }
    }
    (in_use, held)
}

/// The pass's decisions (see the module's description). `chance` picks random addresses.
pub fn plan(observed: &Observed<'_>, chance: Chance<'_>) -> Plan {
    let pool = observed.pool;
    let (mut in_use, mut held) = taken(observed);

    let mut out = Plan::default();
    let mut claims: Vec<&ClaimFacts> = observed.claims.iter().collect();
    claims.sort_by(|a, b| a.key.cmp(&b.key));
    for claim in claims {
        if claim.deleting {
            continue;
        }
        if let Some(h) = held.get(&claim.key) {
            let object = h
                .object
                .clone()
                .unwrap_or_else(|| address_name(&pool.name_prefix, h.address));
            let complete = h.object.is_some()
                && claim.finalized
                && claim.answer.as_deref() == Some(object.as_str());
            if !complete {
                out.answers.push(Answer {
                    claim: claim.key.clone(),
                    allocation: alloc::details(pool, alloc::locate(pool, h.address), h.address),
                    object,
                    create: h.object.is_none(),
                    new: false,
                });
            }
            continue;
        }
        if claim.failed || claim.answer.is_some() {
            continue;
        }
        if claim.paused || observed.deleting {
            out.waiting = true;
            continue;
        }
        if let Some(other) = held
            .keys()
            .find(|k| k.name == claim.key.name && k.kind != claim.key.kind)
        {
            out.failures.push((
                claim.key.clone(),
                Failure::NameTaken(other.kind.claim_kind().to_string()),
            ));
            continue;
        }
        let request = Request {
            claim: &claim.key,
            requested: claim.requested.as_deref(),
        };
        match alloc::allocate(pool, &request, &in_use, chance) {
            Ok(allocation) => {
                let ip = allocation.address;
                in_use.insert(ip, Holder::Claim(claim.key.clone()));
                held.insert(
                    claim.key.clone(),
                    Held {
                        address: ip,
                        object: None,
                    },
                );
                out.answers.push(Answer {
                    claim: claim.key.clone(),
                    object: address_name(&pool.name_prefix, ip),
                    allocation,
                    create: true,
                    new: true,
                });
            }
            Err(failure) => out.failures.push((claim.key.clone(), failure)),
        }
    }

    for (key, h) in &held {
        out.indexes
            .entry(key.name.clone())
            .or_insert_with(|| IpAddressStr::from(h.address));
    }
    out.finished = observed.deleting
        && held.is_empty()
        && observed.addresses.is_empty()
        && !observed
            .claims
            .iter()
            .any(|c| c.finalized && !observed.released.contains(&c.key));
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
