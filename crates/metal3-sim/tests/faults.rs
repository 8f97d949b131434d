//! The realism knobs, seen by an HTTP client.

use std::time::{Duration, Instant};

use metal3_sim::Fleet;
use serde_json::{Value, json};

async fn start(hosts: usize) -> (String, std::sync::Arc<Fleet>) {
    let fleet = Fleet::new(hosts, "admin", "pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let url = format!("http://{}", addr);
    (url, fleet)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn get_system(
    c: &reqwest::Client,
    url: &str,
    id: &str,
) -> reqwest::Result<reqwest::Response> {
    c.get(format!("{url}/redfish/v1/Systems/{id}"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
}

async fn put_faults(c: &reqwest::Client, url: &str, faults: Value) -> reqwest::Response {
    c.put(format!("{url}/metal3-sim/faults"))
        .json(&faults)
        .send()
        .await
        .expect("put faults")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_and_recovery() {
    let (url, fleet) = start(2).await;
    let c = client();
    let id = fleet.host(0).expect("host").id;
    assert_eq!(get_system(&c, &url, &id).await.expect("get").status(), 200);
    assert_eq!(
        put_faults(&c, &url, json!({"errorRate": 1.0}))
            .await
            .status(),
        200
    );
    let failed = get_system(&c, &url, &id).await.expect("get");
    assert_eq!(failed.status(), 500);
    let body: Value = failed.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("injected"))
    );
    // Only server resources misbehave.
    let root = c
        .get(format!("{url}/redfish/v1"))
        .send()
        .await
        .expect("root");
    assert_eq!(root.status(), 200);
    assert_eq!(put_faults(&c, &url, json!({})).await.status(), 200);
    assert_eq!(get_system(&c, &url, &id).await.expect("get").status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_bmc_answers_503_while_others_serve() {
    let (url, fleet) = start(2).await;
    let c = client();
    let (busy, other) = (
        fleet.host(0).expect("host").id,
        fleet.host(1).expect("host").id,
    );
    let set = json!({"concurrencyLimit": 1, "latencyMs": [400, 400]});
    assert_eq!(put_faults(&c, &url, set).await.status(), 200);
    let requests = (0..3).map(|_| get_system(&c, &url, &busy));
    let (results, other_result) = tokio::join!(
        futures::future::join_all(requests),
        get_system(&c, &url, &other)
    );
    let mut codes: Vec<u16> = results
        .into_iter()
        .map(|r| r.expect("answer").status().as_u16())
        .collect();
    codes.sort();
    assert_eq!(codes, [200, 503, 503]);
    assert_eq!(other_result.expect("answer").status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_hung_calls() {
    let (url, fleet) = start(1).await;
    let c = client();
    let id = fleet.host(0).expect("host").id;
    put_faults(&c, &url, json!({"latencyMs": [200, 200]})).await;
    let started = Instant::now();
    assert_eq!(get_system(&c, &url, &id).await.expect("get").status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "latency injected"
    );

    put_faults(&c, &url, json!({"hangRate": 1.0})).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let hung = get_system(&impatient, &url, &id).await;
    assert!(
        hung.is_err_and(|e| e.is_timeout()),
        "a hung call never answers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fault_settings_name_the_field() {
    let (url, _) = start(1).await;
    let c = client();
    let r = put_faults(&c, &url, json!({"errorRate": 2.0})).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("errorRate")),
        "{body}"
    );
    let r = put_faults(&c, &url, json!({"latencyMS": [1, 2]})).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_bmc_can_queue_instead_of_refusing() {
    let (url, fleet) = start(1).await;
    let c = client();
    let id = fleet.host(0).expect("host").id;
    let set = json!({"concurrencyLimit": 1, "queueWhenBusy": true, "latencyMs": [200, 200]});
    assert_eq!(put_faults(&c, &url, set).await.status(), 200);
    let started = Instant::now();
    let requests = (0..3).map(|_| get_system(&c, &url, &id));
    let codes: Vec<u16> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.expect("answer").status().as_u16())
        .collect();
    assert_eq!(codes, [200, 200, 200], "all served, one after another");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "served one at a time: {:?}",
        started.elapsed()
    );
}
