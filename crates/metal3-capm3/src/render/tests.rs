//! Rendering metadata and network data, and collecting the pools, from small templates.

use super::network::netmask;
use super::*;
use kube::api::ObjectMeta;
use metal3_api::v1alpha1::{BareMetalHostSpec, BareMetalHostStatus, HardwareDetails, Nic};
use metal3_capm3_api::v1beta2::{MetaData, NetworkData};
use serde_json::{Value, json};

fn meta(name: &str, labels: Value, annotations: Value) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        labels: serde_json::from_value(labels).expect("labels"),
        annotations: serde_json::from_value(annotations).expect("annotations"),
        ..Default::default()
    }
}

fn host() -> BareMetalHost {
    let mut h = BareMetalHost::new(
        "host-0",
        BareMetalHostSpec {
            boot_mac_address: "00:00:00:00:00:01".into(),
            ..Default::default()
        },
    );
    h.metadata = meta(
        "host-0",
        json!({"rack": "r1"}),
        json!({"pool": "pool-from-host", "mac": "aa:bb:cc:dd:ee:ff"}),
    );
    h.status = Some(BareMetalHostStatus {
        hardware: Some(HardwareDetails {
            nics: vec![Nic {
                name: "eth0".into(),
                mac: "52:54:00:00:00:10".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    });
    h
}

struct World {
    machine: ObjectMeta,
    m3m: ObjectMeta,
    host: BareMetalHost,
}

fn world() -> World {
    World {
        machine: meta(
            "machine-0",
            json!({"role": "worker"}),
            json!({"note": "hello"}),
        ),
        m3m: meta("m3m-0", json!({}), json!({})),
        host: host(),
    }
}

fn objects(w: &World, index: i32) -> Objects<'_> {
    Objects {
        index,
        namespace: "ns",
        machine: &w.machine,
        metal3machine: &w.m3m,
        host: &w.host,
    }
}

fn pools() -> BTreeMap<String, PoolAddress> {
    [
        (
            "pool".to_string(),
            PoolAddress {
                address: "192.168.0.14".into(),
                prefix: 24,
                gateway: "192.168.0.1".into(),
                dns_servers: vec!["10.0.0.53".into()],
            },
        ),
        (
            "pool6".to_string(),
            PoolAddress {
                address: "fd00::14".into(),
                prefix: 64,
                gateway: "fd00::1".into(),
                dns_servers: vec![],
            },
        ),
        (
            "pool-from-host".to_string(),
            PoolAddress {
                address: "172.16.0.9".into(),
                prefix: 16,
                gateway: "172.16.0.1".into(),
                dns_servers: vec![],
            },
        ),
    ]
    .into()
}

#[test]
fn metadata_of_every_kind() {
    let template: MetaData = serde_json::from_value(json!({
        "strings": [{"key": "s", "value": "v"}, {"key": "clash", "value": "strings win"}],
        "objectNames": [{"key": "machine", "object": "machine"}, {"key": "m3m", "object": "metal3machine"}, {"key": "bmh", "object": "baremetalhost"}],
        "indexes": [{"key": "idx", "offset": 10, "step": 2, "prefix": "node-", "suffix": ".x"}, {"key": "plain"}],
        "namespaces": [{"key": "ns"}],
        "ipAddressesFromPool": [{"key": "ip", "name": "pool"}],
        "prefixesFromPool": [{"key": "prefix", "name": "pool"}],
        "gatewaysFromPool": [{"key": "gw", "name": "pool"}, {"key": "clash", "name": "pool"}],
        "fromHostInterfaces": [{"key": "mac", "interface": "eth0"}, {"key": "boot", "fromBootMAC": true}],
        "fromLabels": [{"key": "role", "object": "machine", "label": "role"}, {"key": "rack", "object": "baremetalhost", "label": "rack"}, {"key": "none", "object": "metal3machine", "label": "x"}],
        "fromAnnotations": [{"key": "note", "object": "machine", "annotation": "note"}],
    }))
    .expect("template");
    let w = world();
    let out = metadata(&template, &objects(&w, 3), &pools()).expect("renders");
    let want: BTreeMap<String, String> = serde_json::from_value(json!({
        "s": "v", "clash": "strings win", "machine": "machine-0", "m3m": "m3m-0", "bmh": "host-0",
        "idx": "node-16.x", "plain": "3", "ns": "ns", "ip": "192.168.0.14", "prefix": "24",
        "gw": "192.168.0.1", "mac": "52:54:00:00:00:10", "boot": "00:00:00:00:00:01",
        "role": "worker", "rack": "r1", "none": "", "note": "hello",
        "providerid": "ns/host-0/m3m-0",
    }))
    .expect("want");
    assert_eq!(out, want);
}

#[test]
fn metadata_errors_say_what_is_missing() {
    let w = world();
    let bad_nic: MetaData =
        serde_json::from_value(json!({"fromHostInterfaces": [{"key": "m", "interface": "eth9"}]}))
            .expect("t");
    assert!(
        metadata(&bad_nic, &objects(&w, 0), &pools())
            .expect_err("nic")
            .0
            .contains("eth9")
    );
    let no_pool: MetaData = serde_json::from_value(
        json!({"ipAddressesFromPool": [{"key": "ip", "name": "elsewhere"}]}),
    )
    .expect("t");
    assert!(
        metadata(&no_pool, &objects(&w, 0), &pools())
            .expect_err("pool")
            .0
            .contains("elsewhere")
    );
}

#[test]
fn the_reference_ipv4_network() {
    let template: NetworkData = serde_json::from_value(json!({
        "networks": {"ipv4": [{"id": "abc", "link": "def", "ipAddressFromIPPool": "pool",
            "routes": [{"network": "10.0.0.0", "prefix": 16, "gateway": {"string": "192.168.1.1"}, "services": {"dns": ["8.8.8.8"]}}]}]},
    }))
    .expect("template");
    let w = world();
    let out = network_data(&template, &objects(&w, 0), &pools()).expect("renders");
    assert_eq!(
        out,
        json!({
            "links": [], "services": [],
            "networks": [{"type": "ipv4", "id": "abc", "link": "def", "ip_address": "192.168.0.14", "netmask": "255.255.255.0",
                "routes": [{"network": "10.0.0.0", "netmask": "255.255.0.0", "gateway": "192.168.1.1", "services": [{"type": "dns", "address": "8.8.8.8"}]}]}],
        })
    );
}

#[test]
fn links_networks_and_services() {
    let template: NetworkData = serde_json::from_value(json!({
        "links": {
            "ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}],
            "bonds": [{"bondMode": "802.3ad", "bondXmitHashPolicy": "layer3+4", "id": "bond0", "name": "bond0", "mtu": 9000,
                       "macAddress": {"string": "00:11:22:33:44:55"}, "parameters": [{"name": "miimon", "value": {"ms": 100}}], "bondLinks": ["eth0"]}],
            "vlans": [{"vlanID": 100, "id": "vlan100", "vlanLink": "bond0", "macAddress": {"fromAnnotation": {"object": "baremetalhost", "annotation": "mac"}}}],
        },
        "networks": {
            "ipv6": [{"id": "v6", "link": "bond0", "fromPoolRef": {"name": "pool6"}, "routes": [{"network": "::", "gateway": {"fromIPPool": "pool6"}}]}],
            "ipv4": [{"id": "v4", "link": "vlan100", "fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool"},
                      "routes": [{"network": "0.0.0.0", "gateway": {"fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool"}}, "services": {"dnsFromIPPool": "pool"}}]}],
            "ipv4DHCP": [{"id": "d4", "link": "eth0"}],
            "ipv6SLAAC": [{"id": "s6", "link": "eth0"}],
        },
        "services": {"dns": ["8.8.4.4"], "dnsFromIPPool": "pool"},
    }))
    .expect("template");
    let w = world();
    let out = network_data(&template, &objects(&w, 0), &pools()).expect("renders");
    assert_eq!(
        out["links"],
        json!([
            {"type": "bond", "id": "bond0", "name": "bond0", "mtu": 9000, "bond_mode": "802.3ad", "bond_xmit_hash_policy": "layer3+4",
             "bond_links": ["eth0"], "ethernet_mac_address": "00:11:22:33:44:55", "bond_miimon": {"ms": 100}},
            {"type": "phy", "id": "eth0", "mtu": 1500, "ethernet_mac_address": "52:54:00:00:00:10"},
            {"type": "vlan", "id": "vlan100", "mtu": 1500, "vlan_link": "bond0", "vlan_id": 100, "vlan_mac_address": "aa:bb:cc:dd:ee:ff"},
        ])
    );
    assert_eq!(
        out["networks"][0],
        json!({"type": "ipv4", "id": "v4", "link": "vlan100", "ip_address": "172.16.0.9", "netmask": "255.255.0.0",
        "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "172.16.0.1", "services": [{"type": "dns", "address": "10.0.0.53"}]}]})
    );
    assert_eq!(
        out["networks"][1],
        json!({"type": "ipv6", "id": "v6", "link": "bond0", "ip_address": "fd00::14", "netmask": "ffff:ffff:ffff:ffff::",
        "routes": [{"network": "::", "netmask": "::", "gateway": "fd00::1", "services": []}]})
    );
    assert_eq!(out["networks"][2]["type"], "ipv4_dhcp");
    assert_eq!(out["networks"][3]["type"], "ipv6_slaac");
    assert_eq!(
        out["services"],
        json!([{"type": "dns", "address": "8.8.4.4"}, {"type": "dns", "address": "10.0.0.53"}])
    );
    // The YAML reads back as the same document.
    let yaml = to_yaml(&out).expect("yaml");
    let back: Value = serde_saphyr::from_str(&yaml).expect("parses");
    assert_eq!(back, out, "{yaml}");
}

#[test]
fn bad_links_are_refused() {
    let w = world();
    let clash: NetworkData = serde_json::from_value(
        json!({"links": {"bonds": [{"bondMode": "balance-rr", "id": "b", "macAddress": {},
        "parameters": [{"name": "mode", "value": {}}, {"name": "links", "value": {}}]}]}}),
    )
    .expect("t");
    let e = network_data(&clash, &objects(&w, 0), &pools())
        .expect_err("clash")
        .0;
    assert!(e.contains("mode, links"), "{e}");
    let bad_mac: NetworkData = serde_json::from_value(json!({"links": {"ethernets": [{"type": "phy", "id": "e", "macAddress": {"string": "nope"}}]}})).expect("t");
    assert!(
        network_data(&bad_mac, &objects(&w, 0), &pools())
            .expect_err("mac")
            .0
            .contains("MAC")
    );
}

#[test]
fn referenced_pools_are_collected_and_checked() {
    let w = world();
    let meta: MetaData =
        serde_json::from_value(json!({"ipAddressesFromPool": [{"key": "ip", "name": "pool"}]}))
            .expect("m");
    let network: NetworkData = serde_json::from_value(json!({"networks": {
        "ipv4": [{"id": "a", "link": "l", "fromPoolRef": {"name": "capi", "kind": "InClusterIPPool", "apiGroup": "ipam.cluster.x-k8s.io"}},
                 {"id": "b", "link": "l", "fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool"}}],
        "ipv6DHCP": [{"id": "c", "link": "l", "routes": [{"network": "::", "gateway": {"fromIPPool": "gw6"}, "services": {"dnsFromIPPool": "dns"}}]}],
    }})).expect("n");
    let pools =
        referenced_pools(Some(&meta), Some(&network), Some(&objects(&w, 0))).expect("pools");
    assert_eq!(
        pools.keys().cloned().collect::<Vec<_>>(),
        ["capi", "dns", "gw6", "pool", "pool-from-host"]
    );
    assert!(pools["pool"].is_metal3());
    assert!(!pools["capi"].is_metal3());
    // Without the objects (release), annotation-named pools are skipped.
    let pools = referenced_pools(Some(&meta), Some(&network), None).expect("pools");
    assert!(!pools.contains_key("pool-from-host"));
    let clash: NetworkData = serde_json::from_value(json!({"networks": {"ipv4": [{"id": "a", "link": "l", "fromPoolRef": {"name": "pool", "kind": "Other"}}]}})).expect("n");
    assert!(
        referenced_pools(Some(&meta), Some(&clash), None)
            .expect_err("clash")
            .0
            .contains("one name must mean one pool")
    );
}

#[test]
fn netmasks() {
    assert_eq!(netmask(0, true), "0.0.0.0");
    assert_eq!(netmask(32, true), "255.255.255.255");
    assert_eq!(netmask(20, true), "255.255.240.0");
    assert_eq!(
        netmask(128, false),
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    );
    assert_eq!(netmask(48, false), "ffff:ffff:ffff::");
}
