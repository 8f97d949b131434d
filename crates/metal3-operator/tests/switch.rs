//! The BareMetalSwitch controller against the real API server: the switch configuration Secret
//! is written, follows changes to a switch and to its credentials, leaves out a switch whose
//! credentials Secret is missing until it appears, and drops a deleted switch. With shards,
//! a namespace is written by the replica holding its shard, once it holds it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use metal3_api::v1alpha1::{BareMetalSwitch, ConditionStatus, SWITCH_CONDITION_VALID};
use metal3_operator::switch_config::{CONFIG_KEY, SwitchNetworking};
use serde_json::json;

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

fn switch(name: &str, mac: &str, credentials: &str) -> BareMetalSwitch {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitch",
        "metadata": {"name": name},
        "spec": {"address": "192.0.2.10", "macAddress": mac, "deviceType": "netmiko_cisco_ios",
                 "credentials": {"name": credentials}},
    }))
    .expect("switch")
}

/// Polls `check` on the Secret `name` until it holds, or fails after 30 s with the last data.
async fn wait_for_secret(
    secrets: &Api<Secret>,
    name: &str,
    what: &str,
    check: impl Fn(&BTreeMap<String, String>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data: BTreeMap<String, String> = secrets
            .get(name)
            .await
            .expect("read secret")
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect();
        if check(&data) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: secret {name} holds {:?}",
            data.keys()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_valid(
    switches: &Api<BareMetalSwitch>,
    name: &str,
    want: ConditionStatus,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = switches.get(name).await.expect("read switch");
        if let Some(c) = s
            .status
            .iter()
            .flat_map(|st| &st.conditions)
            .find(|c| c.r#type == SWITCH_CONDITION_VALID && c.status == want)
        {
            return c.message.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{name} never Valid={want:?}: {:?}",
            s.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The controller's settings: the two configuration Secrets [`namespace_with_a_switch`] makes.
fn settings() -> SwitchNetworking {
    SwitchNetworking {
        configs_secret: "switch-configs".into(),
        credentials_secret: "switch-credentials".into(),
        credentials_path: "/etc/ironic/switch-credentials".into(),
    }
}

/// A new namespace (named from `prefix`) with the two configuration Secrets, as the deployment
/// creates them for the networking service to mount, and switch `tor1` whose credentials
/// Secret `tor1-creds` holds user `admin` with `password`.
async fn namespace_with_a_switch(client: &kube::Client, prefix: &str, password: &str) -> String {
    let ns = metal3_testenv::shared()
        .namespace(client, prefix)
        .await
        .expect("namespace");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let switches: Api<BareMetalSwitch> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    for name in ["switch-configs", "switch-credentials"] {
        secrets
            .create(&pp, &secret(name, &[]))
            .await
            .expect("create secret");
    }
    secrets
        .create(
            &pp,
            &secret(
                "tor1-creds",
                &[("username", "admin"), ("password", password)],
            ),
        )
        .await
        .expect("credentials");
    switches
        .create(&pp, &switch("tor1", "aa:bb:cc:dd:ee:01", "tor1-creds"))
        .await
        .expect("switch");
    ns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_are_written_to_the_configuration_secret() {
    let client = metal3_testenv::shared().client().await.expect("client");
    let ns = namespace_with_a_switch(&client, "switch", "s3cret").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let switches: Api<BareMetalSwitch> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(metal3_operator::switch::run(
        client.clone(),
        Some(ns.clone()),
        settings(),
        None,
        async move {
            let _ = stopped.await;
        },
    ));

    let config = |needle: &'static str| {
        move |d: &BTreeMap<String, String>| d.get(CONFIG_KEY).is_some_and(|c| c.contains(needle))
    };
    wait_for_secret(
        &secrets,
        "switch-configs",
        "first switch",
        config("[switch:tor1]\naddress=192.0.2.10\nmac_address=aa:bb:cc:dd:ee:01\n"),
    )
    .await;
    wait_for_secret(
        &secrets,
        "switch-configs",
        "password",
        config("username=admin\npassword=s3cret\n"),
    )
    .await;
    let message = wait_for_valid(&switches, "tor1", ConditionStatus::True).await;
    assert!(!message.contains("s3cret"));
    // The credentials Secret is now the switch's (labelled, owned).
    let creds = secrets.get("tor1-creds").await.expect("credentials");
    assert_eq!(
        creds.metadata.owner_references.expect("owned")[0].kind,
        "BareMetalSwitch"
    );

    // A change to the switch is written.
    switches
        .patch(
            "tor1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"port": 2222}})),
        )
        .await
        .expect("patch switch");
    wait_for_secret(
        &secrets,
        "switch-configs",
        "port change",
        config("port=2222\n"),
    )
    .await;

    // A change to its credentials too: a key replaces the password.
    secrets
        .patch(
            "tor1-creds",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"password": null, "ssh-privatekey": "S0VZ"}})),
        )
        .await
        .expect("patch credentials");
    wait_for_secret(&secrets, "switch-credentials", "key file", |d| {
        d.get("aa-bb-cc-dd-ee-01.key").is_some_and(|k| k == "KEY")
    })
    .await;
    wait_for_secret(
        &secrets,
        "switch-configs",
        "key_file",
        config("key_file=/etc/ironic/switch-credentials/aa-bb-cc-dd-ee-01.key\n"),
    )
    .await;

    // A second switch whose Secret is missing is left out, reported, and added once it exists.
    switches
        .create(&pp, &switch("tor2", "aa:bb:cc:dd:ee:02", "tor2-creds"))
        .await
        .expect("second switch");
    let message = wait_for_valid(&switches, "tor2", ConditionStatus::False).await;
    assert!(
        message.contains("tor2-creds") && message.contains("not found"),
        "{message}"
    );
    secrets
        .create(
            &pp,
            &secret("tor2-creds", &[("username", "u"), ("password", "p")]),
        )
        .await
        .expect("late credentials");
    wait_for_secret(
        &secrets,
        "switch-configs",
        "late switch",
        config("[switch:tor2]"),
    )
    .await;
    wait_for_valid(&switches, "tor2", ConditionStatus::True).await;

    // A deleted switch leaves the configuration.
    switches
        .delete("tor1", &DeleteParams::default())
        .await
        .expect("delete switch");
    wait_for_secret(&secrets, "switch-configs", "deleted switch", |d| {
        d.get(CONFIG_KEY)
            .is_some_and(|c| !c.contains("[switch:tor1]") && c.contains("[switch:tor2]"))
    })
    .await;
    wait_for_secret(&secrets, "switch-credentials", "deleted key", |d| {
        d.is_empty()
    })
    .await;

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), controller)
        .await
        .expect("controller stops")
        .expect("controller task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_shards_a_namespace_is_written_once_its_shard_is_held() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use metal3_kube::leader::LeaseConfig;
    use metal3_kube::shards::{LEASE_KIND_LABEL, ShardConfig, Shards, keep};

    let client = metal3_testenv::shared().client().await.expect("client");
    let ns = namespace_with_a_switch(&client, "switch-shards", "pw").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let switches: Api<BareMetalSwitch> = Api::namespaced(client.clone(), &ns);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();

    // Two shards; the namespace's is held by another replica (an hour-long Lease, renewed now).
    let config = ShardConfig {
        count: 2,
        namespace: ns.clone(),
        prefix: "switches".into(),
        identity: "replica-a".into(),
        lease: LeaseConfig {
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(200),
        },
    };
    let shards = Shards::new(config.count, &config.identity);
    let ours = shards.shard_of(&ns, "switch-configs");
    let lease_name = config.shard_lease(ours);
    let mut other: Lease = serde_json::from_value(json!({
        "metadata": {"name": lease_name, "labels": {LEASE_KIND_LABEL: "shard"}},
        "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 3600},
    }))
    .expect("lease");
    if let Some(spec) = other.spec.as_mut() {
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    }
    leases.create(&pp, &other).await.expect("other's lease");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = futures::FutureExt::shared(async move {
        let _ = stopped.await;
    });
    let controller = tokio::spawn(metal3_operator::switch::run(
        client.clone(),
        Some(ns.clone()),
        settings(),
        Some(shards.clone()),
        stopped.clone(),
    ));
    let keeper = tokio::spawn(keep(client.clone(), config, shards.clone(), stopped));

    // The keeper takes the free shard only; the namespace stays the other replica's.
    let deadline = Instant::now() + Duration::from_secs(30);
    while shards.held() != vec![1 - ours] {
        assert!(Instant::now() < deadline, "held {:?}", shards.held());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let configs = secrets.get("switch-configs").await.expect("configs");
    assert!(
        configs.data.unwrap_or_default().is_empty(),
        "written while another replica held the namespace's shard"
    );

    // The other replica stops renewing: its Lease expires, this replica takes the shard and
    // writes the namespace without any further change to the switch.
    leases
        .patch(
            &lease_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"renewTime": "2020-01-01T00:00:00.000000Z"}})),
        )
        .await
        .expect("expire the other's lease");
    wait_for_secret(&secrets, "switch-configs", "after take-over", |d| {
        d.get(CONFIG_KEY)
            .is_some_and(|c| c.contains("[switch:tor1]"))
    })
    .await;
    wait_for_valid(&switches, "tor1", ConditionStatus::True).await;

    let _ = stop.send(());
    for task in [controller, keeper] {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("stops")
            .expect("task");
    }
}
