//! Publishing Kubernetes Events (`events.k8s.io/v1`) with a bounded memory.
//!
//! The same event repeated about the same object within [`SERIES_TTL`] becomes one Event whose
//! `series` counts the repeats (as client-go and kube-runtime do). kube-runtime's own recorder
//! keeps every event of the last six minutes and scans them all on each publish, which at
//! thousands of hosts was the largest part of the operator's heap and an O(n) step per event;
//! here at most [`CAPACITY`] recent events are remembered, and expired ones are dropped only when
//! room is needed.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, ResourceExt};
use serde_json::json;

/// Repeats within this long of the last one join its series.
pub const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);
/// Recent events remembered for series, at most.
pub const CAPACITY: usize = 4096;

/// What makes two events "the same".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    name: String,
    uid: String,
    reason: String,
    action: String,
    warning: bool,
    note: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    /// Name of the Event object the series lives in.
    event: String,
    count: i32,
    last: Timestamp,
}

/// What to do for one publish.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// A new Event object.
    Create,
    /// Count one more in the series of Event `event`.
    Repeat { event: String, count: i32 },
}

impl Key {
    /// What the recent events are remembered by: 8 bytes instead of seven strings (one
    /// spurious match in about 2^64 pairs, which would only join two series).
    fn digest(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// The recent events, bounded (pure: the clock is passed in).
#[derive(Debug, Default)]
struct Recent {
    seen: HashMap<u64, Seen>,
}

impl Recent {
    fn decide(&self, key: &Key, now: Timestamp) -> Action {
        match self.seen.get(&key.digest()) {
            Some(s) if s.last + SERIES_TTL > now => Action::Repeat {
                event: s.event.clone(),
                count: s.count + 1,
            },
            _ => Action::Create,
        }
    }

    /// Records that `event` now stands at `count` for `key`.
    fn record(&mut self, key: &Key, event: String, count: i32, now: Timestamp) {
        let key = key.digest();
        if self.seen.len() >= CAPACITY && !self.seen.contains_key(&key) {
            self.make_room(now);
        }
        self.seen.insert(
            key,
            Seen {
                event,
                count,
                last: now,
            },
        );
    }

    /// Drops expired entries; if that is not enough, the oldest quarter, so the sweep is
    /// paid once per many inserts.
    fn make_room(&mut self, now: Timestamp) {
        self.seen.retain(|_, s| s.last + SERIES_TTL > now);
        if self.seen.len() < CAPACITY {
            return;
        }
        let mut times: Vec<Timestamp> = self.seen.values().map(|s| s.last).collect();
        times.sort_unstable();
        let cut = times[CAPACITY / 4];
        self.seen.retain(|_, s| s.last > cut);
    }

    fn len(&self) -> usize {
        self.seen.len()
    }
}

/// Publishes Events for one controller.
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<Recent>,
}

impl Recorder {
    /// A recorder reporting as `controller` (and `instance`, e.g. the pod name; else the
    /// controller name).
    pub fn new(client: Client, controller: impl Into<String>, instance: Option<String>) -> Self {
        let controller = controller.into();
        Self {
            client,
            instance: instance.unwrap_or_else(|| controller.clone()),
            controller,
            recent: Mutex::new(Recent::default()),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `ev` about `regarding`: a new Event, or one more in the series of the same
    /// event published recently.
    pub async fn publish(&self, ev: &Event, regarding: &ObjectReference) -> kube::Result<()> {
        let now = Timestamp::now();
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let key = Key {
            namespace: namespace.clone(),
            name: regarding.name.clone().unwrap_or_default(),
            uid: regarding.uid.clone().unwrap_or_default(),
            reason: ev.reason.clone(),
            action: ev.action.clone(),
            warning: matches!(ev.type_, EventType::Warning),
            note: ev.note.clone().unwrap_or_default(),
        };
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let action = self.recent().decide(&key, now);
        if let Action::Repeat { event, count } = action {
            let patch = json!({"series": EventSeries {
                count,
                last_observed_time: MicroTime(now),
            }});
            match events
                .patch(&event, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.recent().record(&key, event, count, now);
                    return Ok(());
                }
                // The Event expired in the API server: start a new one.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let created = events
            .create(&PostParams::default(), &self.event(ev, regarding, now))
            .await?;
        self.recent().record(&key, created.name_any(), 1, now);
        Ok(())
    }

    fn event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            note: ev.note.clone(),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                )),
                ..ObjectMeta::default()
            },
            ..K8sEvent::default()
        }
    }

    /// Recent events remembered (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.recent().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, note: &str) -> Key {
        Key {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            reason: "PowerOn".into(),
            action: "PowerOn".into(),
            warning: false,
            note: note.into(),
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("timestamp")
    }

    #[test]
    fn repeats_within_the_ttl_join_the_series() {
        let mut r = Recent::default();
        let k = key("h", "powered on");
        assert_eq!(r.decide(&k, at(0)), Action::Create);
        r.record(&k, "h.1".into(), 1, at(0));
        assert_eq!(
            r.decide(&k, at(60)),
            Action::Repeat {
                event: "h.1".into(),
                count: 2
            }
        );
        r.record(&k, "h.1".into(), 2, at(60));
        // Measured from the last repeat, not the first event.
        assert_eq!(
            r.decide(&k, at(60 + 359)),
            Action::Repeat {
                event: "h.1".into(),
                count: 3
            }
        );
        assert_eq!(r.decide(&k, at(60 + 360)), Action::Create, "expired");
        // Another note, another object: other events.
        assert_eq!(r.decide(&key("h", "powered off"), at(61)), Action::Create);
        assert_eq!(r.decide(&key("g", "powered on"), at(61)), Action::Create);
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = Recent::default();
        for i in 0..(CAPACITY * 3) {
            r.record(
                &key(&format!("h{i}"), "n"),
                format!("e{i}"),
                1,
                at(i as i64 / 100),
            );
            assert!(r.len() <= CAPACITY);
        }
        // The newest are kept.
        let last = CAPACITY * 3 - 1;
        assert!(matches!(
            r.decide(&key(&format!("h{last}"), "n"), at(last as i64 / 100)),
            Action::Repeat { .. }
        ));
    }

    #[test]
    fn expired_entries_make_room_first() {
        let mut r = Recent::default();
        for i in 0..CAPACITY {
            r.record(&key(&format!("old{i}"), "n"), "e".into(), 1, at(0));
        }
        r.record(&key("new", "n"), "e".into(), 1, at(400));
        assert_eq!(r.len(), 1, "only the unexpired one is left");
    }
}
