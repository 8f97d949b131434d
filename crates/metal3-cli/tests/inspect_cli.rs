//! `metal3 status`, `timeline` and `console` (and the same binary as `kubectl-metal3`) against
//! a real API server holding hosts with statuses and Events, and a simulated fleet without
//! VMs for the console.

use std::path::Path;
use std::process::Output;

use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostSpec, BareMetalHostStatus, Condition, ConditionStatus, ErrorType,
    Image, OperationMetric, OperationalStatus,
};
use serde_json::{Value, json};

fn ago(minutes: i64) -> Timestamp {
    Timestamp::now() - SignedDuration::from_mins(minutes)
}

fn cond(kind: &str, ok: bool, reason: &str, message: &str, minutes_ago: i64) -> Condition {
    Condition {
        r#type: kind.into(),
        status: if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        observed_generation: None,
        last_transition_time: Time(ago(minutes_ago)),
        reason: reason.into(),
        message: message.into(),
    }
}

fn span(start: i64, end: Option<i64>) -> OperationMetric {
    OperationMetric {
        start: Some(Time(ago(start))),
        end: end.map(|e| Time(ago(e))),
    }
}

/// Creates host `name` with `bmc` as its address, then writes `status` through the status
/// subresource, as the operator does.
async fn host(
    api: &Api<BareMetalHost>,
    name: &str,
    bmc: &str,
    status: Option<BareMetalHostStatus>,
) -> BareMetalHost {
    let mut spec = BareMetalHostSpec {
        online: true,
        boot_mac_address: "52:54:00:00:00:01".into(),
        ..Default::default()
    };
    spec.bmc.address = bmc.into();
    spec.bmc.credentials_name = format!("{name}-bmc-secret");
    spec.image = Some(Image {
        url: "http://images.example/os.qcow2".into(),
        checksum: "http://images.example/os.qcow2.sha256".into(),
        ..Default::default()
    });
    let created = api
        .create(&PostParams::default(), &BareMetalHost::new(name, spec))
        .await
        .expect("create host");
    let Some(status) = status else {
        return created;
    };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .expect("write status")
}

fn provisioning_status() -> BareMetalHostStatus {
    let mut s = BareMetalHostStatus::default();
    s.provisioning.state = "provisioning".into();
    s.operational_status = OperationalStatus::Ok;
    s.powered_on = true;
    s.last_updated = Some(Time(ago(1)));
    s.operation_history.register = span(60, Some(59));
    s.operation_history.inspect = span(59, Some(55));
    s.operation_history.provision = span(10, None);
    s.conditions = vec![
        cond("Manageable", true, "Manageable", "the BMC is reachable", 59),
        cond(
            "Healthy",
            true,
            "Healthy",
            "the BMC reports the system healthy",
            59,
        ),
        cond(
            "Progressing",
            true,
            "Provisioning",
            "agent: writing image 45%",
            10,
        ),
    ];
    s
}

fn failed_status(minutes_ago: i64) -> BareMetalHostStatus {
    let mut s = BareMetalHostStatus::default();
    s.provisioning.state = "registering".into();
    s.operational_status = OperationalStatus::Error;
    s.error_type = Some(ErrorType::Registration);
    s.error_message = "failed to connect to the BMC: 401 Unauthorized".into();
    s.error_count = 2;
    s.last_updated = Some(Time(ago(minutes_ago)));
    s.operation_history.register = span(minutes_ago + 5, None);
    s.conditions = vec![cond(
        "Manageable",
        false,
        "RegistrationFailed",
        "failed to connect to the BMC: 401 Unauthorized",
        minutes_ago,
    )];
    s
}

fn regarding(h: &BareMetalHost) -> ObjectReference {
    ObjectReference {
        api_version: Some("metal3.io/v1alpha1".into()),
        kind: Some("BareMetalHost".into()),
        name: Some(h.name_any()),
        namespace: h.namespace(),
        uid: h.uid(),
        ..Default::default()
    }
}

/// An Event through core/v1 (as upstream's operator writes them) and one through
/// events.k8s.io/v1 (as ours does), both about `h`.
async fn events(client: &Client, ns: &str, h: &BareMetalHost) {
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), ns);
    core.create(
        &PostParams::default(),
        &CoreEvent {
            metadata: ObjectMeta {
                name: Some(format!("{}.core", h.name_any())),
                ..Default::default()
            },
            involved_object: regarding(h),
            reason: Some("Registered".into()),
            message: Some("registered the host with the provisioner".into()),
            type_: Some("Normal".into()),
            count: Some(3),
            first_timestamp: Some(Time(ago(59))),
            last_timestamp: Some(Time(ago(58))),
            source: Some(EventSource {
                component: Some("upstream-bmo".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("core/v1 Event");
    let new: Api<Event> = Api::namespaced(client.clone(), ns);
    new.create(
        &PostParams::default(),
        &Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.new", h.name_any())),
                ..Default::default()
            },
            event_time: Some(MicroTime(ago(9))),
            series: Some(EventSeries {
                count: 2,
                last_observed_time: MicroTime(ago(8)),
            }),
            regarding: Some(regarding(h)),
            reason: Some("ProvisioningStarted".into()),
            action: Some("ProvisioningStarted".into()),
            note: Some("writing http://images.example/os.qcow2".into()),
            type_: Some("Normal".into()),
            reporting_controller: Some("metal3-baremetal-controller".into()),
            reporting_instance: Some("test".into()),
            ..Default::default()
        },
    )
    .await
    .expect("events.k8s.io Event");
}

async fn metal3(args: &[&str], kubeconfig: &Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .await
        .expect("metal3 runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("JSON output")
}

/// A namespace with a provisioning host (with Events), two failed ones and one without a
/// status; an Event about another host too.
async fn fleet(prefix: &str) -> String {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, prefix).await.expect("namespace");
    let api: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let bmc = "redfish+http://127.0.0.1:9/redfish/v1/Systems/1";
    let prov = host(&api, "prov", bmc, Some(provisioning_status())).await;
    host(&api, "bad-1", bmc, Some(failed_status(3))).await;
    host(&api, "bad-2", bmc, Some(failed_status(20))).await;
    host(&api, "fresh", bmc, None).await;
    events(&client, &ns, &prov).await;
    // An Event about another host does not show in this one's timeline.
    let other = api.get("bad-1").await.expect("bad-1");
    let mut e = CoreEvent {
        metadata: ObjectMeta {
            name: Some("bad-1.other".into()),
            ..Default::default()
        },
        involved_object: regarding(&other),
        reason: Some("RegistrationError".into()),
        message: Some("401".into()),
        type_: Some("Warning".into()),
        ..Default::default()
    };
    e.first_timestamp = Some(Time(ago(3)));
    Api::<CoreEvent>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &e)
        .await
        .expect("other Event");
    ns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_sums_up_the_fleet() {
    let ns = fleet("cli-status").await;
    let kc = metal3_testenv::shared().kubeconfig();
    // status, text.
    let text = stdout(&metal3(&["status", "-n", &ns], kc).await);
    for want in [
        format!("4 hosts in namespace {ns}"),
        "registering   2".into(),
        "provisioning  1".into(),
        "(none)        1".into(),
        "2       registration error  failed to connect to the BMC: 401 Unauthorized".into(),
        "bad-1, bad-2".into(),
        "PROVISIONING NOW".into(),
        "agent: writing image 45%".into(),
        "BMC/BACKEND".into(),
        "RegistrationFailed".into(),
    ] {
        assert!(text.contains(&want), "{want:?} in\n{text}");
    }
    // The longest stuck first: bad-2 registering for 25 minutes, prov provisioning for 10.
    let stuck = text
        .find("LONGEST IN A TRANSIENT STATE")
        .expect("stuck section");
    let rest = &text[stuck..];
    let (b2, p) = (
        rest.find("\nbad-2 ").expect("bad-2 stuck"),
        rest.find("\nprov ").expect("prov stuck"),
    );
    assert!(b2 < p, "{text}");

    // status, JSON.
    let v = json_of(&metal3(&["status", "-n", &ns, "-o", "json"], kc).await);
    assert_eq!(v["hosts"], 4, "{v:#}");
    assert_eq!(v["byState"]["registering"], 2, "{v:#}");
    assert_eq!(v["byOperationalStatus"]["error"], 2, "{v:#}");
    assert_eq!(v["errors"][0]["count"], 2, "{v:#}");
    assert_eq!(v["errors"][0]["errorType"], "registration error", "{v:#}");
    assert_eq!(v["stuck"][0]["host"], format!("{ns}/bad-2"), "{v:#}");
    assert_eq!(
        v["stuck"][0]["since"]["source"], "operationHistory.register.start",
        "{v:#}"
    );
    assert_eq!(v["provisioning"][0]["host"], format!("{ns}/prov"), "{v:#}");
    assert_eq!(v["health"]["Manageable"]["False"], 2, "{v:#}");
    assert_eq!(v["health"]["Healthy"]["unset"], 3, "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_tells_a_hosts_story() {
    let ns = fleet("cli-timeline").await;
    let kc = metal3_testenv::shared().kubeconfig();
    // timeline, text.
    let text = stdout(&metal3(&["timeline", "prov", "-n", &ns], kc).await);
    for want in [
        format!("Host:        {ns}/prov"),
        "State:       provisioning since".into(),
        "Progressing: True Provisioning: agent: writing image 45%".into(),
        "Retries:     errorCount 0, provisioningFailCount 0".into(),
        "inspecting    ".into(),
        "4m0s".into(),
        "so far".into(),
        "Normal Registered: registered the host with the provisioner (x3".into(),
        "Normal ProvisioningStarted: writing http://images.example/os.qcow2 (x2".into(),
    ] {
        assert!(text.contains(&want), "{want:?} in\n{text}");
    }
    assert!(!text.contains("RegistrationError"), "{text}");
    let registered = text.find("Registered:").expect("Registered");
    let started = text
        .find("ProvisioningStarted:")
        .expect("ProvisioningStarted");
    assert!(registered < started, "{text}");

    // timeline, JSON.
    let v = json_of(&metal3(&["timeline", "prov", "-n", &ns, "-o", "json"], kc).await);
    let reasons: Vec<&str> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["Registered", "ProvisioningStarted"], "{v:#}");
    assert_eq!(v["events"][0]["count"], 3, "{v:#}");
    assert_eq!(v["events"][0]["reporter"], "upstream-bmo", "{v:#}");
    assert_eq!(v["operations"][1]["state"], "inspecting", "{v:#}");
    assert_eq!(v["operations"][1]["tookSeconds"], 240, "{v:#}");
    assert_eq!(v["operations"][2]["running"], true, "{v:#}");
    assert_eq!(
        v["progressing"]["message"], "agent: writing image 45%",
        "{v:#}"
    );
    let times: Vec<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["time"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "entries in time order");

    // The failed host: its error, since when and the retry.
    let text = stdout(&metal3(&["timeline", "bad-1", "-n", &ns], kc).await);
    for want in [
        "Last error:  registration error: failed to connect to the BMC: 401 Unauthorized since",
        "Retries:     errorCount 2",
        "Warning RegistrationError: 401",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }

    // A host that is not there.
    let out = metal3(&["timeline", "nope", "-n", &ns], kc).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no BareMetalHost nope in namespace {ns}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_is_a_kubectl_plugin_reading_kubeconfig_and_all_namespaces() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "cli-plugin")
        .await
        .expect("namespace");
    let api: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    // A name no other test uses, so that -A finds exactly this one.
    let name = format!("{ns}-solo");
    let bmc = "redfish+http://127.0.0.1:9/redfish/v1/Systems/1";
    host(&api, &name, bmc, Some(provisioning_status())).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = dir.path().join("kubectl-metal3");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_metal3"), &plugin).expect("symlink");
    let run = |args: &[&str]| {
        let mut c = tokio::process::Command::new(&plugin);
        c.args(args).env("KUBECONFIG", cp.kubeconfig());
        c
    };

    let help = run(&["--help"]).output().await.expect("help");
    let help = stdout(&help);
    assert!(help.contains("Usage: kubectl metal3"), "{help}");
    assert!(help.contains("timeline"), "{help}");

    // KUBECONFIG, -n.
    let text = stdout(&run(&["status", "-n", &ns]).output().await.expect("status"));
    assert!(
        text.contains(&format!("1 hosts in namespace {ns}")),
        "{text}"
    );
    assert!(text.contains(&format!("\n{name}  ")), "{text}");

    // -A: every namespace; a host found by its name alone.
    let v: Value = serde_json::from_str(&stdout(
        &run(&["status", "-A", "-o", "json"])
            .output()
            .await
            .expect("status -A"),
    ))
    .expect("JSON");
    assert_eq!(v["namespace"], Value::Null, "{v:#}");
    assert!(v["hosts"].as_u64().expect("hosts") >= 1, "{v:#}");
    let provisioning: Vec<&str> = v["provisioning"]
        .as_array()
        .expect("provisioning")
        .iter()
        .filter_map(|p| p["host"].as_str())
        .collect();
    assert!(
        provisioning.contains(&format!("{ns}/{name}").as_str()),
        "{v:#}"
    );
    let text = stdout(&run(&["status", "-A"]).output().await.expect("status -A"));
    assert!(text.contains("hosts in all namespaces"), "{text}");
    assert!(text.contains(&format!("\n{ns}/{name}  ")), "{text}");
    let text = stdout(
        &run(&["timeline", &name, "-A"])
            .output()
            .await
            .expect("timeline -A"),
    );
    assert!(
        text.contains(&format!("Host:        {ns}/{name}")),
        "{text}"
    );

    // -n and -A together are refused, as kubectl's are ambiguous.
    let out = run(&["status", "-A", "-n", &ns])
        .output()
        .await
        .expect("status");
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_explains_when_a_bmc_has_none() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "cli-console")
        .await
        .expect("namespace");
    let kc = cp.kubeconfig();
    let api: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);

    // The simulator without VMs: its servers have no console.
    let fleet = metal3_sim::Fleet::new(1, "admin", "pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let addressing = metal3_sim::Addressing {
        listen: addr,
        per_host_base: None,
        tls: false,
    };
    let server = fleet.host(0).expect("server 0");
    host(&api, "sim", &addressing.bmc_address(0, &server.id), None).await;
    host(&api, "ipmi", "ipmi://192.0.2.1", None).await;

    let out = metal3(&["console", "sim", "-n", &ns], kc).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("this host's BMC has no console this tool can read (redfish-virtualmedia+http, Metal³ simulator: simulated server"),
        "{err}"
    );
    assert!(err.contains("is not VM-backed"), "{err}");

    let out = metal3(&["console", "ipmi", "-n", &ns], kc).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("this host's BMC has no console this tool can read (ipmi BMC"),
        "{err}"
    );
}

/// The reading side: a BMC listener that serves a console (what the simulator does for a
/// VM-backed server; the VM tests exercise the real one) is printed as it comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_prints_what_the_bmc_serves() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "cli-console-ok")
        .await
        .expect("namespace");
    let api: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let router = axum::Router::new().route(
        "/metal3-sim/hosts/{id}/console",
        axum::routing::get(
            |axum::extract::Path(id): axum::extract::Path<String>,
             axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                format!("SeaBIOS\nbooting {id} follow={}\nlogin:", q.is_some())
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let bmc = format!("redfish-virtualmedia+http://{addr}/redfish/v1/Systems/vm-7");
    host(&api, "vm", &bmc, None).await;

    let text = stdout(&metal3(&["console", "vm", "-n", &ns], cp.kubeconfig()).await);
    assert_eq!(text, "SeaBIOS\nbooting vm-7 follow=false\nlogin:");
    let text = stdout(&metal3(&["console", "vm", "-n", &ns, "-f"], cp.kubeconfig()).await);
    assert!(text.contains("follow=true"), "{text}");
}

/// With only the shipped `metal3-fleet-viewer` role, bound in one namespace, every command
/// works there (the cluster-wide Lease list falls back to the namespace's), and nothing
/// outside it is readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_need_only_the_fleet_viewer_role() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "cli-viewer")
        .await
        .expect("namespace");
    let api: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let bmc = "redfish+http://127.0.0.1:9/redfish/v1/Systems/1";
    let prov = host(&api, "prov", bmc, Some(provisioning_status())).await;
    events(&client, &ns, &prov).await;
    host(&api, "ipmi", "ipmi://192.0.2.1", None).await;
    // The step log the operator keeps beside the host.
    let steps = json!([
        {"at": "2026-12-06T09:00:00Z", "state": "available"},
        {"at": "2026-12-06T09:05:00Z", "state": "provisioning"},
    ]);
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "prov.steps"},
        "data": {"steps.json": steps.to_string()},
    }))
    .expect("ConfigMap");
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("create the step log");

    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/rbac/fleet_viewer_role.yaml"
    );
    let mut role: ClusterRole =
        serde_saphyr::from_str(&std::fs::read_to_string(file).expect("role file"))
            .expect("ClusterRole");
    let role_name = format!("metal3-fleet-viewer-{ns}");
    role.metadata.name = Some(role_name.clone());
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    let user = format!("viewer-{ns}");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }))
    .expect("binding");
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");

    // KUBECONFIG (no --kubeconfig) as that user, through kube-rs' impersonation override.
    let as_viewer = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_metal3"));
        c.args(args)
            .env("KUBECONFIG", cp.kubeconfig())
            .env("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)
            .env("RUST_LOG", "off");
        c
    };
    let denied = as_viewer(&["status", "-A"])
        .output()
        .await
        .expect("status -A");
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(!denied.status.success(), "{err}");
    assert!(err.contains("not allowed to list BareMetalHosts"), "{err}");

    let text = stdout(
        &as_viewer(&["status", "-n", &ns])
            .output()
            .await
            .expect("status"),
    );
    assert!(
        text.contains(&format!("2 hosts in namespace {ns}")),
        "{text}"
    );
    let text = stdout(
        &as_viewer(&["timeline", "prov", "-n", &ns])
            .output()
            .await
            .expect("timeline"),
    );
    assert!(text.contains("Normal Registered"), "{text}");
    assert!(text.contains("Normal ProvisioningStarted"), "{text}");
    assert!(
        text.contains("available     2026-12-06T09:00:00Z  5m0s"),
        "the step log is readable with the role: {text}"
    );
    let out = as_viewer(&["console", "ipmi", "-n", &ns])
        .output()
        .await
        .expect("console");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no console this tool can read (ipmi BMC"),
        "{err}"
    );
}
