//! BMC behaviour seen by an HTTP client: credentials, sessions and lockout, ETags, POST time,
//! RAID and firmware on a many-server service, events filtered by origin, TLS, and one BMC
//! per port.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metal3_sim::Fleet;
use metal3_sim::fleet::Running;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start(fleet: &Arc<Fleet>) -> String {
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let url = format!("http://{}", addr);
    url
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.expect("json body")
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_credentials_open_only_their_own_server() {
    let fleet = Fleet::with_credentials(3, "admin", "pw", true);
    let url = start(&fleet).await;
    let c = client();
    let (h0, h1) = (fleet.host(0).expect("h0"), fleet.host(1).expect("h1"));
    assert_eq!(h1.password, "pw-1");
    let get = |id: &str, pass: &str| {
        c.get(format!("{url}/redfish/v1/Systems/{id}"))
            .basic_auth("admin", Some(pass))
            .send()
    };
    assert_eq!(get(&h1.id, "pw-1").await.expect("get").status(), 200);
    assert_eq!(get(&h1.id, "pw-0").await.expect("get").status(), 401);
    assert_eq!(get(&h0.id, "pw-0").await.expect("get").status(), 200);

    // A session opened with server 0's credentials reaches server 0 only.
    let login = c
        .post(format!("{url}/redfish/v1/SessionService/Sessions"))
        .json(&json!({"UserName": "admin", "Password": "pw-0"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 201);
    let token = login.headers()["x-auth-token"]
        .to_str()
        .expect("token")
        .to_string();
    let location = login.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let with_token = |id: &str| {
        c.get(format!("{url}/redfish/v1/Systems/{id}"))
            .header("X-Auth-Token", &token)
            .send()
    };
    assert_eq!(with_token(&h0.id).await.expect("get").status(), 200);
    assert_eq!(with_token(&h1.id).await.expect("get").status(), 401);

    // Rotating a BMC's password locks out the old one (a wrong Secret, as the client sees it).
    let r = c
        .put(format!("{url}/metal3-sim/hosts/sim-1/credentials"))
        .json(&json!({"username": "admin", "password": "rotated"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    assert!(
        !r.text().await.expect("text").contains("rotated"),
        "never echoed"
    );
    assert_eq!(get(&h1.id, "pw-1").await.expect("get").status(), 401);
    assert_eq!(get(&h1.id, "rotated").await.expect("get").status(), 200);

    let logout = c
        .delete(format!("{url}{location}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    assert_eq!(fleet.open_sessions(), 0);
    assert_eq!(with_token(&h0.id).await.expect("get").status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_timeout_and_lockout() {
    let fleet = Fleet::new(1, "admin", "pw");
    fleet
        .set_faults(metal3_sim::faults::Faults {
            session_limit: 2,
            session_timeout_s: 1,
            lockout_threshold: 2,
            lockout_s: 1,
            ..Default::default()
        })
        .expect("knobs");
    let url = start(&fleet).await;
    let c = client();
    let login = |pass: &'static str| {
        c.post(format!("{url}/redfish/v1/SessionService/Sessions"))
            .json(&json!({"UserName": "admin", "Password": pass}))
            .send()
    };
    assert_eq!(login("pw").await.expect("1").status(), 201);
    assert_eq!(login("pw").await.expect("2").status(), 201);
    let full = login("pw").await.expect("3");
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json_of(full).await;
    assert_eq!(
        body["error"]["@Message.ExtendedInfo"][0]["MessageId"],
        "Base.1.8.SessionLimitExceeded"
    );

    // Idle sessions end after the timeout, which frees room.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if fleet.open_sessions() == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "sessions never timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(login("pw").await.expect("4").status(), 201);

    // Two wrong passwords lock the account: the right one is refused until the lockout ends.
    assert_eq!(login("bad").await.expect("5").status(), 401);
    let locked = login("bad").await.expect("6");
    assert_eq!(locked.status(), 401);
    assert!(message(&json_of(locked).await).contains("locked"));
    let still = c
        .get(format!("{url}/redfish/v1/Systems"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("basic");
    assert_eq!(still.status(), 401, "basic auth is locked out too");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .get(format!("{url}/redfish/v1/Systems"))
            .basic_auth("admin", Some("pw"))
            .send()
            .await
            .expect("basic");
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the lockout never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_guard_concurrent_changes() {
    let fleet = Fleet::new(1, "admin", "pw");
    let url = start(&fleet).await;
    let c = client();
    let id = fleet.host(0).expect("host").id;
    let system = format!("{url}/redfish/v1/Systems/{id}");
    let read = c
        .get(&system)
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("get");
    let etag = read.headers()["etag"].to_str().expect("etag").to_string();
    let body = json_of(read).await;
    assert_eq!(body["@odata.etag"], etag.as_str());
    let patch = |tag: &str, target: &str| {
        c.patch(&system)
            .basic_auth("admin", Some("pw"))
            .header("If-Match", tag)
            .json(&json!({"Boot": {"BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": "Once"}}))
            .send()
    };
    assert_eq!(patch(&etag, "Pxe").await.expect("patch").status(), 200);
    let stale = patch(&etag, "Cd").await.expect("patch");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert!(message(&json_of(stale).await).contains("read the resource again"));
    assert_eq!(fleet.host(0).expect("host").boot.target, "Pxe");
    assert_eq!(patch("*", "Cd").await.expect("patch").status(), 200);
    // An unchanged resource keeps its tag.
    let again = |_: ()| c.get(&system).basic_auth("admin", Some("pw")).send();
    let a = again(()).await.expect("get").headers()["etag"].clone();
    let b = again(()).await.expect("get").headers()["etag"].clone();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_time_dropped_connections_and_per_server_knobs() {
    let fleet = Fleet::new(2, "admin", "pw");
    let url = start(&fleet).await;
    let c = client();
    let (a, b) = (fleet.host(0).expect("a").id, fleet.host(1).expect("b").id);

    // Server 0 gets a 400 ms POST and drops every connection after power on; server 1 is fine.
    let r = c
        .put(format!("{url}/metal3-sim/faults/sim-0"))
        .json(&json!({"postMs": 400}))
        .send()
        .await
        .expect("put");
    assert_eq!(json_of(r).await["postMs"], 400);
    let reset = c
        .post(format!(
            "{url}/redfish/v1/Systems/{a}/Actions/ComputerSystem.Reset"
        ))
        .basic_auth("admin", Some("pw"))
        .json(&json!({"ResetType": "On"}))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 204);
    assert_eq!(fleet.host(0).expect("a").running, Running::Booting);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fleet.host(0).expect("a").running == Running::Booting {
        assert!(Instant::now() < deadline, "POST never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fleet.host(0).expect("a").running, Running::Disk);

    c.put(format!("{url}/metal3-sim/faults/{a}"))
        .json(&json!({"resetRate": 1.0}))
        .send()
        .await
        .expect("put");
    let dropped = async {
        c.get(format!("{url}/redfish/v1/Systems/{a}"))
            .basic_auth("admin", Some("pw"))
            .send()
            .await?
            .bytes()
            .await
    }
    .await;
    assert!(dropped.is_err(), "the connection was dropped: {dropped:?}");
    let fine = c
        .get(format!("{url}/redfish/v1/Systems/{b}"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        fine.status(),
        200,
        "other servers keep the fleet-wide knobs"
    );
    let cleared = c
        .delete(format!("{url}/metal3-sim/faults/sim-0"))
        .send()
        .await
        .expect("delete");
    assert_eq!(json_of(cleared).await["resetRate"], 0.0);
    let back = c
        .get(format!("{url}/redfish/v1/Systems/{a}"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("get");
    assert_eq!(back.status(), 200);
    let unknown = c
        .put(format!("{url}/metal3-sim/faults/sim-9"))
        .json(&json!({}))
        .send()
        .await
        .expect("put");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raid_firmware_and_inventory_on_a_many_server_service() {
    let fleet = Fleet::new(2, "admin", "pw");
    let url = start(&fleet).await;
    let c = client();
    let id = fleet.host(1).expect("host").id;
    let auth = |r: reqwest::RequestBuilder| r.basic_auth("admin", Some("pw"));

    let volumes = format!("{url}/redfish/v1/Systems/{id}/Storage/1/Volumes");
    let bad = auth(c.post(&volumes))
        .json(&json!({"RAIDType": "RAID5", "CapacityBytes": 10_u64.pow(13)}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    assert!(message(&json_of(bad).await).starts_with("CapacityBytes"));
    let made = auth(c.post(&volumes))
        .json(&json!({"RAIDType": "RAID10"}))
        .send()
        .await
        .expect("post");
    assert_eq!(made.status(), 201);
    let location = made.headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    let volume = json_of(
        auth(c.get(format!("{url}{location}")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(volume["RAIDType"], "RAID10");
    assert_eq!(volume["Links"]["Drives"].as_array().map(Vec::len), Some(4));
    let gone = auth(c.delete(format!("{url}{location}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(gone.status(), 204);
    assert!(fleet.host(1).expect("host").storage.volumes.is_empty());

    // Memory modules add up to the summary.
    let memory = json_of(
        auth(c.get(format!("{url}/redfish/v1/Systems/{id}/Memory/DIMM3")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(memory["CapacityMiB"], 16 * 1024);

    // Many servers behind one service: an update must name its target.
    let update = format!("{url}/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate");
    let untargeted = auth(c.post(&update))
        .json(&json!({"ImageURI": "http://fw/bios-2.0.0.bin"}))
        .send()
        .await
        .expect("post");
    assert_eq!(untargeted.status(), 400);
    assert!(message(&json_of(untargeted).await).starts_with("Targets is required"));
    let targeted = auth(c.post(&update))
        .json(&json!({"ImageURI": "http://fw/bios-2.0.0.bin", "Targets": [format!("/redfish/v1/Systems/{id}")]}))
        .send()
        .await
        .expect("post");
    assert_eq!(targeted.status(), 202);
    let monitor = targeted.headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    let poll = || auth(c.get(format!("{url}{monitor}"))).send();
    assert_eq!(
        poll().await.expect("poll").status(),
        202,
        "waits for a boot"
    );
    auth(c.post(format!(
        "{url}/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"
    )))
    .json(&json!({"ResetType": "On"}))
    .send()
    .await
    .expect("on");
    let done = poll().await.expect("poll");
    assert_eq!(done.status(), 200);
    assert_eq!(json_of(done).await["TaskState"], "Completed");
    let inventory = json_of(
        auth(c.get(format!(
            "{url}/redfish/v1/UpdateService/FirmwareInventory/{id}.BIOS"
        )))
        .send()
        .await
        .expect("get"),
    )
    .await;
    assert_eq!(inventory["Version"], "2.0.0");
    let listed = json_of(
        auth(c.get(format!("{url}/redfish/v1/UpdateService/FirmwareInventory")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(listed["Members@odata.count"], 6);

    // Refused BIOS values name the attribute.
    let refused = auth(c.patch(format!("{url}/redfish/v1/Systems/{id}/Bios/Settings")))
        .json(&json!({"Attributes": {"PxeRetryCount": 99}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(refused.status(), 400);
    assert!(message(&json_of(refused).await).contains("PxeRetryCount"));

    let calls = json_of(
        c.get(format!("{url}/metal3-sim/calls"))
            .send()
            .await
            .expect("calls"),
    )
    .await;
    assert_eq!(calls["hosts"][&id]["POST Volumes"], 2);
    assert_eq!(
        calls["hosts"][&id]["POST SimpleUpdate"], 1,
        "a targeted update counts on its server"
    );
    assert_eq!(calls["service"]["POST SimpleUpdate"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_the_subscriptions_origin_filter() {
    let fleet = Fleet::new(2, "admin", "pw");
    let url = start(&fleet).await;
    let c = client();
    let (a, b) = (fleet.host(0).expect("a").id, fleet.host(1).expect("b").id);
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    let keep = seen.clone();
    let sink = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
                let keep = keep.clone();
                async move {
                    let mut event = body.0;
                    event["auth"] =
                        json!(headers.get("authorization").and_then(|v| v.to_str().ok()));
                    keep.lock().expect("lock").push(event);
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, sink).await });

    let subscribe = c
        .post(format!("{url}/redfish/v1/EventService/Subscriptions"))
        .basic_auth("admin", Some("pw"))
        .json(&json!({
            "Destination": hook,
            "Context": "only-b",
            "OriginResources": [{"@odata.id": format!("/redfish/v1/Systems/{b}")}],
            "HttpHeaders": [{"Authorization": "Bearer hook-token"}],
        }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(subscribe.status(), 201);
    let shown = json_of(subscribe).await;
    assert!(!shown.to_string().contains("hook-token"), "{shown}");
    for id in [&a, &b] {
        let r = c
            .post(format!(
                "{url}/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"
            ))
            .basic_auth("admin", Some("pw"))
            .json(&json!({"ResetType": "On"}))
            .send()
            .await
            .expect("reset");
        assert_eq!(r.status(), 204);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = seen.lock().expect("lock").clone();
        if !events.is_empty() || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["Events"][0]["OriginOfCondition"]["@odata.id"],
        format!("/redfish/v1/Systems/{b}")
    );
    assert_eq!(events[0]["Context"], "only-b");
    assert_eq!(events[0]["auth"], "Bearer hook-token");
    let bad = c
        .post(format!("{url}/redfish/v1/EventService/Subscriptions"))
        .basic_auth("admin", Some("pw"))
        .json(&json!({"Destination": "mailto:ops"}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(bad.status(), 400);
    assert!(message(&json_of(bad).await).starts_with("Destination"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_one_bmc_per_port() {
    let fleet = Fleet::new(3, "admin", "pw");
    let material = metal3_sim::self_signed(&["127.0.0.1".into()]).expect("certificate");
    let mut ports = Vec::new();
    for index in 0..fleet.len() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        ports.push(listener.local_addr().expect("addr").port());
        let bmc = metal3_sim::host_router(fleet.clone(), index);
        let tls = material.clone();
        tokio::spawn(async move { metal3_sim::serve_router(listener, bmc, Some(&tls)).await });
    }
    let cert = reqwest::Certificate::from_pem(material.cert_pem.as_bytes()).expect("pem");
    let verifying = reqwest::Client::builder()
        .add_root_certificate(cert)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let second = fleet.host(2).expect("host");
    let systems = json_of(
        verifying
            .get(format!("https://127.0.0.1:{}/redfish/v1/Systems", ports[2]))
            .basic_auth("admin", Some("pw"))
            .send()
            .await
            .expect("https with the simulator's certificate"),
    )
    .await;
    assert_eq!(systems["Members@odata.count"], 1);
    assert_eq!(
        systems["Members"][0]["@odata.id"],
        format!("/redfish/v1/Systems/{}", second.id)
    );
    let other = verifying
        .get(format!(
            "https://127.0.0.1:{}/redfish/v1/Systems/{}",
            ports[0], second.id
        ))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), 404, "a BMC serves its own server only");
    let plain = client()
        .get(format!("https://127.0.0.1:{}/redfish/v1", ports[0]))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "an unknown self-signed certificate is refused"
    );
}
