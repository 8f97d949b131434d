//! Holding shards on `coordination.k8s.io/v1` Leases, so several replicas split the objects
//! between them and none acts on another's (`metal3 operator --shards N`).
//!
//! Each replica keeps a membership Lease `<prefix>-member-<identity>` and, for every shard it
//! holds, the shard Lease `<prefix>-shard-<i>`, all in one namespace. Every `retry_period` it
//! renews them, lists the Leases, and follows [`shard_plan::plan`]: take free or expired
//! shards up to its share, give back surplus. Writes carry the resourceVersion read, so two
//! replicas racing for one shard cannot both win.
//!
//! Safety: a replica acts on a shard only until `renew_deadline` after the start of its last
//! successful renewal; others take the shard only `lease_duration` after that renewal's time,
//! and `renew_deadline < lease_duration`. Work enters a shard through [`Shards::enter`], which
//! gives a [`Tenure`] (a read guard); giving a shard back first refuses new entries, then waits
//! for the tenures in flight to end, and only then clears the Lease.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Client, ResourceExt};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, broadcast};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::leader::LeaseConfig;
use crate::shard_plan::{self, ShardView, View};

/// Label on every Lease of the scheme: `shard` or `member`.
pub const LEASE_KIND_LABEL: &str = "metal3.io/shard-lease";

/// How the replica shards.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Number of shards (≥ 1).
    pub count: u32,
    /// Namespace of the Leases.
    pub namespace: String,
    /// Prefix of the Lease names, e.g. `metal3-operator`.
    pub prefix: String,
    /// This replica's identity (the Leases' holder).
    pub identity: String,
    /// Timing, as for leader election.
    pub lease: LeaseConfig,
}

impl ShardConfig {
    /// Name of shard `i`'s Lease.
    pub fn shard_lease(&self, i: u32) -> String {
        format!("{}-shard-{i}", self.prefix)
    }

    /// Name of this replica's membership Lease (the identity made a valid object name).
    pub fn member_lease(&self) -> String {
        let id: String = self
            .identity
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut name = format!("{}-member-{}", self.prefix, id.trim_matches(['-', '.']));
        name.truncate(253);
        name
    }
}

/// What this process knows of one shard.
#[derive(Default)]
struct SlotState {
    /// Acting is allowed until then (start of the last renewal + renew deadline).
    act_until: Option<Instant>,
    /// Counts this replica's tenures of the shard; a [`Tenure`] of an older one is stale.
    tenure: u64,
    /// Being given back: no new entries.
    releasing: bool,
}

struct Slot {
    state: Mutex<SlotState>,
    gate: Arc<RwLock<()>>,
}

struct Inner {
    count: u32,
    identity: String,
    slots: Vec<Slot>,
    gained: broadcast::Sender<u32>,
}

/// This replica's shards, shared between the keeper and the controllers.
#[derive(Clone)]
pub struct Shards {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("count", &self.inner.count)
            .field("identity", &self.inner.identity)
            .field("held", &self.held())
            .finish()
    }
}

/// Permission to act on one object of a held shard, for as long as it lives. Giving the shard
/// back waits for it to be dropped.
pub struct Tenure {
    _guard: OwnedRwLockReadGuard<()>,
    shards: Shards,
    shard: u32,
    tenure: u64,
}

impl Tenure {
    /// The shard entered.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// Which of this replica's tenures of the shard this is (1 for the first).
    pub fn number(&self) -> u64 {
        self.tenure
    }

    /// The actor name of work done in this tenure: `<identity>/shard-<i>/tenure-<n>`.
    pub fn actor(&self) -> String {
        format!(
            "{}/shard-{}/tenure-{}",
            self.shards.identity(),
            self.shard,
            self.tenure
        )
    }

    /// Whether the shard is still held in the same tenure and within the renew deadline; check
    /// before writes and backend calls.
    pub fn still_held(&self) -> bool {
        let state = self.shards.slot(self.shard);
        state.tenure == self.tenure && state.act_until.is_some_and(|t| t > Instant::now())
    }
}

impl Shards {
    /// `count` shards, none held yet, for replica `identity`.
    pub fn new(count: u32, identity: &str) -> Self {
        let count = count.max(1);
        let (gained, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                count,
                identity: identity.to_string(),
                slots: (0..count)
                    .map(|_| Slot {
                        state: Mutex::new(SlotState::default()),
                        gate: Arc::new(RwLock::new(())),
                    })
                    .collect(),
                gained,
            }),
        }
    }

    /// The number of shards.
    pub fn count(&self) -> u32 {
        self.inner.count
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// The shard of `namespace/name`.
    pub fn shard_of(&self, namespace: &str, name: &str) -> u32 {
        shard_plan::shard_of(namespace, name, self.inner.count)
    }

    fn slot(&self, shard: u32) -> MutexGuard<'_, SlotState> {
        self.inner.slots[shard as usize]
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A tenure on the shard of `namespace/name` when this replica holds it (and is not giving
    /// it back); `None` otherwise: leave the object alone.
    pub fn enter(&self, namespace: &str, name: &str) -> Option<Tenure> {
        let shard = self.shard_of(namespace, name);
        let tenure = {
            let state = self.slot(shard);
            let acting = state.act_until.is_some_and(|t| t > Instant::now());
            if !acting || state.releasing {
                return None;
            }
            state.tenure
        };
        let guard = self.inner.slots[shard as usize]
            .gate
            .clone()
            .try_read_owned()
            .ok()?;
        Some(Tenure {
            _guard: guard,
            shards: self.clone(),
            shard,
            tenure,
        })
    }

    /// The shards held now (within the renew deadline).
    pub fn held(&self) -> Vec<u32> {
        let now = Instant::now();
        (0..self.inner.count)
            .filter(|s| self.slot(*s).act_until.is_some_and(|t| t > now))
            .collect()
    }

    /// The shards held now, then each shard this replica gains from now on, as it gains it.
    pub fn gained(&self) -> impl futures::Stream<Item = u32> + Send + 'static + use<> {
        use futures::StreamExt;
        let rx = self.inner.gained.subscribe();
        let now = futures::stream::iter(self.held());
        now.chain(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(shard) => return Some((shard, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    /// Records a successful write of the shard's Lease begun at `started`: the tenure goes on,
    /// or a new one begins (announced) when the shard was not held.
    fn hold(&self, shard: u32, started: Instant, deadline: Duration) {
        let gained = {
            let mut state = self.slot(shard);
            let acting = state.act_until.is_some_and(|t| t > Instant::now());
            if !acting {
                state.tenure += 1;
                state.releasing = false;
            }
            state.act_until = Some(started + deadline);
            !acting
        };
        if gained {
            let _ = self.inner.gained.send(shard);
        }
    }

    fn lose(&self, shard: u32) {
        self.slot(shard).act_until = None;
    }

    /// Stops new entries to `shard` and waits (up to `wait`) for the tenures in flight; on
    /// success the shard is no longer held by this process and the guard keeps it that way.
    async fn drain(&self, shard: u32, wait: Duration) -> Option<OwnedRwLockWriteGuard<()>> {
        self.slot(shard).releasing = true;
        let gate = self.inner.slots[shard as usize].gate.clone();
        let guard = tokio::time::timeout(wait, gate.write_owned()).await;
        let mut state = self.slot(shard);
        state.releasing = false;
        match guard {
            Ok(g) => {
                state.act_until = None;
                Some(g)
            }
            Err(_) => {
                drop(state);
                // Kept after all: the work refused while waiting is asked for again.
                let _ = self.inner.gained.send(shard);
                None
            }
        }
    }
}

/// Keeps this replica's shards until `stop` completes, then gives them all back.
pub async fn keep(
    client: Client,
    config: ShardConfig,
    shards: Shards,
    stop: impl Future<Output = ()> + Send,
) {
    let keeper = Keeper {
        api: Api::namespaced(client, &config.namespace),
        config,
        shards,
    };
    info!(
        shards = keeper.config.count,
        identity = %keeper.config.identity,
        namespace = %keeper.config.namespace,
        "sharding hosts on Leases"
    );
    let mut tick = tokio::time::interval(keeper.config.lease.retry_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = keeper.round().await {
            warn!(error = %e, "cannot update the shard Leases");
        }
    }
    keeper.release_all().await;
}

struct Keeper {
    api: Api<Lease>,
    config: ShardConfig,
    shards: Shards,
}

/// When a Lease's holder stops counting, by its own terms.
fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().map(|t| t.0) else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    renewed.checked_add(duration).is_ok_and(|end| end <= now)
}

fn holder(lease: &Lease) -> Option<String> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .filter(|h| !h.is_empty())
}

impl Keeper {
    fn held_spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let me = self.config.identity.as_str();
        let ours = previous.and_then(|s| s.holder_identity.as_deref()) == Some(me);
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(me.to_string()),
            lease_duration_seconds: Some(self.config.lease.lease_duration.as_secs().max(1) as i32),
            acquire_time: if ours {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(match previous {
                Some(_) if !ours => transitions + 1,
                _ => transitions,
            }),
            ..LeaseSpec::default()
        }
    }

    /// Writes `lease` (named `name`) as held by us: created when absent, else replaced at the
    /// resourceVersion read.
    async fn write_held(
        &self,
        name: &str,
        kind: &str,
        existing: Option<&Lease>,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        match existing {
            None => {
                let mut lease = Lease::default();
                lease.metadata.name = Some(name.to_string());
                lease.metadata.labels = Some(
                    [(LEASE_KIND_LABEL.to_string(), kind.to_string())]
                        .into_iter()
                        .collect(),
                );
                lease.spec = Some(self.held_spec(None, now));
                self.api.create(&PostParams::default(), &lease).await?;
            }
            Some(lease) => {
                let mut lease = lease.clone();
                lease.spec = Some(self.held_spec(lease.spec.as_ref(), now));
                self.api
                    .replace(name, &PostParams::default(), &lease)
                    .await?;
            }
        }
        Ok(())
    }

    /// One round: renew what we hold, read every Lease, take and give back as planned.
    async fn round(&self) -> Result<(), kube::Error> {
        let deadline = self.config.lease.renew_deadline;
        let member = self.config.member_lease();
        let started = Instant::now();
        let leases = self
            .api
            .list(&ListParams::default().labels(LEASE_KIND_LABEL))
            .await?;
        let by_name: BTreeMap<String, Lease> =
            leases.into_iter().map(|l| (l.name_any(), l)).collect();
        // A membership not written this round (e.g. deleted as expired after a long pause) is
        // written again next round; the shards are renewed regardless.
        if let Err(e) = self
            .write_held(&member, "member", by_name.get(&member))
            .await
        {
            warn!(lease = %member, error = %e, "cannot renew the membership");
        }
        let now = Timestamp::now();
        let mut view = View {
            count: self.config.count,
            shards: BTreeMap::new(),
            live: vec![self.config.identity.clone()],
        };
        self.read_members(&by_name, &member, now, &mut view).await;
        for i in 0..self.config.count {
            let name = self.config.shard_lease(i);
            let Some(lease) = by_name.get(&name) else {
                self.shards.lose(i);
                continue;
            };
            let spec = lease.spec.clone().unwrap_or_default();
            let mut shard = ShardView {
                holder: holder(lease),
                expired: expired(&spec, now),
            };
            if shard.holder.as_deref() == Some(self.config.identity.as_str()) {
                match self.write_held(&name, "shard", Some(lease)).await {
                    Ok(()) => {
                        self.shards.hold(i, started, deadline);
                        shard.expired = false;
                    }
                    Err(e) => warn!(lease = %name, error = %e, "cannot renew the shard"),
                }
            } else {
                self.shards.lose(i);
            }
            view.shards.insert(i, shard);
        }
        let plan = shard_plan::plan(&view, &self.config.identity);
        for i in plan.release {
            self.release(i, by_name.get(&self.config.shard_lease(i)))
                .await;
        }
        for i in plan.acquire {
            self.acquire(i, by_name.get(&self.config.shard_lease(i)))
                .await;
        }
        Ok(())
    }

    /// The live replicas into `view`; expired membership Leases of others are deleted.
    async fn read_members(
        &self,
        by_name: &BTreeMap<String, Lease>,
        member: &str,
        now: Timestamp,
        view: &mut View,
    ) {
        let prefix = format!("{}-member-", self.config.prefix);
        for (name, lease) in by_name {
            if !name.starts_with(&prefix) || name == member {
                continue;
            }
            let spec = lease.spec.clone().unwrap_or_default();
            if !expired(&spec, now) {
                view.live.extend(holder(lease));
                continue;
            }
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: lease.resource_version(),
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            if self.api.delete(name, &dp).await.is_ok() {
                info!(lease = %name, "removed the membership of a replica gone");
            }
        }
        view.live.sort();
        view.live.dedup();
    }

    async fn acquire(&self, shard: u32, existing: Option<&Lease>) {
        let name = self.config.shard_lease(shard);
        let started = Instant::now();
        match self.write_held(&name, "shard", existing).await {
            Ok(()) => {
                info!(lease = %name, shard, "took the shard");
                self.shards
                    .hold(shard, started, self.config.lease.renew_deadline);
            }
            // Another replica was faster (409) or the API server is away: next round.
            Err(e) => info!(lease = %name, error = %e, "did not take the shard"),
        }
    }

    /// Gives `shard` back: no new work enters it, the work in flight ends, then the Lease is
    /// cleared so another replica can take it at once.
    async fn release(&self, shard: u32, existing: Option<&Lease>) {
        let Some(lease) = existing else { return };
        let wait = self.config.lease.renew_deadline / 2;
        let Some(guard) = self.shards.drain(shard, wait).await else {
            info!(
                shard,
                "work on the shard still running; giving it back later"
            );
            return;
        };
        let name = self.config.shard_lease(shard);
        let mut lease = lease.clone();
        // Fetch the newest version: this round's renewal changed it.
        if let Ok(Some(current)) = self.api.get_opt(&name).await {
            lease = current;
        }
        if holder(&lease).as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = None;
            spec.acquire_time = None;
        }
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!(lease = %name, shard, "gave the shard back"),
            Err(e) => warn!(lease = %name, error = %e, "cannot clear the shard; it will expire"),
        }
        drop(guard);
    }

    /// Gives every shard back and ends the membership (a clean stop).
    async fn release_all(&self) {
        for shard in 0..self.config.count {
            let name = self.config.shard_lease(shard);
            if let Ok(Some(lease)) = self.api.get_opt(&name).await
                && holder(&lease).as_deref() == Some(self.config.identity.as_str())
            {
                self.release(shard, Some(&lease)).await;
            }
        }
        let _ = self
            .api
            .delete(&self.config.member_lease(), &DeleteParams::default())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

    /// A host of shard `shard` among 4.
    fn host_of(shards: &Shards, shard: u32) -> String {
        (0..)
            .map(|i| format!("host-{i}"))
            .find(|n| shards.shard_of("ns", n) == shard)
            .expect("some host falls in every shard")
    }

    #[tokio::test]
    async fn only_held_shards_are_entered() {
        let shards = Shards::new(4, "r1");
        let (h0, h1) = (host_of(&shards, 0), host_of(&shards, 1));
        assert!(shards.enter("ns", &h0).is_none(), "nothing held yet");
        shards.hold(0, Instant::now(), DEADLINE);
        let tenure = shards.enter("ns", &h0).expect("shard 0 is held");
        assert_eq!((tenure.shard(), tenure.number()), (0, 1));
        assert_eq!(tenure.actor(), "r1/shard-0/tenure-1");
        assert!(tenure.still_held());
        assert!(shards.enter("ns", &h1).is_none(), "shard 1 is not");
        assert_eq!(shards.held(), vec![0]);
    }

    #[tokio::test]
    async fn a_tenure_ends_with_the_renew_deadline_and_a_new_one_begins_on_renewal() {
        let shards = Shards::new(4, "r1");
        let h = host_of(&shards, 2);
        shards.hold(2, Instant::now(), Duration::from_millis(1));
        let tenure = shards.enter("ns", &h);
        tokio::time::sleep(Duration::from_millis(5)).await;
        if let Some(t) = &tenure {
            assert!(!t.still_held(), "past the renew deadline");
        }
        assert!(shards.enter("ns", &h).is_none());
        assert!(shards.held().is_empty());
        // A renewal after the deadline is a new tenure: the old one stays ended.
        shards.hold(2, Instant::now(), DEADLINE);
        let renewed = shards.enter("ns", &h).expect("held again");
        assert_eq!(renewed.number(), 2);
        if let Some(t) = &tenure {
            assert!(!t.still_held(), "an older tenure is stale");
        }
    }

    #[tokio::test]
    async fn gains_are_announced_with_what_is_held_first() {
        let shards = Shards::new(4, "r1");
        shards.hold(1, Instant::now(), DEADLINE);
        let mut gained = Box::pin(shards.gained());
        assert_eq!(gained.next().await, Some(1), "held when subscribing");
        // A renewal within the deadline is no gain; a new shard is.
        shards.hold(1, Instant::now(), DEADLINE);
        shards.hold(3, Instant::now(), DEADLINE);
        assert_eq!(gained.next().await, Some(3));
    }

    #[tokio::test]
    async fn giving_a_shard_back_waits_for_the_work_in_flight() {
        let shards = Shards::new(4, "r1");
        let h = host_of(&shards, 0);
        shards.hold(0, Instant::now(), DEADLINE);
        let in_flight = shards.enter("ns", &h).expect("held");
        // The work does not end in time: the shard is kept, and its hosts asked for again.
        let mut gained = Box::pin(shards.gained());
        assert_eq!(gained.next().await, Some(0));
        assert!(shards.drain(0, Duration::from_millis(20)).await.is_none());
        assert!(in_flight.still_held());
        assert_eq!(
            gained.next().await,
            Some(0),
            "refused work is asked for again"
        );
        // Once it ends, the shard is given up and nothing enters it any more.
        let release = {
            let shards = shards.clone();
            tokio::spawn(async move { shards.drain(0, DEADLINE).await.is_some() })
        };
        tokio::task::yield_now().await;
        assert!(
            shards.enter("ns", &h).is_none(),
            "no new entry while releasing"
        );
        drop(in_flight);
        assert!(release.await.expect("drain"), "drained once the work ended");
        assert!(shards.enter("ns", &h).is_none());
        assert!(shards.held().is_empty());
    }

    #[test]
    fn lease_names() {
        let config = ShardConfig {
            count: 4,
            namespace: "metal3".into(),
            prefix: "metal3-operator".into(),
            identity: "Pod_Name-7".into(),
            lease: LeaseConfig::default(),
        };
        assert_eq!(config.shard_lease(3), "metal3-operator-shard-3");
        assert_eq!(config.member_lease(), "metal3-operator-member-pod-name-7");
    }
}
