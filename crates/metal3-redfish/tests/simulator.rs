//! The client against the Redfish simulator: sessions, retries, the breaker, the per-BMC
//! limit, ETags, task monitors, TLS and unreachable BMCs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_redfish::types::{Collection, ComputerSystem};
use metal3_redfish::{Config, Connection, Endpoint, Error, Pool, TaskProgress};
use metal3_sim::Fleet;
use serde_json::{Value, json};

struct Sim {
    fleet: Arc<Fleet>,
    url: String,
}

async fn sim(hosts: usize) -> Sim {
    let fleet = Fleet::new(hosts, "admin", "pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let url = format!("http://{}", addr);
    Sim { fleet, url }
}

impl Sim {
    fn connect(&self, pool: &Pool, index: usize) -> (Connection, String) {
        let id = self.fleet.host(index).expect("host").id;
        let endpoint = Endpoint::new(self.url.clone(), false);
        let path = format!("/redfish/v1/Systems/{id}");
        (pool.connect(&endpoint, &path, "admin", "pw"), path)
    }

    async fn knobs(&self, host: Option<&str>, faults: Value) {
        let url = match host {
            Some(h) => format!("{}/metal3-sim/faults/{h}", self.url),
            None => format!("{}/metal3-sim/faults", self.url),
        };
        let r = reqwest::Client::new()
            .put(url)
            .json(&faults)
            .send()
            .await
            .expect("knobs");
        assert_eq!(r.status(), 200);
    }

    fn calls(&self, index: usize) -> u64 {
        self.fleet.host(index).expect("host").calls.values().sum()
    }
}

fn quick() -> Config {
    Config {
        timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(20),
        breaker_cooldown: Duration::from_millis(300),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_per_bmc_reused_and_logged_out() {
    let sim = sim(2).await;
    let pool = Pool::new(quick()).expect("pool");
    let (c, path) = sim.connect(&pool, 0);
    for _ in 0..5 {
        let s: ComputerSystem = c.get(&path).await.expect("system");
        assert_eq!(s.power_state.as_deref(), Some("Off"));
    }
    // A second connection with the same credentials shares the session.
    let (again, _) = sim.connect(&pool, 0);
    let _: Collection = again.get("/redfish/v1/Systems").await.expect("systems");
    assert_eq!(sim.fleet.open_sessions(), 1);
    assert_eq!(pool.open_sessions().await, 1);
    assert_eq!(c.calls(), 7, "one login and six requests");
    pool.logout_all().await;
    assert_eq!(sim.fleet.open_sessions(), 0, "no session leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_renewed_and_wrong_credentials_explained() {
    let sim = sim(1).await;
    sim.knobs(None, json!({"sessionTimeoutS": 1})).await;
    let pool = Pool::new(quick()).expect("pool");
    let (c, path) = sim.connect(&pool, 0);
    let _: ComputerSystem = c.get(&path).await.expect("first");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.fleet.open_sessions() > 0 {
        assert!(Instant::now() < deadline, "the session never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _: ComputerSystem = c.get(&path).await.expect("after the session expired");
    assert_eq!(sim.fleet.open_sessions(), 1);

    let endpoint = Endpoint::new(sim.url.clone(), false);
    let wrong = pool.connect(&endpoint, &path, "admin", "not-it");
    let err = wrong
        .get::<ComputerSystem>(&path)
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("user name or password"), "{err}");
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("not-it"), "{err}");
    pool.logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_then_the_breaker_opens_and_recovers() {
    let sim = sim(2).await;
    let pool = Pool::new(Config {
        breaker_threshold: 3,
        attempts: 2,
        ..quick()
    })
    .expect("pool");
    let (c, path) = sim.connect(&pool, 0);
    let _: ComputerSystem = c.get(&path).await.expect("healthy");
    sim.knobs(Some("sim-0"), json!({"errorRate": 1.0})).await;
    let err = c.get::<ComputerSystem>(&path).await.expect_err("failing");
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err}");
    assert!(err.to_string().contains("injected BMC failure"), "{err}");
    let err = c.get::<ComputerSystem>(&path).await.expect_err("failing");
    // Two calls of two tries each: the third failure opened the breaker before the fourth.
    assert!(matches!(err, Error::CircuitOpen { .. }), "{err}");
    let before = sim.calls(0);
    let err = c.get::<ComputerSystem>(&path).await.expect_err("held back");
    assert!(matches!(err, Error::CircuitOpen { .. }) && err.is_transient());
    assert!(err.to_string().contains("injected BMC failure"), "{err}");
    assert_eq!(
        sim.calls(0),
        before,
        "an open breaker does not call the BMC"
    );

    // Other BMCs are unaffected.
    let (other, other_path) = sim.connect(&pool, 1);
    let _: ComputerSystem = other.get(&other_path).await.expect("other BMC");

    sim.knobs(Some("sim-0"), json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.get::<ComputerSystem>(&path).await {
            Ok(_) => break,
            Err(Error::CircuitOpen { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_bmc_limit_keeps_a_busy_bmc_from_refusing() {
    let sim = sim(1).await;
    sim.knobs(
        None,
        json!({"concurrencyLimit": 1, "latencyMs": [30, 30], "sessionLimit": 1}),
    )
    .await;
    let pool = Pool::new(Config {
        per_bmc_concurrency: 1,
        attempts: 1,
        ..quick()
    })
    .expect("pool");
    let (c, path) = sim.connect(&pool, 0);
    let requests = (0..8).map(|_| c.get::<ComputerSystem>(&path));
    let results = futures::future::join_all(requests).await;
    assert!(
        results.iter().all(Result::is_ok),
        "no 503, no second session: {results:?}"
    );
    assert_eq!(sim.fleet.open_sessions(), 1);
    pool.logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_and_task_monitors() {
    let sim = sim(1).await;
    let pool = Pool::new(quick()).expect("pool");
    let (c, path) = sim.connect(&pool, 0);
    let read = c.get_reply(&path).await.expect("system");
    let etag = read.etag.clone().expect("an ETag");
    let boot =
        json!({"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}});
    c.patch(&path, &boot, Some(&etag))
        .await
        .expect("first change");
    let err = c
        .patch(&path, &boot, Some(&etag))
        .await
        .expect_err("stale tag");
    assert!(matches!(err, Error::Http { status: 412, .. }), "{err}");

    let id = sim.fleet.host(0).expect("host").id;
    let update = c
        .post(
            "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            &json!({"ImageURI": "http://fw/bios-3.1.0.bin", "Targets": [path.clone()]}),
        )
        .await
        .expect("update");
    assert_eq!(update.status, 202);
    let monitor = update.location.expect("monitor");
    assert!(matches!(
        c.task(&monitor).await.expect("task"),
        TaskProgress::Running(Some(_))
    ));
    c.post(
        &format!("{path}/Actions/ComputerSystem.Reset"),
        &json!({"ResetType": "On"}),
    )
    .await
    .expect("power on");
    match c.task(&monitor).await.expect("task") {
        TaskProgress::Done(Some(task)) => {
            assert_eq!(task.task_state.as_deref(), Some("Completed"));
            assert!(!task.failed());
        }
        other => panic!("{other:?}"),
    }
    let system: ComputerSystem = c
        .get(&format!("/redfish/v1/Systems/{id}"))
        .await
        .expect("system");
    assert_eq!(system.bios_version.as_deref(), Some("3.1.0"));
    pool.logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_self_signed_bmcs() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let pool = Pool::new(Config {
        attempts: 2,
        ..quick()
    })
    .expect("pool");
    let endpoint = Endpoint::new(format!("http://127.0.0.1:{closed}"), false);
    let path = "/redfish/v1/Systems/1".to_string();
    let err = pool
        .connect(&endpoint, &path, "admin", "pw")
        .get::<ComputerSystem>(&path)
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err, Error::Unreachable { .. }) && err.is_transient(),
        "{err}"
    );

    let fleet = Fleet::new(1, "admin", "pw");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tls = metal3_sim::self_signed(&["127.0.0.1".into()]).expect("cert");
    let bmc_certificate = tls.cert_pem.clone();
    let router = metal3_sim::router(fleet.clone());
    tokio::spawn(async move { metal3_sim::serve_router(listener, router, Some(&tls)).await });
    let id = fleet.host(0).expect("host").id;
    let path = format!("/redfish/v1/Systems/{id}");
    for (insecure, works) in [(false, false), (true, true)] {
        let endpoint = Endpoint::new(format!("https://{addr}"), insecure);
        let result = pool
            .connect(&endpoint, &path, "admin", "pw")
            .get::<ComputerSystem>(&path)
            .await;
        assert_eq!(result.is_ok(), works, "insecure={insecure}: {result:?}");
        if let Err(e) = result {
            assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
        }
    }
    pool.logout_all().await;
    assert_eq!(fleet.open_sessions(), 0);

    // A BMC whose certificate a trusted CA signed is verified, not skipped.
    let trusting = Pool::new(Config {
        trusted_ca_pem: Some(bmc_certificate.into_bytes()),
        ..quick()
    })
    .expect("pool");
    let endpoint = Endpoint::new(format!("https://{addr}"), false);
    let system = trusting
        .connect(&endpoint, &path, "admin", "pw")
        .get::<ComputerSystem>(&path)
        .await;
    assert!(system.is_ok(), "{system:?}");
    trusting.logout_all().await;
    let garbage = Pool::new(Config {
        trusted_ca_pem: Some(b"not a certificate".to_vec()),
        ..quick()
    });
    assert!(garbage.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_authentication_when_the_bmc_has_no_sessions() {
    let sim = sim(1).await;
    sim.knobs(None, json!({"noSessions": true})).await;
    let pool = Pool::new(quick()).expect("pool");
    let (c, path) = sim.connect(&pool, 0);
    for _ in 0..3 {
        let s: ComputerSystem = c.get(&path).await.expect("system over basic auth");
        assert_eq!(s.power_state.as_deref(), Some("Off"));
    }
    assert_eq!(sim.fleet.open_sessions(), 0);
    assert_eq!(pool.open_sessions().await, 0);
    assert_eq!(c.calls(), 4, "one refused login, then three requests");
    pool.logout_all().await;
}
