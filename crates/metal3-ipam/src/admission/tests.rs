//! The webhooks' rules, kind by kind: what upstream refuses is refused, with the field named.

use metal3_admission::{Findings, Verdict};
use serde_json::{Value, json};

use super::{default, validate};

fn pool(spec: Value) -> Value {
    json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
           "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
}

fn findings(kind: &str, new: &Value, old: Option<&Value>) -> Findings {
    match validate(kind, new, old) {
        Verdict::Checked(f) => f,
        Verdict::NotOurs => panic!("{kind} is ours"),
    }
}

/// The fields of the errors, in order.
fn fields(kind: &str, new: &Value, old: Option<&Value>) -> Vec<String> {
    findings(kind, new, old)
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn a_complete_pool_is_accepted() {
    let p = pool(json!({
        "namePrefix": "prov", "prefix": 24, "gateway": "192.168.0.1", "dnsServers": ["8.8.8.8"],
        "pools": [{"start": "192.168.0.10", "end": "192.168.0.20", "gateway": "192.168.0.1", "dnsServers": ["1.1.1.1"]},
                  {"subnet": "2001:db8::/64"}],
        "preAllocations": {"m-0": "192.168.0.12", "m-1": "2001:db8::5"},
    }));
    assert_eq!(findings("IPPool", &p, None), Findings::default());
}

#[test]
fn pool_rules_name_every_problem() {
    let cases = [
        (
            json!({"namePrefix": "p", "gateway": "192.168.0.300"}),
            vec!["spec.gateway"],
        ),
        (
            json!({"namePrefix": "p", "dnsServers": ["8.8.8.8", "x"]}),
            vec!["spec.dnsServers[1]"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{}]}),
            vec!["spec.pools[0]"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{"start": "10.0.0.9", "end": "10.0.0.1"}]}),
            vec!["spec.pools[0]"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{"start": "10.0.0.1", "end": "2001:db8::1"}]}),
            vec!["spec.pools[0]"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24", "gateway": "g", "dnsServers": ["1.1.1.1", "d"]}]}),
            vec!["spec.pools[0].gateway", "spec.pools[0].dnsServers[1]"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24"}], "preAllocations": {"a": "10.0.0.5", "b": "10.0.0.5"}}),
            vec!["spec.preAllocations.b"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24"}], "preAllocations": {"a": "10.0.1.5"}}),
            vec!["spec.preAllocations"],
        ),
        (
            json!({"namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24"}], "preAllocations": {"a": "10.0.0.0"}}),
            vec!["spec.preAllocations"],
        ),
        (
            json!({"namePrefix": "p", "allocationStrategy": "random", "pools": [{"start": "10.0.0.1"}]}),
            vec!["spec.pools[0]"],
        ),
        (
            json!({"namePrefix": "p", "allocationStrategy": "random", "pools": [{"end": "10.0.0.1"}]}),
            vec!["spec.pools[0]"],
        ),
        (
            json!({"namePrefix": "p", "allocationStrategy": "random", "pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}, {"subnet": "10.0.1.0/24"}]}),
            vec![],
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(
            fields("IPPool", &pool(spec.clone()), None),
            expected,
            "{spec}"
        );
    }
}

#[test]
fn a_range_with_only_an_end_is_accepted_with_a_warning() {
    let f = findings(
        "IPPool",
        &pool(json!({"namePrefix": "p", "pools": [{"end": "10.0.0.1"}]})),
        None,
    );
    assert!(f.errors.is_empty());
    assert_eq!(
        f.warnings,
        ["spec.pools[0]: a range with neither start nor subnet yields no address"]
    );
}

#[test]
fn a_pool_keeps_its_prefix_strategy_and_addresses_in_use() {
    let mut old =
        pool(json!({"namePrefix": "p", "pools": [{"start": "10.0.0.1", "end": "10.0.0.20"}]}));
    old["status"] = json!({"indexes": {"c": "10.0.0.15"}});
    let narrowed =
        pool(json!({"namePrefix": "p", "pools": [{"start": "10.0.0.1", "end": "10.0.0.10"}]}));
    assert_eq!(fields("IPPool", &narrowed, Some(&old)), ["spec.pools"]);
    let renamed =
        pool(json!({"namePrefix": "q", "pools": [{"start": "10.0.0.1", "end": "10.0.0.20"}]}));
    assert_eq!(fields("IPPool", &renamed, Some(&old)), ["spec.namePrefix"]);
    let random = pool(
        json!({"namePrefix": "p", "allocationStrategy": "random", "pools": [{"start": "10.0.0.1", "end": "10.0.0.20"}]}),
    );
    assert_eq!(
        fields("IPPool", &random, Some(&old)),
        ["spec.allocationStrategy"]
    );
    // An unset strategy is sequential: spelling it out is no change.
    let sequential = pool(
        json!({"namePrefix": "p", "allocationStrategy": "sequential", "pools": [{"start": "10.0.0.1", "end": "10.0.0.30"}]}),
    );
    assert_eq!(
        fields("IPPool", &sequential, Some(&old)),
        Vec::<String>::new()
    );
}

#[test]
fn a_pool_without_a_strategy_is_defaulted_to_sequential() {
    let p = pool(json!({"namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24"}]}));
    let defaulted = default("IPPool", &p).expect("defaults").expect("changed");
    assert_eq!(defaulted["spec"]["allocationStrategy"], "sequential");
    assert_eq!(
        defaulted["spec"]["pools"], p["spec"]["pools"],
        "nothing else changes"
    );
    assert_eq!(default("IPPool", &defaulted).expect("defaults"), None);
    assert_eq!(default("IPClaim", &json!({})).expect("no defaults"), None);
}

fn claim(pool: &str, annotation: Option<&str>) -> Value {
    let mut c = json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
                       "metadata": {"name": "c"}, "spec": {"pool": {"name": pool}}});
    if let Some(a) = annotation {
        c["metadata"]["annotations"] = json!({"ipAddress": a});
    }
    c
}

#[test]
fn claim_rules() {
    assert_eq!(
        fields("IPClaim", &claim("p", Some("10.0.0.5")), None),
        Vec::<String>::new()
    );
    assert_eq!(
        fields("IPClaim", &claim("", None), None),
        ["spec.pool.name"]
    );
    assert_eq!(
        fields("IPClaim", &claim("p", Some("10.0.0.500")), None),
        ["metadata.annotations.ipAddress"]
    );
    assert_eq!(
        fields("IPClaim", &claim("q", None), Some(&claim("p", None))),
        ["spec.pool"]
    );
    assert_eq!(
        fields("IPClaim", &claim("p", Some("x")), Some(&claim("p", None))),
        ["metadata.annotations.ipAddress"]
    );
    let missing = json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim", "metadata": {"name": "c"}, "spec": {}});
    // The API server refuses it for the missing pool; decoded as Go decodes it (an empty
    // pool), the webhook's rule refuses it too.
    let found = findings("IPClaim", &missing, None);
    let schema: Vec<_> = found
        .schema_errors
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(schema, ["spec"], "the pool is required");
    assert_eq!(fields("IPClaim", &missing, None), ["spec.pool.name"]);
}

fn address(spec: Value) -> Value {
    json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress", "metadata": {"name": "a"}, "spec": spec})
}

#[test]
fn address_rules() {
    let good =
        address(json!({"address": "10.0.0.5", "pool": {"name": "p"}, "claim": {"name": "c"}}));
    assert_eq!(fields("IPAddress", &good, None), Vec::<String>::new());
    let empty = address(json!({"address": "", "pool": {}, "claim": {}}));
    assert_eq!(
        fields("IPAddress", &empty, None),
        ["spec.pool.name", "spec.claim.name", "spec.address"]
    );
    let bad = address(json!({"address": "10.0.0", "pool": {"name": "p"}, "claim": {"name": "c"}}));
    assert_eq!(fields("IPAddress", &bad, None), ["spec.address"]);
    let moved =
        address(json!({"address": "10.0.0.6", "pool": {"name": "q"}, "claim": {"name": "d"}}));
    assert_eq!(
        fields("IPAddress", &moved, Some(&good)),
        ["spec.address", "spec.pool", "spec.claim"]
    );
    assert_eq!(
        fields("IPAddress", &good, Some(&good)),
        Vec::<String>::new()
    );
}

#[test]
fn other_kinds_are_not_ours() {
    assert_eq!(
        validate("Metal3Machine", &json!({}), None),
        Verdict::NotOurs
    );
}
