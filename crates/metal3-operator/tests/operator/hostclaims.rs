//! HostClaims (`--hostclaims`): a claim from a tenant namespace bound to a host of the hosts'
//! namespace, provisioned and released; two claims racing for one host; a claim no policy
//! admits; and the tenant role giving nothing in the hosts' namespace.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, HostClaim, HostDeployPolicy, ProvisioningState as S};
use metal3_operator::hostclaim::HostClaimConfig;
use metal3_operator::hostclaim::binding::Deployment;
use serde_json::{Value, json};

use crate::common::*;

/// A tenant namespace, and an operator for the hosts' namespace serving the tenant's claims.
async fn setup(prefix: &str) -> (Env, String) {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let tenant = cp
        .namespace(&client, &format!("{prefix}-t"))
        .await
        .expect("tenant namespace");
    let claims = HostClaimConfig {
        namespaces: vec![tenant.clone()],
        retry: Duration::from_millis(500),
    };
    let env = Env::new_with(prefix, |c| c.hostclaims = Some(claims)).await;
    env.secret("bmc", "admin", "pw").await;
    (env, tenant)
}

/// An available host labelled `labels`.
async fn available_host(env: &Env, name: &str, labels: Value) {
    let host: BareMetalHost = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name, "labels": labels},
        "spec": {"online": false, "bootMACAddress": "52:54:00:12:34:56",
                 "bmc": {"address": "redfish-virtualmedia://192.0.2.1/redfish/v1/Systems/1",
                         "credentialsName": "bmc"}},
    }))
    .expect("host");
    env.hosts()
        .create(&PostParams::default(), &host)
        .await
        .expect("create host");
    env.wait_state(name, S::Available).await;
}

async fn policy(env: &Env, admitted: Value) {
    let policy: HostDeployPolicy = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostDeployPolicy",
        "metadata": {"name": "tenants"},
        "spec": {"hostClaimNamespaces": admitted},
    }))
    .expect("policy");
    Api::<HostDeployPolicy>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
}

fn claims(env: &Env, tenant: &str) -> Api<HostClaim> {
    Api::namespaced(env.client.clone(), tenant)
}

async fn claim(env: &Env, tenant: &str, name: &str, spec: Value) {
    let claim: HostClaim = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("claim");
    claims(env, tenant)
        .create(&PostParams::default(), &claim)
        .await
        .expect("create claim");
}

/// Polls the claim until `pred` holds (deadline [`WAIT`]).
async fn wait_claim(
    env: &Env,
    tenant: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&HostClaim) -> bool,
) -> HostClaim {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(c) = claims(env, tenant).get_opt(name).await.expect("get claim") {
            if pred(&c) {
                return c;
            }
            last = Some(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "claim {name}: not {what} after {WAIT:?}; last status: {}",
        serde_json::to_string_pretty(&last.and_then(|c| c.status)).unwrap_or_default()
    );
}

fn condition(c: &HostClaim, kind: &str) -> Option<(String, String)> {
    c.condition(kind)
        .map(|c| (format!("{:?}", c.status), c.reason.clone()))
}

fn is(c: &HostClaim, kind: &str, status: &str, reason: &str) -> bool {
    condition(c, kind) == Some((status.to_string(), reason.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_bound_provisioned_and_released() {
    let (env, tenant) = setup("claim-life").await;
    available_host(&env, "gold-0", json!({"tier": "gold"})).await;
    available_host(&env, "silver-0", json!({"tier": "silver"})).await;
    policy(&env, json!({"names": [tenant]})).await;
    let user_data: Secret = serde_json::from_value(json!({
        "metadata": {"name": "ud"},
        "stringData": {"userData": "#cloud-config\npassword: tenant-s3cret\n"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(env.client.clone(), &tenant)
        .create(&PostParams::default(), &user_data)
        .await
        .expect("user data");
    claim(
        &env,
        &tenant,
        "worker",
        json!({
            "poweredOn": true,
            "image": {"url": "http://images.example/os.qcow2", "checksum": "abc"},
            "userData": {"name": "ud"},
            "hostSelector": {"inNamespace": env.ns, "matchLabels": {"tier": "gold"}},
        }),
    )
    .await;

    let bound = wait_claim(&env, &tenant, "worker", "synchronized", |c| {
        is(c, "Synchronized", "True", "ConfigurationSynced")
    })
    .await;
    assert!(is(&bound, "Associated", "True", "BareMetalHostAssociated"));
    let reference = bound.bound_host().expect("bound host").clone();
    assert_eq!(
        (reference.namespace.as_str(), reference.name.as_str()),
        (env.ns.as_str(), "gold-0")
    );
    assert!(
        bound
            .finalizers()
            .contains(&"metal3.io/hostclaim".to_string())
    );

    let host = env.wait_state("gold-0", S::Provisioned).await;
    // What the API server stored is what the claim wants, so the host is not patched again.
    let wanted = Deployment::wanted(&bound, "gold-0", &env.ns);
    assert_eq!(Deployment::of(&host), wanted);
    let consumer = host.spec.consumer_ref.clone().expect("consumerRef");
    assert_eq!(consumer.kind.as_deref(), Some("HostClaim"));
    assert_eq!(consumer.namespace.as_deref(), Some(tenant.as_str()));
    assert!(host.spec.online);
    let copy_ref = host.spec.user_data.clone().expect("userData on host");
    assert_eq!(copy_ref.namespace.as_deref(), Some(env.ns.as_str()));
    let copy_name = copy_ref.name.expect("copy name");
    let copy = env.secrets().get(&copy_name).await.expect("copied Secret");
    assert_eq!(
        copy.data,
        Api::<Secret>::namespaced(env.client.clone(), &tenant)
            .get("ud")
            .await
            .expect("source")
            .data
    );
    assert_eq!(copy.owner_references()[0].name, "gold-0");
    let silver = env.hosts().get("silver-0").await.expect("silver");
    assert!(
        silver.spec.consumer_ref.is_none(),
        "the selector kept the other host free"
    );

    let mirrored = wait_claim(&env, &tenant, "worker", "powered on", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.powered_on && s.hardware_data.is_some())
    })
    .await;
    let status = serde_json::to_string(&mirrored.status).expect("json");
    assert!(
        !status.contains("tenant-s3cret"),
        "no Secret content in the claim: {status}"
    );

    claims(&env, &tenant)
        .delete("worker", &DeleteParams::default())
        .await
        .expect("delete claim");
    let deadline = Instant::now() + WAIT;
    while claims(&env, &tenant)
        .get_opt("worker")
        .await
        .expect("get")
        .is_some()
    {
        assert!(Instant::now() < deadline, "the claim was never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let host = env.hosts().get("gold-0").await.expect("host");
    assert!(host.spec.consumer_ref.is_none(), "consumerRef cleared");
    assert!(host.spec.image.is_none() && host.spec.user_data.is_none());
    assert!(!host.spec.online);
    assert!(
        matches!(host.provisioning_state(), S::Available | S::Ready),
        "deprovisioned before release: {:?}",
        host.provisioning_state()
    );
    assert!(
        env.secrets()
            .get_opt(&copy_name)
            .await
            .expect("get")
            .is_none(),
        "copy removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claims_racing_for_one_host_never_share_it() {
    let (env, tenant) = setup("claim-race").await;
    available_host(&env, "only", json!({})).await;

    // The binding write itself: two claims with the same view of the host, at once.
    let make = |name: &str, uid: &str| -> HostClaim {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": name, "namespace": tenant, "uid": uid},
            "spec": {"poweredOn": false},
        }))
        .expect("claim")
    };
    let (a, b) = (make("a", "uid-a"), make("b", "uid-b"));
    // The operator keeps writing the host's status, which also makes a view stale: then both
    // writes fail, and the two try again with a fresh view. Never may both succeed.
    let hosts = env.hosts();
    let deadline = Instant::now() + WAIT;
    let (winner, loser) = loop {
        let seen = hosts.get("only").await.expect("host");
        let (ra, rb) = tokio::join!(
            metal3_operator::hostclaim::bind(&hosts, &seen, &a),
            metal3_operator::hostclaim::bind(&hosts, &seen, &b),
        );
        match (ra, rb) {
            (Ok(_), Ok(_)) => panic!("both claims bound the host"),
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => break (won, lost),
            (Err(x), Err(y)) => {
                assert!(x.is_conflict() && y.is_conflict(), "{x} / {y}");
                assert!(Instant::now() < deadline, "no bind ever won");
            }
        }
    };
    assert!(loser.is_conflict(), "{loser}");
    let bound_to = winner.spec.consumer_ref.and_then(|r| r.name);
    assert!(
        matches!(bound_to.as_deref(), Some("a" | "b")),
        "{bound_to:?}"
    );
    hosts
        .patch(
            "only",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"consumerRef": null}})),
        )
        .await
        .expect("free the host again");

    // Through the controller: two real claims created together.
    policy(&env, json!({"names": [tenant]})).await;
    let spec = json!({"poweredOn": false, "hostSelector": {"inNamespace": env.ns}});
    tokio::join!(
        claim(&env, &tenant, "first", spec.clone()),
        claim(&env, &tenant, "second", spec.clone()),
    );
    let mut outcomes = Vec::new();
    for name in ["first", "second"] {
        let c = wait_claim(&env, &tenant, name, "decided", |c| {
            is(c, "Associated", "True", "BareMetalHostAssociated")
                || is(c, "Associated", "False", "NoBareMetalHost")
        })
        .await;
        outcomes.push((name, c.bound_host().map(|b| b.name.clone())));
    }
    let winners: Vec<_> = outcomes.iter().filter(|(_, h)| h.is_some()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let host = env.hosts().get("only").await.expect("host");
    assert_eq!(
        host.spec.consumer_ref.and_then(|r| r.name).as_deref(),
        Some(winners[0].0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_no_policy_admits_binds_nothing() {
    let (env, tenant) = setup("claim-deny").await;
    available_host(&env, "h", json!({})).await;
    policy(
        &env,
        json!({"names": ["someone-else"], "nameMatches": "^claim-deny"}),
    )
    .await;
    claim(
        &env,
        &tenant,
        "c",
        json!({"poweredOn": true, "hostSelector": {"inNamespace": env.ns}}),
    )
    .await;
    let denied = wait_claim(&env, &tenant, "c", "refused", |c| {
        is(c, "Associated", "False", "NoBareMetalHost")
    })
    .await;
    let message = &denied.condition("Associated").expect("condition").message;
    assert!(message.contains("no HostDeployPolicy admits"), "{message}");
    assert!(denied.bound_host().is_none());
    // The refusal is written after the choice was made, in the same pass: nothing was bound.
    let host = env.hosts().get("h").await.expect("host");
    assert!(host.spec.consumer_ref.is_none(), "the host stays free");
    assert!(!host.spec.online);

    // Admitting the namespace is what lets the claim through.
    Api::<HostDeployPolicy>::namespaced(env.client.clone(), &env.ns)
        .patch(
            "tenants",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"hostClaimNamespaces": {"names": [tenant]}}})),
        )
        .await
        .expect("admit the tenant");
    wait_claim(&env, &tenant, "c", "bound", |c| c.bound_host().is_some()).await;
}

/// A user bound to the shipped tenant role in its namespace can manage its claims and Secrets
/// there, and can neither read nor change hosts, Secrets or policies in the hosts' namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_role_gives_nothing_in_the_hosts_namespace() {
    let cp = metal3_testenv::shared();
    let admin = cp.client().await.expect("client");
    let hosts_ns = cp
        .namespace(&admin, "tenant-rbac-h")
        .await
        .expect("namespace");
    let tenant = cp
        .namespace(&admin, "tenant-rbac-t")
        .await
        .expect("namespace");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/rbac/hostclaim_tenant_role.yaml"
    );
    let mut role: ClusterRole =
        serde_saphyr::from_str(&std::fs::read_to_string(file).expect("role file")).expect("role");
    let role_name = format!("metal3-hostclaim-tenant-{tenant}");
    role.metadata.name = Some(role_name.clone());
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    let user = format!("tenant-{tenant}");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }))
    .expect("binding");
    Api::<RoleBinding>::namespaced(admin.clone(), &tenant)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");
    let as_tenant = impersonating(user).await;

    // Allowed in its own namespace.
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "ud"}, "stringData": {"userData": "x"}}),
    )
    .expect("secret");
    // The API server's authorizer learns of the new binding through its own watch: until
    // then the tenant is refused, so its first write is retried for a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match Api::<Secret>::namespaced(as_tenant.clone(), &tenant)
            .create(&PostParams::default(), &secret)
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 403 && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the tenant creates its Secret: {e}"),
        }
    }
    let claim: HostClaim = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": "c"}, "spec": {"poweredOn": false},
    }))
    .expect("claim");
    Api::<HostClaim>::namespaced(as_tenant.clone(), &tenant)
        .create(&PostParams::default(), &claim)
        .await
        .expect("the tenant creates its claim");
    Api::<HostClaim>::namespaced(as_tenant.clone(), &tenant)
        .list(&Default::default())
        .await
        .expect("the tenant lists its claims");

    // Denied in the hosts' namespace, and cluster-wide.
    let forbidden = |what: &str, r: Result<(), kube::Error>| match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what}: expected 403, got {other:?}"),
    };
    let bmh: Api<BareMetalHost> = Api::namespaced(as_tenant.clone(), &hosts_ns);
    let secrets: Api<Secret> = Api::namespaced(as_tenant.clone(), &hosts_ns);
    let policies: Api<HostDeployPolicy> = Api::namespaced(as_tenant.clone(), &hosts_ns);
    let merge = json!({"metadata": {"labels": {"x": "y"}}});
    forbidden("get host", bmh.get("any").await.map(|_| ()));
    forbidden(
        "list hosts",
        bmh.list(&Default::default()).await.map(|_| ()),
    );
    forbidden(
        "patch host",
        bmh.patch("any", &PatchParams::default(), &Patch::Merge(&merge))
            .await
            .map(|_| ()),
    );
    forbidden("get secret", secrets.get("bmc").await.map(|_| ()));
    forbidden(
        "list secrets",
        secrets.list(&Default::default()).await.map(|_| ()),
    );
    forbidden(
        "patch secret",
        secrets
            .patch("bmc", &PatchParams::default(), &Patch::Merge(&merge))
            .await
            .map(|_| ()),
    );
    forbidden(
        "list policies",
        policies.list(&Default::default()).await.map(|_| ()),
    );
    forbidden(
        "list hosts everywhere",
        Api::<BareMetalHost>::all(as_tenant.clone())
            .list(&Default::default())
            .await
            .map(|_| ()),
    );
    forbidden(
        "write claim status",
        Api::<HostClaim>::namespaced(as_tenant.clone(), &tenant)
            .patch_status(
                "c",
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"poweredOn": true}})),
            )
            .await
            .map(|_| ()),
    );
}

/// A client that is `user` (impersonated through the admin kubeconfig) and nothing more.
async fn impersonating(user: String) -> Client {
    let cp = metal3_testenv::shared();
    let kubeconfig = Kubeconfig::read_from(cp.kubeconfig()).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.auth_info.impersonate = Some(user);
    Client::try_from(config).expect("client")
}

/// The operator running as the shipped `config/rbac/role.yaml` serves a claim end to end:
/// policies, the claim's namespace, the Secret copy, status, finalizer and release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_serves_claims_with_only_the_manager_role() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let cp = metal3_testenv::shared();
    let admin = cp.client().await.expect("client");
    let hosts_ns = cp.namespace(&admin, "claim-rbac").await.expect("namespace");
    let tenant = cp
        .namespace(&admin, "claim-rbac-t")
        .await
        .expect("namespace");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/rbac/role.yaml");
    let mut role: ClusterRole =
        serde_saphyr::from_str(&std::fs::read_to_string(file).expect("role.yaml")).expect("role");
    let role_name = format!("metal3-test-manager-{hosts_ns}");
    role.metadata.name = Some(role_name.clone());
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "operator"}})).expect("sa");
    Api::<ServiceAccount>::namespaced(admin.clone(), &hosts_ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("create sa");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": hosts_ns}],
    }))
    .expect("binding");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");
    let restricted = impersonating(format!("system:serviceaccount:{hosts_ns}:operator")).await;

    let config = metal3_operator::OperatorConfig {
        namespace: Some(hosts_ns.clone()),
        machine: fast_machine(),
        concurrency: 4,
        dependency_retry: Duration::from_millis(500),
        hostclaims: Some(HostClaimConfig {
            namespaces: vec![tenant.clone()],
            retry: Duration::from_millis(500),
        }),
        ..metal3_operator::OperatorConfig::default()
    };
    let fixture = metal3_fixture::Fixture::new();
    let mut operator = Env {
        client: restricted,
        ns: hosts_ns.clone(),
        fixture: fixture.clone(),
        config: config.clone(),
        operator: None,
    };
    operator.start_operator();
    // The test's own writes are the admin's.
    let env = Env {
        client: admin.clone(),
        ns: hosts_ns.clone(),
        fixture,
        config,
        operator: None,
    };
    env.secret("bmc", "admin", "pw").await;
    available_host(&env, "h", json!({})).await;
    policy(
        &env,
        json!({"hasLabels": [{"name": "kubernetes.io/metadata.name", "value": tenant}]}),
    )
    .await;
    let user_data: Secret = serde_json::from_value(json!({
        "metadata": {"name": "ud"}, "stringData": {"userData": "#cloud-config\n"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(admin.clone(), &tenant)
        .create(&PostParams::default(), &user_data)
        .await
        .expect("user data");
    claim(
        &env,
        &tenant,
        "c",
        json!({"poweredOn": false, "userData": {"name": "ud"}, "hostSelector": {"inNamespace": hosts_ns}}),
    )
    .await;
    wait_claim(&env, &tenant, "c", "synchronized", |c| {
        is(c, "Synchronized", "True", "ConfigurationSynced") && c.bound_host().is_some()
    })
    .await;
    assert!(
        env.secrets()
            .get_opt("h-hostclaim-userdata")
            .await
            .expect("get")
            .is_some()
    );
    claims(&env, &tenant)
        .delete("c", &DeleteParams::default())
        .await
        .expect("delete claim");
    let deadline = Instant::now() + WAIT;
    while claims(&env, &tenant)
        .get_opt("c")
        .await
        .expect("get")
        .is_some()
    {
        assert!(Instant::now() < deadline, "the claim was never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        env.hosts()
            .get("h")
            .await
            .expect("host")
            .spec
            .consumer_ref
            .is_none()
    );
    assert!(
        env.secrets()
            .get_opt("h-hostclaim-userdata")
            .await
            .expect("get")
            .is_none()
    );
    operator.stop_operator().await;
}
