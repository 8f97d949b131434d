//! Unit tests of the HostClaim decisions.

use super::*;
use serde_json::{Value, json};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn namespaces(v: Value) -> HostClaimNamespaces {
    serde_json::from_value(v).expect("hostClaimNamespaces")
}

fn policy(ns: &str, admitted: Value) -> HostDeployPolicy {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostDeployPolicy",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"hostClaimNamespaces": admitted},
    }))
    .expect("policy")
}

fn host(ns: &str, name: &str, state: &str, extra: Value) -> BareMetalHost {
    let mut doc = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"online": false},
    });
    let error = extra["status"]["errorMessage"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut extra = extra;
    if let Some(o) = extra.as_object_mut() {
        o.remove("status");
    }
    merge(&mut doc, extra);
    let mut host: BareMetalHost = serde_json::from_value(doc).expect("host");
    let mut status = metal3_api::v1alpha1::BareMetalHostStatus::default();
    status.provisioning.state = serde_json::from_value(json!(state)).expect("state");
    status.error_message = error;
    host.status = Some(status);
    host
}

fn merge(doc: &mut Value, extra: Value) {
    if let (Value::Object(d), Value::Object(e)) = (doc, extra) {
        for (k, v) in e {
            match d.get_mut(&k) {
                Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                _ => {
                    d.insert(k, v);
                }
            }
        }
    }
}

fn claim(ns: &str, name: &str, spec: Value) -> HostClaim {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": name, "namespace": ns, "uid": "u-1"},
        "spec": spec,
    }))
    .expect("claim")
}

#[test]
fn a_policy_admits_by_names_regex_and_labels_all_together() {
    let none = BTreeMap::new();
    let team = labels(&[("tenant", "yes"), ("tier", "gold")]);
    assert!(!admits(None, "a", &none), "no conditions: nobody");
    assert!(
        admits(Some(&namespaces(json!({}))), "a", &none),
        "empty conditions: everyone"
    );
    let names = namespaces(json!({"names": ["a", "b"]}));
    assert!(admits(Some(&names), "b", &none));
    assert!(!admits(Some(&names), "c", &none));
    let listed_none = namespaces(json!({"names": []}));
    assert!(
        !admits(Some(&listed_none), "a", &none),
        "an empty list admits nobody"
    );
    let unanchored = namespaces(json!({"nameMatches": "prod"}));
    for ns in ["prod", "production", "not-prod"] {
        assert!(admits(Some(&unanchored), ns, &none), "{ns}");
    }
    assert!(!admits(Some(&unanchored), "dev", &none));
    let anchored = namespaces(json!({"nameMatches": "^prod$"}));
    assert!(admits(Some(&anchored), "prod", &none));
    assert!(!admits(Some(&anchored), "production", &none));
    let broken = namespaces(json!({"nameMatches": "prod("}));
    assert!(
        !admits(Some(&broken), "prod(", &none),
        "a bad regex admits nobody"
    );
    let has =
        namespaces(json!({"hasLabels": [{"name": "tenant"}, {"name": "tier", "value": "gold"}]}));
    assert!(admits(Some(&has), "a", &team));
    assert!(!admits(
        Some(&has),
        "a",
        &labels(&[("tenant", "yes"), ("tier", "silver")])
    ));
    assert!(!admits(Some(&has), "a", &labels(&[("tier", "gold")])));
    let all = namespaces(
        json!({"names": ["team-a"], "nameMatches": "^team-", "hasLabels": [{"name": "tenant"}]}),
    );
    assert!(admits(Some(&all), "team-a", &team));
    assert!(!admits(Some(&all), "team-a", &none), "labels missing");
    assert!(!admits(Some(&all), "team-b", &team), "not listed");
}

#[test]
fn admitted_namespaces_follow_policies_and_in_namespace() {
    let policies = [
        policy("hosts-1", json!({"names": ["t"]})),
        policy("hosts-2", json!({"nameMatches": "^t$"})),
        policy("hosts-3", json!({"names": ["other"]})),
    ];
    let none = BTreeMap::new();
    let all: Vec<String> = admitted_namespaces(&policies, "t", &none, "")
        .into_iter()
        .collect();
    assert_eq!(all, ["hosts-1", "hosts-2"]);
    let one: Vec<String> = admitted_namespaces(&policies, "t", &none, "hosts-2")
        .into_iter()
        .collect();
    assert_eq!(one, ["hosts-2"]);
    assert!(admitted_namespaces(&policies, "t", &none, "hosts-3").is_empty());
}

#[test]
fn selectors_parse_and_match_like_label_selectors() {
    let sel: HostSelector = serde_json::from_value(json!({
        "matchLabels": {"tier": "gold"},
        "matchExpressions": [
            {"key": "rack", "operator": "In", "values": ["r1", "r2"]},
            {"key": "zone", "operator": "!=", "values": ["z9"]},
            {"key": "gpu", "operator": "exists", "values": []},
            {"key": "broken", "operator": "!", "values": []},
            {"key": "os", "operator": "notin", "values": ["win"]},
        ]
    }))
    .expect("selector");
    let s = Selector::parse(&sel).expect("parses");
    let ok = labels(&[("tier", "gold"), ("rack", "r2"), ("gpu", "")]);
    assert!(s.matches(&ok));
    for (k, v) in [
        ("tier", "silver"),
        ("rack", "r3"),
        ("zone", "z9"),
        ("os", "win"),
        ("broken", "x"),
    ] {
        let mut l = ok.clone();
        l.insert(k.into(), v.into());
        assert!(!s.matches(&l), "{k}={v}");
    }
    let mut no_gpu = ok.clone();
    no_gpu.remove("gpu");
    assert!(!s.matches(&no_gpu));
    assert!(
        Selector::parse(&HostSelector::default())
            .expect("empty")
            .matches(&BTreeMap::new())
    );
    for bad in [
        json!({"key": "a", "operator": "gt", "values": ["1"]}),
        json!({"key": "a", "operator": "in", "values": []}),
        json!({"key": "a", "operator": "=", "values": ["1", "2"]}),
        json!({"key": "a", "operator": "exists", "values": ["1"]}),
    ] {
        let sel: HostSelector =
            serde_json::from_value(json!({"matchExpressions": [bad.clone()]})).expect("selector");
        assert!(Selector::parse(&sel).is_err(), "{bad}");
    }
}

#[test]
fn candidates_skip_every_unusable_host_and_prefer_an_existing_binding() {
    let admitted: BTreeSet<String> = ["hosts".to_string()].into();
    let sel = Selector::default();
    let taken =
        json!({"spec": {"consumerRef": {"kind": "Machine", "name": "m", "namespace": "x"}}});
    let hosts = vec![
        host("hosts", "ok-ready", "ready", json!({})),
        host("hosts", "ok-available", "available", json!({})),
        host("elsewhere", "not-admitted", "available", json!({})),
        host("hosts", "taken", "available", taken),
        host("hosts", "provisioned", "provisioned", json!({})),
        host("hosts", "inspecting", "inspecting", json!({})),
        host(
            "hosts",
            "paused",
            "available",
            json!({"metadata": {"annotations": {PAUSED_ANNOTATION: ""}}}),
        ),
        host(
            "hosts",
            "deleting",
            "available",
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["x"]}}),
        ),
        host(
            "hosts",
            "failed",
            "available",
            json!({"status": {"errorMessage": "boom"}}),
        ),
    ];
    let Candidates::Free(free) = candidates(&hosts, &admitted, &sel, "t", "c") else {
        panic!("no binding yet");
    };
    let names: Vec<String> = free.iter().map(|h| h.name_any()).collect();
    assert_eq!(names, ["ok-ready", "ok-available"]);
    let gold = Selector::parse(
        &serde_json::from_value(json!({"matchLabels": {"tier": "gold"}})).expect("sel"),
    )
    .expect("parses");
    assert_eq!(
        candidates(&hosts, &admitted, &gold, "t", "c"),
        Candidates::Free(vec![])
    );

    let mut with_binding = hosts.clone();
    with_binding.push(host(
        "hosts",
        "mine",
        "provisioned",
        json!({"spec": {"consumerRef": {"apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim", "name": "c", "namespace": "t"}}}),
    ));
    match candidates(&with_binding, &admitted, &sel, "t", "c") {
        Candidates::Bound(h) => assert_eq!(h.name_any(), "mine"),
        other => panic!("expected the existing binding, got {other:?}"),
    }
    // The same reference from another group or namespace is not this claim's.
    for other in [
        json!({"apiVersion": "example.com/v1", "kind": "HostClaim", "name": "c", "namespace": "t"}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim", "name": "c", "namespace": "u"}),
    ] {
        let h = host(
            "hosts",
            "h",
            "available",
            json!({"spec": {"consumerRef": other}}),
        );
        assert!(!claimed_by(&h, "t", "c"));
    }
}

#[test]
fn choice_prefers_the_failure_domain_and_is_spread_by_seed() {
    let fd = |name: &str, domain: &str| {
        host(
            "hosts",
            name,
            "available",
            json!({"metadata": {"labels": {FAILURE_DOMAIN_LABEL: domain}}}),
        )
    };
    let hosts = [
        fd("a", "fd-1"),
        fd("b", "fd-2"),
        fd("c", "fd-2"),
        fd("d", "fd-3"),
    ];
    let free: Vec<&BareMetalHost> = hosts.iter().collect();
    for seed in ["s1", "s2", "s3", "s4", "s5"] {
        let chosen = choose(&free, "fd-2", seed).expect("a host");
        assert!(["b", "c"].contains(&chosen.name_any().as_str()));
        assert_eq!(choose(&free, "fd-2", seed), Some(chosen), "stable");
    }
    assert_eq!(
        choose(&free, "fd-1", "x").map(|h| h.name_any()),
        Some("a".into())
    );
    assert!(
        choose(&free, "fd-9", "x").is_some(),
        "falls back to any host"
    );
    let picks: BTreeSet<String> = (0..40)
        .filter_map(|i| choose(&free, "", &format!("uid-{i}")).map(|h| h.name_any()))
        .collect();
    assert!(
        picks.len() > 1,
        "different claims spread over the pool: {picks:?}"
    );
    assert_eq!(choose(&[], "", "x"), None);
}

#[test]
fn the_deployment_follows_the_claim_and_secrets_stay_in_its_namespace() {
    let c = claim(
        "t",
        "c",
        json!({"poweredOn": true, "image": {"url": "http://x/os", "checksum": "abc"},
               "userData": {"name": "ud"}, "metaData": {"name": "md", "namespace": "t"}}),
    );
    let want = Deployment::wanted(&c, "h", "hosts");
    assert!(want.online);
    assert_eq!(
        want.image.as_ref().map(|i| i.url.as_str()),
        Some("http://x/os")
    );
    assert_eq!(
        want.data[0],
        Some(SecretReference {
            name: Some("h-hostclaim-userdata".into()),
            namespace: Some("hosts".into())
        })
    );
    assert_eq!(want.data[1], None);
    assert_eq!(
        want.data[2].as_ref().and_then(|r| r.name.as_deref()),
        Some("h-hostclaim-metadata")
    );
    let patch = want.spec_patch();
    assert_eq!(
        patch["networkData"],
        Value::Null,
        "unset fields are removed"
    );
    assert_eq!(patch["userData"]["namespace"], "hosts");
    let bare = host("hosts", "h", "available", json!({}));
    assert_ne!(Deployment::of(&bare), want);
    assert_eq!(Deployment::of(&bare), Deployment::released());
    let reference = |ns: Option<&str>| SecretReference {
        name: Some("ud".into()),
        namespace: ns.map(String::from),
    };
    assert_eq!(source_secret(&reference(None), "t"), Ok("ud".into()));
    assert_eq!(source_secret(&reference(Some("t")), "t"), Ok("ud".into()));
    let err = source_secret(&reference(Some("hosts")), "t").expect_err("other namespace");
    assert!(
        err.contains("only use Secrets of its own namespace"),
        "{err}"
    );
    assert!(source_secret(&SecretReference::default(), "t").is_err());
}

#[test]
fn busy_hosts_and_conditions() {
    for (state, is_busy) in [
        ("provisioned", true),
        ("provisioning", true),
        ("deprovisioning", true),
        ("preparing", true),
        ("available", false),
        ("ready", false),
        ("inspecting", false),
    ] {
        assert_eq!(busy(&host("n", "h", state, json!({}))), is_busy, "{state}");
    }
    let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(100).expect("t0"));
    let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(200).expect("t1"));
    let mut conditions = Vec::new();
    set_condition(
        &mut conditions,
        "Associated",
        false,
        "NoBareMetalHost",
        "none",
        &t0,
        Some(1),
    );
    set_condition(
        &mut conditions,
        "Associated",
        false,
        "NoBareMetalHost",
        "still none",
        &t1,
        Some(2),
    );
    assert_eq!(conditions.len(), 1);
    assert_eq!(
        conditions[0].last_transition_time, t0,
        "same status keeps its time"
    );
    assert_eq!(conditions[0].message, "still none");
    set_condition(
        &mut conditions,
        "Associated",
        true,
        "BareMetalHostAssociated",
        "",
        &t1,
        Some(2),
    );
    assert_eq!(conditions[0].last_transition_time, t1);
    assert_eq!(conditions[0].status, ConditionStatus::True);
    set_condition(
        &mut conditions,
        "Synchronized",
        true,
        "ConfigurationSynced",
        "",
        &t1,
        None,
    );
    assert_eq!(conditions.len(), 2);
}

#[test]
fn the_consumer_ref_names_the_claim() {
    let c = claim("t", "c", json!({"poweredOn": false}));
    let r = consumer_ref(&c);
    assert_eq!(r.kind.as_deref(), Some("HostClaim"));
    assert_eq!(r.api_version.as_deref(), Some("metal3.io/v1alpha1"));
    let h = host(
        "hosts",
        "h",
        "available",
        json!({"spec": {"consumerRef": r}}),
    );
    assert!(claimed_by(&h, "t", "c"));
    assert!(!claimed_by(&h, "t", "d"));
    assert_eq!(claim_of(&h), Some(("t".into(), "c".into())));
    let machine = host(
        "hosts",
        "m",
        "provisioned",
        json!({"spec": {"consumerRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "Metal3Machine", "name": "c", "namespace": "t"}}}),
    );
    assert_eq!(claim_of(&machine), None, "other consumers wake no claim");
    assert_eq!(
        claim_of(&host("hosts", "free", "available", json!({}))),
        None
    );
}
