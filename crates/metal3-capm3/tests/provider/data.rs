//! Data templates: metadata and network data rendered into Secrets, with addresses claimed
//! from IP pools and released again.

use crate::common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use metal3_capm3_api::v1beta2::Metal3Machine;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_template_renders_metadata_and_network_data() {
    use metal3_capm3_api::v1beta2::{Metal3Data, Metal3DataClaim, Metal3DataTemplate};
    let env = Env::new("data").await;
    for h in ["h-0", "h-1"] {
        env.host(h, json!({"rack": format!("rack-{h}")})).await;
    }
    env.cluster("c1").await;
    env.create::<Metal3DataTemplate>(json!({
        "metadata": {"name": "tmpl", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {
            "metaData": {
                "strings": [{"key": "role", "value": "worker"}],
                "objectNames": [{"key": "machine", "object": "machine"}, {"key": "host", "object": "baremetalhost"}],
                "indexes": [{"key": "hostname", "prefix": "node-"}],
                "namespaces": [{"key": "ns"}],
                "fromLabels": [{"key": "rack", "object": "baremetalhost", "label": "rack"}],
                "fromHostInterfaces": [{"key": "mac", "interface": "eth0"}],
            },
            "networkData": {
                "links": {"ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}]},
                "networks": {"ipv4DHCP": [{"id": "provisioning", "link": "eth0"}]},
                "services": {"dns": ["192.0.2.53"]},
            },
        },
    }))
    .await;
    env.hosts_available(&["h-0", "h-1"]).await;
    let mut spec = image_spec();
    spec["dataTemplate"] = json!({"name": "tmpl"});
    env.machine("c1", "m-0", spec.clone(), None).await;
    let m0 = env.join("m-0").await;
    let host = host_of(&m0);
    let status = m0.status.clone().expect("status");
    assert_eq!(
        status.rendered_data.as_ref().map(|r| r.name.as_str()),
        Some("tmpl-0")
    );
    assert_eq!(
        status.meta_data.as_ref().and_then(|r| r.name.as_deref()),
        Some("m-0-metadata")
    );
    assert_eq!(
        condition(&m0, "Metal3DataReady"),
        Some(("True".into(), "Metal3DataSecretsReady".into()))
    );
    // The v1beta1 mirrors for v1beta1 readers, in upstream's v1beta1 vocabulary: true
    // conditions without reasons, Ready summarising them.
    let mirrors = |conditions: &[metal3_capm3_api::common::V1Beta1Condition]| {
        conditions
            .iter()
            .map(|c| (c.r#type.clone(), c.status.clone(), c.reason.clone()))
            .collect::<Vec<_>>()
    };
    let m0_mirrors = mirrors(
        &status
            .deprecated
            .as_ref()
            .and_then(|d| d.v1beta1.as_ref())
            .expect("Metal3Machine v1beta1 mirrors")
            .conditions,
    );
    let t = |k: &str| (k.to_string(), "True".to_string(), String::new());
    assert_eq!(
        m0_mirrors,
        [t("Ready"), t("AssociateBMH"), t("Metal3DataReady")]
    );
    let m3c = env
        .api::<metal3_capm3_api::v1beta2::Metal3Cluster>()
        .get("c1")
        .await
        .expect("Metal3Cluster");
    let m3c_mirrors = mirrors(
        &m3c.status
            .as_ref()
            .and_then(|s| s.deprecated.as_ref())
            .and_then(|d| d.v1beta1.as_ref())
            .expect("Metal3Cluster v1beta1 mirrors")
            .conditions,
    );
    assert_eq!(m3c_mirrors, [t("Ready"), t("BaremetalInfrastructureReady")]);
    // The claim, owned by the machine, answered with Metal3Data of index 0.
    let claim = env
        .api::<Metal3DataClaim>()
        .get("m-0")
        .await
        .expect("claim");
    assert_eq!(claim.owner_references()[0].kind, "Metal3Machine");
    assert!(
        claim
            .finalizers()
            .contains(&"metal3machine.infrastructure.cluster.x-k8s.io".to_string())
    );
    assert!(
        claim
            .finalizers()
            .contains(&"metal3dataclaim.infrastructure.cluster.x-k8s.io".to_string())
    );
    let data = env.api::<Metal3Data>().get("tmpl-0").await.expect("data");
    assert_eq!(data.spec.index, Some(0));
    assert_eq!(data.status.as_ref().and_then(|s| s.ready), Some(true));
    // The rendered Secrets, owned by the Metal3Data.
    let meta = env
        .api::<Secret>()
        .get("m-0-metadata")
        .await
        .expect("metadata secret");
    assert_eq!(
        meta.type_.as_deref(),
        Some("infrastructure.cluster.x-k8s.io/secret")
    );
    assert_eq!(meta.owner_references()[0].name, "tmpl-0");
    assert_eq!(
        meta.labels()
            .get("cluster.x-k8s.io/cluster-name")
            .map(String::as_str),
        Some("c1")
    );
    let rendered: std::collections::BTreeMap<String, String> =
        serde_saphyr::from_str(&secret_text(&meta, "metaData")).expect("metadata YAML");
    let bmh = env.api::<BareMetalHost>().get(&host).await.expect("host");
    let nic_mac = bmh
        .status
        .as_ref()
        .and_then(|s| s.hardware.as_ref())
        .and_then(|hw| hw.nics.iter().find(|n| n.name == "eth0"))
        .map(|n| n.mac.clone())
        .expect("eth0");
    let want: std::collections::BTreeMap<String, String> = serde_json::from_value(json!({
        "role": "worker", "machine": "m-0", "host": host, "hostname": "node-0", "ns": env.ns,
        "rack": format!("rack-{host}"), "mac": nic_mac, "providerid": format!("{}/{host}/m-0", env.ns),
    }))
    .expect("want");
    assert_eq!(rendered, want);
    let network: serde_json::Value = serde_saphyr::from_str(&secret_text(
        &env.api::<Secret>()
            .get("m-0-networkdata")
            .await
            .expect("network secret"),
        "networkData",
    ))
    .expect("network YAML");
    assert_eq!(
        network,
        json!({
            "links": [{"type": "phy", "id": "eth0", "mtu": 1500, "ethernet_mac_address": nic_mac}],
            "networks": [{"type": "ipv4_dhcp", "id": "provisioning", "link": "eth0", "routes": []}],
            "services": [{"type": "dns", "address": "192.0.2.53"}],
        })
    );
    // The host was provisioned with them.
    assert_eq!(
        bmh.spec.meta_data.as_ref().and_then(|r| r.name.as_deref()),
        Some("m-0-metadata")
    );
    assert_eq!(
        bmh.spec
            .network_data
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("m-0-networkdata")
    );
    let given = env
        .fixture
        .node(&env.ns, &host)
        .and_then(|n| n.provisioned_config)
        .expect("provisioned");
    assert!(given.meta_data.unwrap_or_default().contains("node-0"));
    // The next machine gets the next index; the template lists both.
    env.machine("c1", "m-1", spec.clone(), None).await;
    env.join("m-1").await;
    let tmpl = env
        .wait::<Metal3DataTemplate>("tmpl", "two indexes", |t| {
            t.status.as_ref().is_some_and(|s| s.indexes.len() == 2)
        })
        .await;
    let indexes: Vec<_> = tmpl
        .status
        .expect("status")
        .indexes
        .into_iter()
        .map(|e| (e.name, e.index))
        .collect();
    assert_eq!(indexes, [("m-0".to_string(), 0), ("m-1".to_string(), 1)]);
    // Deleting the first machine removes its claim and data and frees index 0.
    env.delete::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3DataClaim>("m-0").await;
    env.wait_gone::<Metal3Data>("tmpl-0").await;
    env.wait::<Metal3DataTemplate>("tmpl", "index 0 free", |t| {
        t.status
            .as_ref()
            .is_some_and(|s| s.indexes.iter().map(|e| e.index).collect::<Vec<_>>() == [1])
    })
    .await;
    let released = env
        .wait::<BareMetalHost>(&host, "released", |h| {
            h.spec.consumer_ref.is_none() && h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    assert_eq!(
        released.spec.meta_data, None,
        "the rendered Secrets are taken off the host"
    );
    assert_eq!(released.spec.network_data, None);
}

/// The API resource of an IPAM kind the test reads without typed structs.
fn resource(group: &str, version: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_from_ip_pools_are_claimed_rendered_and_released() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use metal3_capm3_api::v1beta2::Metal3DataTemplate;
    use metal3_ipam_api::v1alpha1::IPPool;
    let env = Env::new("ipam").await;
    // The IP address manager (`metal3 ipam`) answers the claims from two pools.
    let ipam = tokio::spawn(metal3_ipam::run(
        env.client.clone(),
        metal3_ipam::Config {
            namespace: Some(env.ns.clone()),
            capi: Some(true),
            requeue: std::time::Duration::from_millis(300),
            error_retry: std::time::Duration::from_millis(300),
            ..metal3_ipam::Config::default()
        },
        std::sync::Arc::new(metal3_ipam::Metrics::default()),
        std::future::pending::<()>(),
    ));
    let pools: Api<IPPool> = env.api();
    for (name, spec) in [(
        "provisioning",
        json!({"namePrefix": "prov", "pools": [{"start": "192.0.2.10", "end": "192.0.2.20"}], "prefix": 24,
                   "gateway": "192.0.2.1", "dnsServers": ["192.0.2.53"]}),
    )] {
        let pool: IPPool =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))
                .expect("pool");
        pools
            .create(&PostParams::default(), &pool)
            .await
            .expect("IPPool");
    }
    let api = |r: &kube::api::ApiResource| -> Api<DynamicObject> {
        Api::namespaced_with(env.client.clone(), &env.ns, r)
    };
    let m3_claim = resource("ipam.metal3.io", "v1alpha1", "IPClaim", "ipclaims");
    let capi_claim = resource(
        "ipam.cluster.x-k8s.io",
        "v1beta2",
        "IPAddressClaim",
        "ipaddressclaims",
    );
    let capi_address = resource(
        "ipam.cluster.x-k8s.io",
        "v1beta2",
        "IPAddress",
        "ipaddresses",
    );
    // A pool of another IPAM provider (Cluster API's in-cluster provider, a Go program not
    // built here) is served through Cluster API's IPAddressClaims; the test answers those.
    let in_cluster = {
        let (claims, addresses) = (api(&capi_claim), api(&capi_address));
        let kind = capi_address.clone();
        tokio::spawn(async move {
            let mut next = 10;
            loop {
                if let Ok(list) = claims.list(&Default::default()).await {
                    for claim in list.items {
                        if claim.data["status"]["addressRef"]["name"].is_string() {
                            continue;
                        }
                        let name = format!("{}-address", claim.name_any());
                        let mut address = DynamicObject::new(&name, &kind);
                        address.data = json!({"spec": {
                            "address": format!("198.51.100.{next}"), "prefix": 25,
                            "gateway": "198.51.100.1",
                            "claimRef": {"name": claim.name_any()},
                            "poolRef": claim.data["spec"]["poolRef"].clone(),
                        }});
                        next += 1;
                        let _ = addresses.create(&PostParams::default(), &address).await;
                        let status = json!({"status": {"addressRef": {"name": name}}});
                        let _ = claims
                            .patch_status(
                                &claim.name_any(),
                                &PatchParams::default(),
                                &Patch::Merge(&status),
                            )
                            .await;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };

    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.create::<Metal3DataTemplate>(json!({
        "metadata": {"name": "pools", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {
            "metaData": {"ipAddressesFromPool": [{"key": "provisioning-ip", "name": "provisioning"}]},
            "networkData": {
                "links": {"ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}]},
                "networks": {"ipv4": [
                    {"id": "provisioning", "link": "eth0", "ipAddressFromIPPool": "provisioning",
                     "routes": [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": "provisioning"}}]},
                    {"id": "public", "link": "eth0",
                     "fromPoolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "public"}},
                ]},
                "services": {"dnsFromIPPool": "provisioning"},
            },
        },
    }))
    .await;
    env.hosts_available(&["h-0"]).await;
    let mut spec = image_spec();
    spec["dataTemplate"] = json!({"name": "pools"});
    env.machine("c1", "m-0", spec, None).await;
    env.join("m-0").await;

    // One claim per pool, owned by the Metal3Data, naming its pool.
    let claim = api(&m3_claim)
        .get("pools-0-provisioning")
        .await
        .expect("IPClaim");
    assert_eq!(claim.data["spec"]["pool"]["name"], "provisioning");
    assert_eq!(claim.owner_references()[0].name, "pools-0");
    let claim = api(&capi_claim)
        .get("pools-0-public")
        .await
        .expect("IPAddressClaim");
    assert_eq!(claim.data["spec"]["poolRef"]["kind"], "InClusterIPPool");
    assert_eq!(claim.data["spec"]["poolRef"]["name"], "public");

    // The addresses are rendered into the host's metadata and network data.
    let meta: std::collections::BTreeMap<String, String> = serde_saphyr::from_str(&secret_text(
        &env.api::<Secret>()
            .get("m-0-metadata")
            .await
            .expect("metadata"),
        "metaData",
    ))
    .expect("metadata YAML");
    assert_eq!(meta["provisioning-ip"], "192.0.2.10");
    let network: serde_json::Value = serde_saphyr::from_str(&secret_text(
        &env.api::<Secret>()
            .get("m-0-networkdata")
            .await
            .expect("network data"),
        "networkData",
    ))
    .expect("network YAML");
    let networks = network["networks"].as_array().expect("networks");
    let by_id = |id: &str| {
        networks
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("network {id} in {network}"))
    };
    assert_eq!(by_id("provisioning")["ip_address"], "192.0.2.10");
    assert_eq!(by_id("provisioning")["netmask"], "255.255.255.0");
    assert_eq!(by_id("provisioning")["routes"][0]["gateway"], "192.0.2.1");
    assert_eq!(by_id("public")["ip_address"], "198.51.100.10");
    assert_eq!(by_id("public")["netmask"], "255.255.255.128");
    assert_eq!(
        network["services"],
        json!([{"type": "dns", "address": "192.0.2.53"}])
    );

    // Deleting the machine deletes its claims (the addresses go back to the pools).
    env.delete::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3Machine>("m-0").await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = api(&m3_claim)
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .len()
            + api(&capi_claim)
                .list(&Default::default())
                .await
                .expect("list")
                .items
                .len();
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} claims left");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    ipam.abort();
    in_cluster.abort();
}
