//! Driving the hosts: their manifests, created and patched in parallel, followed through one
//! watch, waited for state by state, and the simulated BMCs' call counters read around phases
//! and idle windows.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::{Value, json};

/// BMC calls made so far, summed over the simulated fleet.
pub(crate) fn sim_calls(fleet: &metal3_sim::Fleet) -> u64 {
    (0..fleet.len())
        .filter_map(|i| fleet.host(i))
        .map(|h| h.calls.values().sum::<u64>())
        .sum()
}

/// Calls by kind ("GET System"), summed over the fleet.
fn calls_by_kind(fleet: &metal3_sim::Fleet) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for h in (0..fleet.len()).filter_map(|i| fleet.host(i)) {
        for (k, v) in h.calls {
            *out.entry(k).or_default() += v;
        }
    }
    out
}

/// What the watch has seen of one host.
#[derive(Default)]
pub(crate) struct Seen {
    /// Provisioning states entered, with when.
    pub(crate) states: Vec<(String, Instant)>,
    /// Whether the host's power is as its spec asks.
    pub(crate) power_settled: bool,
    /// Its error message (empty without error).
    pub(crate) error: String,
}

/// The hosts as the watch last saw them. The benchmark reads this instead of listing the
/// hosts (a LIST of thousands of objects twice a second would load the API server more than
/// the operator does).
pub(crate) type Fleetview = Arc<Mutex<BTreeMap<String, Seen>>>;

/// The hosts seen, locked for reading or updating.
pub(crate) fn view(fleet: &Fleetview) -> std::sync::MutexGuard<'_, BTreeMap<String, Seen>> {
    fleet.lock().unwrap_or_else(|e| e.into_inner())
}

/// Follows every host's state changes, power and errors through one watch.
pub(crate) fn watch_hosts(api: Api<BareMetalHost>, fleet: Fleetview) {
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(host)) = stream.try_next().await {
            let name = host.metadata.name.clone().unwrap_or_default();
            let state = host.provisioning_state().as_str().to_string();
            let mut fleet = view(&fleet);
            let seen = fleet.entry(name).or_default();
            if seen.states.last().is_none_or(|(s, _)| *s != state) {
                seen.states.push((state, Instant::now()));
            }
            seen.power_settled = host
                .status
                .as_ref()
                .is_some_and(|s| s.powered_on == host.spec.online);
            seen.error = host
                .status
                .as_ref()
                .map(|s| s.error_message.clone())
                .unwrap_or_default();
        }
    });
}

/// Waits until `ok` holds for all `hosts` hosts, as the watch sees them.
async fn wait_until(
    fleet: &Fleetview,
    hosts: usize,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Seen) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let (done, errors) = {
            let fleet = view(fleet);
            let done = fleet.values().filter(|s| ok(s)).count();
            let errors: Vec<String> = fleet
                .values()
                .filter(|s| !s.error.is_empty())
                .map(|s| s.error.clone())
                .take(3)
                .collect();
            (done, errors)
        };
        if done == hosts {
            return Ok(started.elapsed());
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!("  {done}/{hosts} {what} after {:.0?}", started.elapsed());
            last_report = Instant::now();
        }
        if started.elapsed() > timeout {
            bail!("only {done}/{hosts} hosts {what} after {timeout:?}; errors: {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until every host is in `state`.
pub(crate) async fn wait_all(
    fleet: &Fleetview,
    hosts: usize,
    state: &str,
    timeout: Duration,
) -> Result<Duration> {
    wait_until(fleet, hosts, state, timeout, |s| {
        s.states.last().is_some_and(|(now, _)| now == state)
    })
    .await
}

/// BMC calls of idle hosts in one window: in total and per kind.
pub(crate) type Idle = (u64, BTreeMap<String, u64>);

/// BMC calls during two back-to-back windows of `seconds` of idleness each, once power has
/// settled: the first still holds what follows the last change, the second is the steady
/// state.
pub(crate) async fn idle_window(
    fleet: &metal3_sim::Fleet,
    hosts: &Fleetview,
    seconds: u64,
    timeout: Duration,
) -> Result<[Idle; 2]> {
    wait_until(hosts, fleet.len(), "powered as asked", timeout, |s| {
        s.power_settled
    })
    .await?;
    // Let the last power verification land before the window opens.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut windows: [Idle; 2] = Default::default();
    for window in &mut windows {
        let before = calls_by_kind(fleet);
        // A measurement window, not synchronisation: count what idle hosts cost.
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let kinds: BTreeMap<String, u64> = calls_by_kind(fleet)
            .into_iter()
            .map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        *window = (kinds.values().sum(), kinds);
    }
    Ok(windows)
}

/// Merge-patches every host in `names` with `patch`, 32 at a time.
pub(crate) async fn patch_all(
    api: &Api<BareMetalHost>,
    names: &[String],
    patch: Value,
) -> Result<()> {
    futures::stream::iter(names)
        .map(|name| {
            let patch = patch.clone();
            async move {
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// The fleet's manifests (a Secret and a BareMetalHost per server, BMCs at `listen`) and the
/// hosts' names. No agent runs here: inspection out of band, no disk cleaning (the native
/// Redfish backend does both that way whatever these say; Ironic needs to be told).
pub(crate) fn manifests(
    fleet: &metal3_sim::Fleet,
    listen: SocketAddr,
) -> (Vec<Value>, Vec<String>) {
    let mut docs = metal3_sim::manifest_objects(
        fleet,
        &metal3_sim::Addressing {
            listen,
            per_host_base: None,
            tls: false,
        },
    );
    for doc in docs.iter_mut().filter(|d| d["kind"] == "BareMetalHost") {
        doc["spec"]["inspectionMode"] = json!("fast");
        doc["spec"]["automatedCleaningMode"] = json!("disabled");
    }
    let names: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "BareMetalHost")
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    (docs, names)
}

/// Creates the Secrets and BareMetalHosts of `docs`, 32 at a time.
pub(crate) async fn create_all(
    hosts: &Api<BareMetalHost>,
    secrets: &Api<Secret>,
    docs: &[Value],
) -> Result<()> {
    futures::stream::iter(docs)
        .map(|doc| {
            let (hosts, secrets) = (hosts.clone(), secrets.clone());
            async move {
                if doc["kind"] == "Secret" {
                    let s: Secret = serde_json::from_value(doc.clone())?;
                    secrets.create(&PostParams::default(), &s).await?;
                } else {
                    let h: BareMetalHost = serde_json::from_value(doc.clone())?;
                    hosts.create(&PostParams::default(), &h).await?;
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}
