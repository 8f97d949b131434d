//! Leader election on a `coordination.k8s.io/v1` Lease, so only one replica drives hosts.
//!
//! The holder renews the Lease every `retry_period`; a candidate takes it over once it has not
//! been renewed for `lease_duration`. Writes carry the Lease's resourceVersion, so two
//! candidates racing for an expired Lease cannot both win. A leader that cannot renew within
//! `renew_deadline` steps down (the caller stops its controllers and exits).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio::time::Instant;
use tracing::{info, warn};

/// Timing of the election; the defaults are controller-runtime's.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A candidate for the Lease `namespace/name`.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    config: LeaseConfig,
}

/// The outcome of one attempt.
enum Attempt {
    Held,
    HeldByOther(String),
}

impl Elector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        config: LeaseConfig,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            config,
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let ours =
            previous.and_then(|s| s.holder_identity.as_deref()) == Some(self.identity.as_str());
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration.as_secs().max(1) as i32),
            acquire_time: if ours {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let mut lease = Lease::default();
            lease.metadata.name = Some(self.name.clone());
            lease.spec = Some(self.spec(None, now));
            self.api.create(&PostParams::default(), &lease).await?;
            return Ok(Attempt::Held);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if !holder.is_empty() && holder != self.identity {
            let duration =
                SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
            let renewed = spec
                .renew_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let expires = renewed
                .checked_add(duration)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            if expires > now {
                return Ok(Attempt::HeldByOther(holder));
            }
            info!(previous = %holder, lease = %self.name, "taking over an expired lease");
        }
        lease.spec = Some(self.spec(Some(&spec), now));
        // Carries the resourceVersion we read: a concurrent writer makes this fail with 409.
        self.api
            .replace(&lease.name_any(), &PostParams::default(), &lease)
            .await?;
        Ok(Attempt::Held)
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&self) {
        let mut waiting_for = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    info!(lease = %self.name, identity = %self.identity, "became leader");
                    return;
                }
                Ok(Attempt::HeldByOther(holder)) => {
                    if holder != waiting_for {
                        info!(lease = %self.name, %holder, "waiting for the current leader");
                        waiting_for = holder;
                    }
                }
                Err(e) => warn!(lease = %self.name, error = %e, "cannot acquire the lease"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews the Lease until renewal fails for longer than the renew deadline (or another
    /// candidate took it); then returns: leadership is lost.
    pub async fn hold(&self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => last_renewal = Instant::now(),
                Ok(Attempt::HeldByOther(holder)) => {
                    warn!(lease = %self.name, %holder, "another replica holds the lease");
                    return;
                }
                Err(e) => warn!(lease = %self.name, error = %e, "cannot renew the lease"),
            }
            if last_renewal.elapsed() > self.config.renew_deadline {
                warn!(lease = %self.name, "renew deadline passed; stepping down");
                return;
            }
        }
    }

    /// Gives the Lease up at once (on a clean shutdown), so a successor need not wait.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.acquire_time = None;
        self.api
            .replace(&lease.name_any(), &PostParams::default(), &lease)
            .await?;
        Ok(())
    }
}

/// Ctrl-C, or SIGTERM (what Kubernetes sends a pod it stops).
async fn termination() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // No SIGTERM handler: Ctrl-C still stops.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// The shutdown signal of a controller binary: it fires on Ctrl-C or SIGTERM, or when `elector` (if any)
/// loses its Lease. Returns the future to hand to the controllers and a receiver that tells,
/// once it fired, whether leadership was lost (the binary then exits with an error, so a fresh
/// start competes again).
pub fn stop_signal(
    elector: Option<Elector>,
) -> (
    impl std::future::Future<Output = ()> + Send + Sync + 'static,
    tokio::sync::oneshot::Receiver<bool>,
) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<bool>();
    tokio::spawn(async move {
        let lost = async {
            match &elector {
                Some(e) => e.hold().await,
                None => std::future::pending::<()>().await,
            }
        };
        let lost_leadership = tokio::select! {
            () = termination() => false,
            () = lost => true,
        };
        let _ = stop_tx.send(lost_leadership);
    });
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<bool>();
    let shutdown = async move {
        let lost = stop_rx.await.unwrap_or(false);
        let _ = seen_tx.send(lost);
    };
    (shutdown, seen_rx)
}
