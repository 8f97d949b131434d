//! HostClaim mode (`--use-hostclaims`): a Metal3Machine in a tenant namespace gets its host
//! from the hosts' namespace through a HostClaim, with the provider running as a user who has
//! the shipped manager role in the tenant namespace and no rights anywhere else; deleting the machine releases the host; a tenant
//! no HostDeployPolicy admits gets no host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource, ResourceExt};
use metal3_api::v1alpha1::{
    BareMetalHost, HostClaim, HostDeployPolicy, ProvisioningState, SYNCHRONIZED_CONDITION,
};
use metal3_capm3::hostclaim::HostClaimMode;
use metal3_capm3_api::v1beta2::Metal3Machine;
use metal3_operator::hostclaim::HostClaimConfig;
use metal3_operator::{Metrics, OperatorConfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::common::*;

/// The tenant's world (`env`, where the Cluster API objects live) and a hosts' namespace with
/// two available hosts (`gold-0` labelled `tier: gold`, `plain-0`) and a policy admitting
/// `admitted`; the operator serves the hosts' namespace and claims of the tenant's, and the
/// provider runs in HostClaim mode as a user with rights only in the tenant namespace.
async fn setup(prefix: &str, admitted: &[&str]) -> (Env, String) {
    let env = Env::bare(prefix).await;
    let hosts_ns = metal3_testenv::shared()
        .namespace(&env.client, &format!("{prefix}-hosts"))
        .await
        .expect("hosts namespace");
    let admitted: Vec<String> = admitted
        .iter()
        .map(|n| n.replace("{tenant}", &env.ns))
        .collect();
    let config = OperatorConfig {
        namespace: Some(hosts_ns.clone()),
        machine: fast_machine(),
        concurrency: 4,
        instance: Some("test".into()),
        dependency_retry: Duration::from_millis(500),
        hostclaims: Some(HostClaimConfig {
            namespaces: vec![env.ns.clone()],
            retry: Duration::from_millis(500),
        }),
        ..OperatorConfig::default()
    };
    tokio::spawn(metal3_operator::run(
        env.client.clone(),
        Arc::new(env.fixture.clone()),
        config,
        Arc::new(Metrics::default()),
        std::future::pending::<()>(),
    ));
    for (name, labels) in [("gold-0", json!({"tier": "gold"})), ("plain-0", json!({}))] {
        create_in::<Secret>(
            &env.client,
            &hosts_ns,
            json!({"metadata": {"name": format!("{name}-bmc")},
                   "stringData": {"username": "admin", "password": format!("pw-{name}")}}),
        )
        .await;
        create_in::<BareMetalHost>(
            &env.client,
            &hosts_ns,
            json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": name, "labels": labels},
                "spec": {"online": false,
                         "bmc": {"address": format!("redfish://192.0.2.1/redfish/v1/Systems/{name}"),
                                 "credentialsName": format!("{name}-bmc")}},
            }),
        )
        .await;
    }
    create_in::<HostDeployPolicy>(
        &env.client,
        &hosts_ns,
        json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostDeployPolicy",
            "metadata": {"name": "tenants"},
            "spec": {"hostClaimNamespaces": {"names": admitted}},
        }),
    )
    .await;
    for h in ["gold-0", "plain-0"] {
        wait_in::<BareMetalHost>(&env.client, &hosts_ns, h, "available", |h| {
            h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    }
    let restricted = tenant_only(&env).await;
    assert!(
        Api::<BareMetalHost>::namespaced(restricted.clone(), &hosts_ns)
            .list(&Default::default())
            .await
            .is_err_and(|e| matches!(e, kube::Error::Api(ref s) if s.code == 403)),
        "the provider's user has no rights on the hosts' namespace"
    );
    assert!(
        Api::<Secret>::namespaced(restricted.clone(), &hosts_ns)
            .get("gold-0-bmc")
            .await
            .is_err_and(|e| matches!(e, kube::Error::Api(ref s) if s.code == 403)),
        "nor on its Secrets"
    );
    let config = metal3_capm3::Config {
        hostclaims: Some(HostClaimMode {
            host_namespace: hosts_ns.clone(),
        }),
        ..fast_capm3(&env.ns)
    };
    env.start_capm3_as(restricted, config);
    (env, hosts_ns)
}

/// A client for a user who has the shipped manager ClusterRole (`config/capm3/rbac.yaml`)
/// bound in the tenant namespace only, and nothing else.
async fn tenant_only(env: &Env) -> Client {
    let user = format!("capm3-tenant-{}", env.ns);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/capm3/rbac.yaml");
    let text = std::fs::read_to_string(file).expect("rbac.yaml");
    let doc = text
        .split("\n---\n")
        .find(|d| d.contains("\nkind: ClusterRole\n"))
        .expect("the manager ClusterRole");
    let mut role: ClusterRole = serde_saphyr::from_str(doc).expect("ClusterRole");
    let role_name = format!("capm3-tenant-{}", env.ns);
    role.metadata = ObjectMeta {
        name: Some(role_name.clone()),
        ..ObjectMeta::default()
    };
    Api::<ClusterRole>::all(env.client.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    env.create::<RoleBinding>(json!({
        "metadata": {"name": "capm3-tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }))
    .await;
    let kubeconfig =
        Kubeconfig::read_from(metal3_testenv::shared().kubeconfig()).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.auth_info.impersonate = Some(user);
    Client::try_from(config).expect("client")
}

async fn create_in<K>(client: &Client, ns: &str, value: Value) -> K
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let obj: K = serde_json::from_value(value).expect("object");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

/// Polls `name` of namespace `ns` until `pred` holds, or panics after [`WAIT`].
async fn wait_in<K>(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&K) -> bool,
) -> K
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(obj) = api.get_opt(name).await.expect("get") {
            if pred(&obj) {
                return obj;
            }
            last = Some(obj);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{ns}/{name}: not {what} after {WAIT:?}; last seen: {}",
        serde_json::to_string_pretty(&last).unwrap_or_default()
    );
}

fn gold_machine() -> Value {
    let mut spec = image_spec();
    spec["hostSelector"] = json!({"matchLabels": {"tier": "gold"}});
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_machine_gets_a_host_through_a_hostclaim_and_releases_it() {
    let (env, hosts_ns) = setup("hc-claim", &["{tenant}"]).await;
    env.cluster("c1").await;
    env.machine("c1", "m0", gold_machine(), None).await;

    let claim = env
        .wait::<HostClaim>("m0", "bound", |c| c.bound_host().is_some())
        .await;
    let bound = claim.bound_host().expect("bound").clone();
    assert_eq!(
        (bound.namespace.as_str(), bound.name.as_str()),
        (hosts_ns.as_str(), "gold-0"),
        "the host the selector asks for, in the hosts' namespace"
    );
    assert_eq!(
        claim.owner_references()[0].name,
        "m0",
        "the claim is owned by its Metal3Machine"
    );
    let host = wait_in::<BareMetalHost>(&env.client, &hosts_ns, "gold-0", "provisioned", |h| {
        h.provisioning_state() == ProvisioningState::Provisioned
    })
    .await;
    assert_eq!(
        host.spec.image.as_ref().map(|i| i.url.as_str()),
        Some("http://images.example/ubuntu.qcow2")
    );
    let reference = host.spec.user_data.clone().expect("user data on the host");
    let copy = Api::<Secret>::namespaced(env.client.clone(), &hosts_ns)
        .get(reference.name.as_deref().expect("name"))
        .await
        .expect("the user data copy beside the host");
    assert_eq!(
        secret_text(&copy, "value"),
        user_data("m0"),
        "the host is provisioned with the machine's bootstrap data"
    );

    let want = format!("metal3://{hosts_ns}/gold-0/m0");
    let m3m = env
        .wait::<Metal3Machine>("m0", "provisioned", |m| {
            m.status
                .as_ref()
                .is_some_and(|s| s.initialization.is_provisioned())
        })
        .await;
    assert_eq!(m3m.spec.provider_id, want);
    assert_eq!(
        condition(&m3m, "Ready"),
        Some(("True".into(), "Ready".into()))
    );
    let synced = env.api::<HostClaim>().get("m0").await.expect("claim");
    assert!(
        synced
            .condition(SYNCHRONIZED_CONDITION)
            .is_some_and(|c| c.status == metal3_api::v1alpha1::ConditionStatus::True)
    );

    env.delete::<Metal3Machine>("m0").await;
    env.wait_gone::<Metal3Machine>("m0").await;
    assert!(
        env.api::<HostClaim>()
            .get_opt("m0")
            .await
            .expect("get")
            .is_none(),
        "the claim goes before the machine"
    );
    let released = wait_in::<BareMetalHost>(&env.client, &hosts_ns, "gold-0", "released", |h| {
        h.spec.consumer_ref.is_none()
    })
    .await;
    assert!(released.spec.image.is_none(), "deprovisioned");
    assert_ne!(
        released.provisioning_state(),
        ProvisioningState::Provisioned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_no_policy_admits_gets_no_host() {
    let (env, hosts_ns) = setup("hc-denied", &["someone-else"]).await;
    env.cluster("c1").await;
    env.machine("c1", "m0", image_spec(), None).await;

    let claim = env
        .wait::<HostClaim>("m0", "refused", |c| {
            c.condition("Associated")
                .is_some_and(|c| c.reason == "NoBareMetalHost")
        })
        .await;
    assert!(claim.bound_host().is_none());
    let m3m = env
        .wait::<Metal3Machine>("m0", "waiting for its claim", |m| {
            m.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.r#type == "AssociateBareMetalHost" && c.message.contains("HostClaim m0")
                })
            })
        })
        .await;
    assert!(m3m.spec.provider_id.is_empty());
    for h in ["gold-0", "plain-0"] {
        let host = Api::<BareMetalHost>::namespaced(env.client.clone(), &hosts_ns)
            .get(h)
            .await
            .expect("host");
        assert!(host.spec.consumer_ref.is_none(), "{h} stays free");
        assert!(host.spec.image.is_none(), "{h} is not provisioned");
    }
}
