//! Allocation for one claim: every rule of upstream's allocation, table by table, and the
//! properties that hold for any pool (never an address taken by another, always one of the
//! pool's ranges, a full pool says so).

use std::collections::BTreeMap;

use metal3_ipam_api::v1alpha1::{AllocationStrategy, IPPoolSpec, IpAddressStr, IpSubnetStr};
use proptest::prelude::*;

use super::*;
use crate::facts::{ClaimKey, ClaimKind};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn range(start: Option<&str>, end: Option<&str>, subnet: Option<&str>) -> Pool {
    Pool {
        start: start.map(IpAddressStr::from),
        end: end.map(IpAddressStr::from),
        subnet: subnet.map(IpSubnetStr::from),
        ..Pool::default()
    }
}

fn spec(pools: Vec<Pool>) -> IPPoolSpec {
    IPPoolSpec {
        name_prefix: "p".into(),
        pools,
        prefix: 24,
        gateway: Some("10.0.0.1".into()),
        dns_servers: vec!["10.0.0.53".into()],
        ..IPPoolSpec::default()
    }
}

fn key(name: &str) -> ClaimKey {
    ClaimKey::new(ClaimKind::Metal3, name)
}

fn taken(addresses: &[&str]) -> InUse {
    addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (ip(a), Holder::Claim(key(&format!("other-{i}")))))
        .collect()
}

fn first(_: u128) -> u128 {
    0
}

fn get(
    pool: &IPPoolSpec,
    claim: &str,
    requested: Option<&str>,
    in_use: &InUse,
) -> Result<Allocation, Failure> {
    let claim = key(claim);
    let request = Request {
        claim: &claim,
        requested,
    };
    allocate(pool, &request, in_use, &mut first)
}

#[test]
fn sequential_takes_the_lowest_free_address_and_the_ranges_in_order() {
    let pool = spec(vec![
        range(Some("10.0.0.10"), Some("10.0.0.11"), None),
        range(None, None, Some("10.0.1.0/30")),
    ]);
    let cases: &[(&[&str], &str)] = &[
        (&[], "10.0.0.10"),
        (&["10.0.0.10"], "10.0.0.11"),
        (&["10.0.0.11"], "10.0.0.10"),
        (&["10.0.0.10", "10.0.0.11"], "10.0.1.1"),
        (
            &["10.0.0.10", "10.0.0.11", "10.0.1.1", "10.0.1.3"],
            "10.0.1.2",
        ),
    ];
    for (used, expected) in cases {
        let got = get(&pool, "c", None, &taken(used)).expect("an address");
        assert_eq!(got.address, ip(expected), "taken {used:?}");
    }
    let full = taken(&["10.0.0.10", "10.0.0.11", "10.0.1.1", "10.0.1.2", "10.0.1.3"]);
    assert_eq!(get(&pool, "c", None, &full), Err(Failure::Exhausted));
    assert_eq!(
        Failure::Exhausted.to_string(),
        "the pool has no free address left"
    );
}

#[test]
fn a_range_prefix_gateway_and_dns_win_over_the_pool_defaults() {
    let mut own = range(Some("10.0.0.10"), Some("10.0.0.10"), None);
    own.prefix = 28;
    own.gateway = Some("10.0.0.14".into());
    own.dns_servers = vec!["1.1.1.1".into(), "8.8.8.8".into()];
    let pool = spec(vec![own, range(Some("10.0.0.20"), Some("10.0.0.20"), None)]);
    let a = get(&pool, "a", None, &InUse::new()).expect("address");
    assert_eq!(
        a,
        Allocation {
            address: ip("10.0.0.10"),
            prefix: 28,
            gateway: Some("10.0.0.14".into()),
            dns_servers: vec!["1.1.1.1".into(), "8.8.8.8".into()],
        }
    );
    let b = get(&pool, "b", None, &taken(&["10.0.0.10"])).expect("address");
    assert_eq!(
        b,
        Allocation {
            address: ip("10.0.0.20"),
            prefix: 24,
            gateway: Some("10.0.0.1".into()),
            dns_servers: vec!["10.0.0.53".into()],
        }
    );
}

#[test]
fn a_requested_address_is_given_when_free_and_in_a_range() {
    let pool = spec(vec![range(Some("10.0.0.10"), Some("10.0.0.20"), None)]);
    let none = InUse::new();
    assert_eq!(
        get(&pool, "c", Some("10.0.0.15"), &none).map(|a| a.address),
        Ok(ip("10.0.0.15"))
    );
    assert_eq!(
        get(&pool, "c", Some("10.0.0.15"), &taken(&["10.0.0.15"])),
        Err(Failure::RequestTaken(ip("10.0.0.15")))
    );
    assert_eq!(
        get(&pool, "c", Some("10.0.0.30"), &none),
        Err(Failure::RequestOutOfRanges(ip("10.0.0.30")))
    );
    assert_eq!(
        get(&pool, "c", Some("ten"), &none),
        Err(Failure::InvalidRequest("ten".into()))
    );
    // The claim's own address is not "taken".
    let own: InUse = [(ip("10.0.0.15"), Holder::Claim(key("c")))].into();
    assert_eq!(
        get(&pool, "c", Some("10.0.0.15"), &own).map(|a| a.address),
        Ok(ip("10.0.0.15"))
    );
    // Another claim's reservation is.
    let reserved: InUse = [(ip("10.0.0.15"), Holder::Reserved("d".into()))].into();
    assert_eq!(
        get(&pool, "c", Some("10.0.0.15"), &reserved),
        Err(Failure::RequestTaken(ip("10.0.0.15")))
    );
}

#[test]
fn pre_allocations_are_kept_for_their_claim() {
    let mut pool = spec(vec![range(Some("10.0.0.10"), Some("10.0.0.20"), None)]);
    pool.pre_allocations = BTreeMap::from([
        ("c".into(), "10.0.0.12".into()),
        ("out".into(), "10.0.1.1".into()),
        ("bad".into(), "nope".into()),
    ]);
    let reserved: InUse = [(ip("10.0.0.12"), Holder::Reserved("c".into()))].into();
    assert_eq!(
        get(&pool, "c", None, &reserved).map(|a| a.address),
        Ok(ip("10.0.0.12"))
    );
    assert_eq!(
        get(&pool, "c", Some("10.0.0.12"), &reserved).map(|a| a.address),
        Ok(ip("10.0.0.12")),
        "asking for the pre-allocated address is no conflict"
    );
    assert_eq!(
        get(&pool, "c", Some("10.0.0.13"), &reserved),
        Err(Failure::RequestConflictsWithReservation {
            requested: ip("10.0.0.13"),
            reserved: ip("10.0.0.12")
        })
    );
    let held = taken(&["10.0.0.12"]);
    assert_eq!(
        get(&pool, "c", None, &held),
        Err(Failure::ReservationTaken(ip("10.0.0.12")))
    );
    assert_eq!(
        get(&pool, "out", None, &reserved),
        Err(Failure::ReservationOutOfRanges(ip("10.0.1.1")))
    );
    assert_eq!(
        get(&pool, "bad", None, &reserved),
        Err(Failure::InvalidReservation("nope".into()))
    );
}

#[test]
fn a_prefix_outside_0_to_128_fails_the_claim() {
    let mut pool = spec(vec![range(Some("10.0.0.10"), None, None)]);
    pool.prefix = 129;
    assert_eq!(
        get(&pool, "c", None, &InUse::new()),
        Err(Failure::InvalidPrefix(129))
    );
    pool.prefix = -1;
    assert_eq!(
        get(&pool, "c", None, &InUse::new()),
        Err(Failure::InvalidPrefix(-1))
    );
}

#[test]
fn broken_ranges_are_skipped() {
    let pool = spec(vec![
        range(Some("10.0.0.20"), Some("10.0.0.10"), None),
        range(None, Some("10.0.0.5"), None),
        range(Some("2001:db8::5"), None, None),
    ]);
    assert_eq!(
        get(&pool, "c", None, &InUse::new()).map(|a| a.address),
        Ok(ip("2001:db8::5"))
    );
}

#[test]
fn random_picks_free_addresses_of_the_first_range_with_room() {
    let mut pool = spec(vec![
        range(Some("10.0.0.1"), Some("10.0.0.4"), None),
        range(Some("10.0.1.1"), Some("10.0.1.250"), None),
    ]);
    pool.allocation_strategy = Some(AllocationStrategy::Random);
    let claim = key("c");
    let request = Request {
        claim: &claim,
        requested: None,
    };
    // The draw says where to start looking: taken addresses are skipped, wrapping around.
    let in_use = taken(&["10.0.0.3", "10.0.0.4"]);
    let mut draw = |span: u128| {
        assert_eq!(span, 3);
        2
    };
    assert_eq!(
        allocate(&pool, &request, &in_use, &mut draw).map(|a| a.address),
        Ok(ip("10.0.0.1"))
    );
    // Once the first range is full, the second one is used, anywhere in it.
    let full = taken(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let mut draw = |span: u128| fastrand::u128(0..=span);
        let a = allocate(&pool, &request, &full, &mut draw).expect("an address");
        assert!(
            pool.pools[1].start.is_some()
                && Range::of(&pool.pools[1])
                    .expect("range")
                    .contains(a.address)
        );
        seen.insert(a.address);
    }
    assert!(seen.len() > 10, "random addresses spread: {seen:?}");
}

#[test]
fn random_over_a_range_without_end_allocates_sequentially() {
    let mut pool = spec(vec![range(Some("10.0.0.1"), None, None)]);
    pool.allocation_strategy = Some(AllocationStrategy::Random);
    let claim = key("c");
    let request = Request {
        claim: &claim,
        requested: None,
    };
    let mut never = |_: u128| -> u128 { panic!("no draw for an open range") };
    assert_eq!(
        allocate(&pool, &request, &taken(&["10.0.0.1"]), &mut never).map(|a| a.address),
        Ok(ip("10.0.0.2"))
    );
}

#[test]
fn random_copes_with_all_of_ipv6() {
    let mut pool = spec(vec![range(None, None, Some("::/0"))]);
    pool.allocation_strategy = Some(AllocationStrategy::Random);
    let claim = key("c");
    let request = Request {
        claim: &claim,
        requested: None,
    };
    let mut last = |span: u128| span;
    let a = allocate(&pool, &request, &InUse::new(), &mut last).expect("address");
    assert_eq!(a.address, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    let mut last = |span: u128| span;
    let wrapped = allocate(
        &pool,
        &request,
        &taken(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
        &mut last,
    )
    .expect("address");
    assert_eq!(wrapped.address, ip("::1"), "wraps around to the first");
}

#[test]
fn failures_read_as_sentences() {
    let cases = [
        (
            Failure::RequestTaken(ip("10.0.0.1")),
            "the requested address 10.0.0.1 is already taken",
        ),
        (
            Failure::NameTaken("IPClaim".into()),
            "a IPClaim of the same name already holds an address of this pool; claim names must be unique across claim kinds",
        ),
        (
            Failure::InvalidPrefix(200),
            "the prefix length 200 is not between 0 and 128",
        ),
    ];
    for (failure, text) in cases {
        assert_eq!(failure.to_string(), text);
    }
    assert!(Failure::Exhausted.is_exhausted());
    assert!(!Failure::RequestTaken(ip("10.0.0.1")).is_exhausted());
}

fn v4(n: u8) -> String {
    format!("10.0.0.{n}")
}

proptest! {
    /// Whatever is taken and whatever the strategy, the address given is free, in a range,
    /// and a pool is exhausted only when every address of every range is taken.
    #[test]
    fn the_address_given_is_free_and_in_a_range(
        ranges in prop::collection::vec((0u8..40, 0u8..12), 1..4),
        taken_set in prop::collection::btree_set(0u8..60, 0..50),
        random in any::<bool>(),
        draws in prop::collection::vec(any::<u128>(), 8),
    ) {
        let pools: Vec<Pool> = ranges
            .iter()
            .map(|(start, len)| range(Some(&v4(*start)), Some(&v4(start.saturating_add(*len))), None))
            .collect();
        let mut pool = spec(pools);
        if random {
            pool.allocation_strategy = Some(AllocationStrategy::Random);
        }
        let in_use: InUse = taken_set
            .iter()
            .map(|n| (ip(&v4(*n)), Holder::Claim(key(&format!("o{n}")))))
            .collect();
        let claim = key("c");
        let request = Request { claim: &claim, requested: None };
        let mut i = 0;
        let mut chance = |span: u128| {
            i += 1;
            draws[i % draws.len()] % (span + 1)
        };
        let all: Vec<IpAddr> = pool
            .pools
            .iter()
            .flat_map(|p| {
                let r = Range::of(p).expect("range");
                (0..).map_while(move |i| r.nth(i))
            })
            .collect();
        match allocate(&pool, &request, &in_use, &mut chance) {
            Ok(a) => {
                prop_assert!(!in_use.contains_key(&a.address));
                prop_assert!(all.contains(&a.address));
                if !random {
                    let lowest = all.iter().find(|ip| !in_use.contains_key(ip));
                    prop_assert_eq!(Some(&a.address), lowest);
                }
            }
            Err(f) => {
                prop_assert_eq!(f, Failure::Exhausted);
                prop_assert!(all.iter().all(|ip| in_use.contains_key(ip)));
            }
        }
    }
}
