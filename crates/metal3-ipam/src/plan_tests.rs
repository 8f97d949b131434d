//! One pass over a pool: reservations kept and dropped, answers, failures, releases and the
//! end of a deleted pool; and, for any state, no address given twice.

use std::collections::{BTreeMap, BTreeSet};

use metal3_ipam_api::v1alpha1::{IPPoolSpec, IpAddressStr, Pool};
use proptest::prelude::*;

use super::*;
use crate::facts::{AddressFacts, ClaimFacts, ClaimKey, ClaimKind};

fn pool(start: &str, end: &str) -> IPPoolSpec {
    IPPoolSpec {
        name_prefix: "p".into(),
        pools: vec![Pool {
            start: Some(start.into()),
            end: Some(end.into()),
            ..Pool::default()
        }],
        prefix: 24,
        ..IPPoolSpec::default()
    }
}

fn m3(name: &str) -> ClaimKey {
    ClaimKey::new(ClaimKind::Metal3, name)
}

fn capi(name: &str) -> ClaimKey {
    ClaimKey::new(ClaimKind::Capi, name)
}

fn claim(key: ClaimKey) -> ClaimFacts {
    ClaimFacts::new(key)
}

/// A claim that got `object` and carries the finalizer.
fn answered(key: ClaimKey, object: &str) -> ClaimFacts {
    ClaimFacts {
        finalized: true,
        answer: Some(object.into()),
        ..ClaimFacts::new(key)
    }
}

fn object(kind: ClaimKind, claim: &str, ip: &str) -> AddressFacts {
    AddressFacts {
        kind,
        name: crate::facts::address_name("p", ip.parse().expect("ip")),
        claim: claim.into(),
        address: ip.parse().ok(),
        deleting: false,
    }
}

fn indexes(entries: &[(&str, &str)]) -> BTreeMap<String, IpAddressStr> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), IpAddressStr::from(*v)))
        .collect()
}

fn run(
    pool: &IPPoolSpec,
    deleting: bool,
    status: &BTreeMap<String, IpAddressStr>,
    claims: &[ClaimFacts],
    addresses: &[AddressFacts],
    released: &BTreeSet<ClaimKey>,
) -> Plan {
    let observed = Observed {
        pool,
        deleting,
        indexes: status,
        claims,
        addresses,
        released,
    };
    plan(&observed, &mut |_| 0)
}

fn given(plan: &Plan) -> Vec<(String, String, bool, bool)> {
    plan.answers
        .iter()
        .map(|a| {
            (
                a.claim.name.clone(),
                a.allocation.address.to_string(),
                a.create,
                a.new,
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn new_claims_of_both_kinds_get_the_next_addresses() {
    let p = pool("10.0.0.1", "10.0.0.9");
    let claims = [claim(m3("a")), claim(capi("b")), claim(m3("c"))];
    let plan = run(&p, false, &BTreeMap::new(), &claims, &[], &BTreeSet::new());
    assert_eq!(
        given(&plan),
        [
            (s("a"), s("10.0.0.1"), true, true),
            (s("c"), s("10.0.0.2"), true, true),
            (s("b"), s("10.0.0.3"), true, true),
        ]
    );
    assert_eq!(plan.answers[0].object, "p-10-0-0-1");
    assert_eq!(plan.answers[0].allocation.prefix, 24);
    assert_eq!(
        plan.indexes,
        indexes(&[("a", "10.0.0.1"), ("b", "10.0.0.3"), ("c", "10.0.0.2")])
    );
    assert!(plan.failures.is_empty() && !plan.waiting && !plan.finished);
}

#[test]
fn addresses_held_by_objects_stay_and_complete_answers_need_nothing() {
    let p = pool("10.0.0.1", "10.0.0.9");
    let claims = [
        answered(m3("a"), "p-10-0-0-1"),
        claim(m3("b")),
        claim(m3("c")),
    ];
    let objects = [
        object(ClaimKind::Metal3, "a", "10.0.0.1"),
        object(ClaimKind::Metal3, "b", "10.0.0.2"),
    ];
    let plan = run(
        &p,
        false,
        &BTreeMap::new(),
        &claims,
        &objects,
        &BTreeSet::new(),
    );
    // b has its object but no status yet: answered without a new object; c gets the next.
    assert_eq!(
        given(&plan),
        [
            (s("b"), s("10.0.0.2"), false, false),
            (s("c"), s("10.0.0.3"), true, true)
        ]
    );
    assert_eq!(
        plan.indexes,
        indexes(&[("a", "10.0.0.1"), ("b", "10.0.0.2"), ("c", "10.0.0.3")])
    );
}

#[test]
fn reservations_of_live_claims_are_kept_and_the_others_dropped() {
    let p = pool("10.0.0.1", "10.0.0.9");
    let status = indexes(&[
        ("pending", "10.0.0.5"),
        ("gone", "10.0.0.1"),
        ("failed", "10.0.0.2"),
    ]);
    let claims = [
        claim(m3("pending")),
        ClaimFacts {
            failed: true,
            ..claim(m3("failed"))
        },
        claim(m3("new")),
    ];
    let plan = run(&p, false, &status, &claims, &[], &BTreeSet::new());
    assert_eq!(
        given(&plan),
        [
            (s("new"), s("10.0.0.1"), true, true),
            (s("pending"), s("10.0.0.5"), true, false),
        ]
    );
    assert_eq!(
        plan.indexes,
        indexes(&[("new", "10.0.0.1"), ("pending", "10.0.0.5")])
    );
}

#[test]
fn a_full_pool_fails_the_claims_left_and_failed_claims_are_not_tried_again() {
    let p = pool("10.0.0.1", "10.0.0.2");
    let claims = [
        claim(m3("a")),
        claim(m3("b")),
        claim(capi("c")),
        ClaimFacts {
            failed: true,
            ..claim(m3("d"))
        },
    ];
    let plan = run(&p, false, &BTreeMap::new(), &claims, &[], &BTreeSet::new());
    assert_eq!(plan.answers.len(), 2);
    assert_eq!(plan.failures, [(capi("c"), Failure::Exhausted)]);
}

#[test]
fn pre_allocated_addresses_go_to_their_claim_only() {
    let mut p = pool("10.0.0.1", "10.0.0.3");
    p.pre_allocations = BTreeMap::from([(s("m-2"), IpAddressStr::from("10.0.0.1"))]);
    let claims = [claim(m3("m-1")), claim(capi("m-2"))];
    let plan = run(&p, false, &BTreeMap::new(), &claims, &[], &BTreeSet::new());
    assert_eq!(
        given(&plan),
        [
            (s("m-1"), s("10.0.0.2"), true, true),
            (s("m-2"), s("10.0.0.1"), true, true)
        ]
    );
}

#[test]
fn paused_claims_and_claims_of_a_deleted_pool_wait() {
    let p = pool("10.0.0.1", "10.0.0.3");
    let paused = [ClaimFacts {
        paused: true,
        ..claim(m3("a"))
    }];
    let plan = run(&p, false, &BTreeMap::new(), &paused, &[], &BTreeSet::new());
    assert!(plan.answers.is_empty() && plan.waiting);
    let plan = run(
        &p,
        true,
        &BTreeMap::new(),
        &[claim(m3("a"))],
        &[],
        &BTreeSet::new(),
    );
    assert!(plan.answers.is_empty() && plan.waiting);
    assert!(
        plan.finished,
        "a claim without an address does not keep the pool"
    );
}

#[test]
fn a_deleted_pool_goes_once_nothing_of_it_is_left() {
    let p = pool("10.0.0.1", "10.0.0.3");
    let holding = [answered(m3("a"), "p-10-0-0-1")];
    let objects = [object(ClaimKind::Metal3, "a", "10.0.0.1")];
    assert!(
        !run(
            &p,
            true,
            &BTreeMap::new(),
            &holding,
            &objects,
            &BTreeSet::new()
        )
        .finished
    );
    // Released in this pass: its object is gone, its finalizer goes next.
    let released = BTreeSet::from([m3("a")]);
    let deleting = [ClaimFacts {
        deleting: true,
        ..answered(m3("a"), "p-10-0-0-1")
    }];
    let plan = run(&p, true, &BTreeMap::new(), &deleting, &[], &released);
    assert!(plan.finished && plan.indexes.is_empty());
    // A claim still carrying the finalizer keeps the pool.
    let finalized = [ClaimFacts {
        finalized: true,
        failed: true,
        ..claim(m3("b"))
    }];
    assert!(
        !run(
            &p,
            true,
            &BTreeMap::new(),
            &finalized,
            &[],
            &BTreeSet::new()
        )
        .finished
    );
}

#[test]
fn releases_free_deleted_claims_that_nothing_else_holds_and_orphans() {
    let deleted = ClaimFacts {
        deleting: true,
        ..answered(m3("a"), "p-10-0-0-1")
    };
    let in_use = ClaimFacts {
        deleting: true,
        other_finalizers: true,
        ..answered(capi("b"), "p-10-0-0-2")
    };
    let unfinalized = ClaimFacts {
        deleting: true,
        ..claim(m3("c"))
    };
    let objects = [
        object(ClaimKind::Metal3, "a", "10.0.0.1"),
        object(ClaimKind::Capi, "b", "10.0.0.2"),
        object(ClaimKind::Capi, "gone", "10.0.0.3"),
        // Same name, other kind: not the deleted claim's.
        object(ClaimKind::Capi, "a", "10.0.0.4"),
    ];
    let r = releases(&[deleted, in_use, unfinalized], &objects);
    assert_eq!(r.claims, [m3("a")]);
    assert_eq!(
        r.objects,
        [
            (ClaimKind::Metal3, s("p-10-0-0-1")),
            (ClaimKind::Capi, s("p-10-0-0-3")),
            (ClaimKind::Capi, s("p-10-0-0-4")),
        ]
    );
}

#[test]
fn a_claim_name_holds_one_address_across_kinds() {
    let p = pool("10.0.0.1", "10.0.0.9");
    let claims = [answered(m3("x"), "p-10-0-0-1"), claim(capi("x"))];
    let objects = [object(ClaimKind::Metal3, "x", "10.0.0.1")];
    let plan = run(
        &p,
        false,
        &BTreeMap::new(),
        &claims,
        &objects,
        &BTreeSet::new(),
    );
    assert_eq!(
        plan.failures,
        [(capi("x"), Failure::NameTaken(s("IPClaim")))]
    );
}

#[test]
fn a_claim_answered_elsewhere_is_left_alone() {
    let p = pool("10.0.0.1", "10.0.0.9");
    let plan = run(
        &p,
        false,
        &BTreeMap::new(),
        &[answered(m3("a"), "somewhere")],
        &[],
        &BTreeSet::new(),
    );
    assert!(plan.answers.is_empty() && plan.failures.is_empty());
}

/// Claims (kind, name, state), address objects (claim, octet), reservations (claim, octet).
type State = (Vec<(bool, u8, u8)>, Vec<(u8, u8)>, Vec<(u8, u8)>);

fn arbitrary_state() -> impl Strategy<Value = State> {
    (
        // Claims: kind, name, state (0 new, 1 failed, 2 paused, 3 deleting).
        prop::collection::vec((any::<bool>(), 0u8..12, 0u8..4), 0..12),
        // Address objects: claim name, last octet.
        prop::collection::vec((0u8..14, 1u8..12), 0..8),
        // Status reservations: claim name, last octet.
        prop::collection::vec((0u8..14, 1u8..12), 0..8),
    )
}

proptest! {
    /// Whatever the observed state, no address is given to two claims, and no address held
    /// by an object or reserved for a live claim is given to another.
    #[test]
    fn no_address_is_given_twice((claims, objects, reserved) in arbitrary_state()) {
        let p = pool("10.0.0.1", "10.0.0.10");
        let kind = |metal3: bool| if metal3 { ClaimKind::Metal3 } else { ClaimKind::Capi };
        let facts: Vec<ClaimFacts> = claims
            .iter()
            .map(|(k, n, state)| {
                let key = ClaimKey::new(kind(*k), &format!("c{n}"));
                let facts = ClaimFacts {
                    failed: *state == 1,
                    paused: *state == 2,
                    deleting: *state == 3,
                    ..claim(key.clone())
                };
                (key, facts)
            })
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .collect();
        // Address objects are named after their address: one object per address.
        let addresses: Vec<AddressFacts> = objects
            .iter()
            .map(|(n, o)| (o, n))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .map(|(o, n)| object(ClaimKind::Metal3, &format!("c{n}"), &format!("10.0.0.{o}")))
            .collect();
        let status: BTreeMap<String, IpAddressStr> = reserved
            .iter()
            .map(|(n, o)| (format!("c{n}"), IpAddressStr::from(format!("10.0.0.{o}"))))
            .collect();
        let plan = run(&p, false, &status, &facts, &addresses, &BTreeSet::new());
        let held: BTreeMap<std::net::IpAddr, ClaimKey> = addresses
            .iter()
            .filter_map(|a| Some((a.address?, ClaimKey::new(a.kind, &a.claim))))
            .collect();
        let mut seen = BTreeSet::new();
        for answer in &plan.answers {
            let ip = answer.allocation.address;
            if answer.new {
                prop_assert!(seen.insert(ip), "{ip} given twice");
                prop_assert!(!held.contains_key(&ip), "{ip} is held by an object");
            }
            if let Some(holder) = held.get(&ip) {
                prop_assert_eq!(holder, &answer.claim);
            }
        }
        // The status written names each address once.
        let values: Vec<_> = plan.indexes.values().collect();
        let unique: BTreeSet<_> = values.iter().collect();
        prop_assert_eq!(values.len(), unique.len());
    }
}
