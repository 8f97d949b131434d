//! The fleet page (`--ui-addr`): a read-only web page served by the operator from what it
//! already holds — the hosts' watch cache, its counters — plus, per page, the Events of the
//! host shown and the operator's Lease. The pages themselves are `metal3_fleet::page`.
//!
//! Routes: `/` the fleet, `/hosts/{namespace}/{name}` a host's timeline, and the same as JSON
//! under `/api/fleet` and `/api/hosts/{namespace}/{name}`. Nothing here writes to the cluster,
//! and nothing shown holds a credential (hosts' status, Events and conditions only).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_fleet::history::{Counters, History, Sample};
use metal3_fleet::{page, read, status, timeline};
use metal3_kube::packed::Packed;
use metal3_provisioner::Provisioner;
use serde_json::json;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// How often the fleet is sampled for the chart and the rates.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept: an hour's worth.
const SAMPLES_KEPT: usize = 720;
/// The window the rates are computed over.
const RATE_WINDOW: SignedDuration = SignedDuration::from_secs(300);

/// The page's listener, bound by the caller so that a busy address fails at start-up; the
/// operator serves on it once its host cache runs.
#[derive(Clone, Debug)]
pub struct Listener(Arc<Mutex<Option<std::net::TcpListener>>>);

impl Listener {
    /// Binds `addr`.
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self(Arc::new(Mutex::new(Some(listener)))))
    }

    /// The address bound (the port chosen, for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().and_then(|l| l.local_addr().ok())
    }

    fn take(&self) -> Option<std::net::TcpListener> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What the pages are made from.
struct Ui {
    hosts: Store<Packed<BareMetalHost>>,
    client: Client,
    metrics: Arc<Metrics>,
    provisioner: Arc<dyn Provisioner>,
    namespace: Option<String>,
    history: Mutex<History>,
}

impl Ui {
    fn hosts(&self) -> Vec<BareMetalHost> {
        self.hosts.state().iter().map(|h| h.unpack()).collect()
    }

    fn sample(&self) -> Sample {
        let hosts = self.hosts();
        let now = Timestamp::now();
        Sample {
            at: now,
            by_state: status::summarise(None, &hosts, &[], now).by_state,
            counters: Counters {
                reconciles: self.metrics.reconciles.get(),
                backend_requests: self.provisioner.backend_requests(),
                api_requests: metal3_kube::identity::api_requests(),
            },
        }
    }

    fn record(&self) {
        let sample = self.sample();
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(sample);
    }

    /// Everything the fleet page shows.
    async fn fleet(&self) -> FleetView {
        let hosts = self.hosts();
        let leases = read::operator_leases(&self.client, self.namespace.as_deref()).await;
        let now = Timestamp::now();
        let (samples, rates) = {
            let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            (
                history.samples().cloned().collect(),
                history.rates(RATE_WINDOW),
            )
        };
        FleetView {
            status: status::summarise(self.namespace.as_deref(), &hosts, &leases, now),
            rows: page::host_rows(&hosts),
            samples,
            rates,
            now,
        }
    }

    async fn timeline(&self, ns: &str, name: &str) -> Result<timeline::Timeline, Response> {
        let Some(host) = self
            .hosts
            .get(&ObjectRef::new(name).within(ns))
            .map(|h| h.unpack())
        else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("no BareMetalHost {ns}/{name} is watched by this operator\n"),
            )
                .into_response());
        };
        let events = read::events(&self.client, &host).await.map_err(|e| {
            (
                StatusCode::BAD_GATEWAY,
                format!("cannot list the Events of {ns}/{name}: {e}\n"),
            )
                .into_response()
        })?;
        let steps = read::steps(&self.client, &host).await;
        let now = Timestamp::now();
        Ok(timeline::build(&host, &events, now).with_steps(&steps, now))
    }
}

struct FleetView {
    status: status::FleetStatus,
    rows: Vec<page::HostRow>,
    samples: Vec<Sample>,
    rates: metal3_fleet::history::Rates,
    now: Timestamp,
}

type Shared = Arc<Ui>;

fn router(ui: Shared) -> Router {
    Router::new()
        .route("/", get(fleet_page))
        .route("/hosts/{namespace}/{name}", get(host_page))
        .route("/api/fleet", get(fleet_json))
        .route("/api/hosts/{namespace}/{name}", get(host_json))
        .layer(axum::middleware::map_response(no_store))
        .with_state(ui)
}

/// The pages change with the fleet: never served from a cache.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

async fn fleet_page(State(ui): State<Shared>) -> Html<String> {
    let v = ui.fleet().await;
    Html(page::fleet_page(
        &v.status,
        &v.rows,
        &v.samples,
        &v.rates,
        ui.provisioner.name(),
        v.now,
    ))
}

async fn fleet_json(State(ui): State<Shared>) -> Response {
    let v = ui.fleet().await;
    axum::Json(json!({
        "status": v.status,
        "hosts": v.rows,
        "history": v.samples,
        "rates": v.rates,
        "backend": ui.provisioner.name(),
    }))
    .into_response()
}

async fn host_page(State(ui): State<Shared>, Path((ns, name)): Path<(String, String)>) -> Response {
    match ui.timeline(&ns, &name).await {
        Ok(t) => Html(page::host_page(&t, Timestamp::now())).into_response(),
        Err(r) => r,
    }
}

async fn host_json(State(ui): State<Shared>, Path((ns, name)): Path<(String, String)>) -> Response {
    match ui.timeline(&ns, &name).await {
        Ok(t) => axum::Json(t).into_response(),
        Err(r) => r,
    }
}

/// Serves the fleet page on `listener` and samples the fleet every [`SAMPLE_EVERY`], until
/// `shutdown` completes.
pub(crate) async fn serve(
    listener: &Listener,
    hosts: Store<Packed<BareMetalHost>>,
    client: Client,
    metrics: Arc<Metrics>,
    provisioner: Arc<dyn Provisioner>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let Some(std_listener) = listener.take() else {
        warn!("the fleet page's listener was already used; not serving it again");
        return;
    };
    let listener = match tokio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "cannot serve the fleet page");
            return;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        info!(url = %format!("http://{addr}/"), "serving the fleet page");
    }
    let ui = Arc::new(Ui {
        hosts,
        client,
        metrics,
        provisioner,
        namespace,
        history: Mutex::new(History::new(SAMPLES_KEPT)),
    });
    let sampler = {
        let ui = ui.clone();
        async move {
            // Samples of a cache still filling would chart hosts that are not gone but unread.
            if ui.hosts.wait_until_ready().await.is_err() {
                return;
            }
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                ui.record();
            }
        }
    };
    let server = axum::serve(listener, router(ui)).with_graceful_shutdown(shutdown);
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                warn!(error = %e, "the fleet page stopped");
            }
        }
        () = sampler => {}
    }
}
