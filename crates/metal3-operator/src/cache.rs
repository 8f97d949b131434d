//! Watch-fed caches of a host's companion objects (HardwareData, HostFirmwareSettings,
//! HostFirmwareComponents, DataImage, HostUpdatePolicy, labelled Secrets), so a reconcile pass
//! reads them from memory instead of asking the API server six times. Whole objects are held
//! packed ([`Packed`]: a fraction of their typed size) and unpacked when read.
//!
//! A cache lags behind our own writes by one watch event. Every write the operator makes to a
//! cached object is recorded here with the resourceVersion the cache held before it; while the
//! cache still shows that version, reads return what we wrote. Once the watch delivers anything
//! newer (our write or someone else's after it) the record is dropped and the cache answers.
//! Records of objects nobody reads again are swept out as writes come in, so an idle fleet
//! holds one copy of each object, not two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use metal3_api::v1alpha1::{
    DataImage, FirmwareSchema, HardwareData, HostFirmwareComponents, HostFirmwareSettings,
    HostUpdatePolicy,
};
use metal3_kube::packed::Packed;

/// How the cache of a kind holds its objects: packed, or as they are when they are metadata
/// only already.
pub trait Cacheable: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {
    /// What the store holds.
    type Held: Resource<DynamicType = ()> + Clone + Send + Sync + 'static;
    /// The object a held one stands for.
    fn from_held(held: Arc<Self::Held>) -> Arc<Self>;
}

macro_rules! packed {
    ($($kind:ty),*) => {$(
        impl Cacheable for $kind {
            type Held = Packed<$kind>;
            fn from_held(held: Arc<Packed<$kind>>) -> Arc<Self> {
                Arc::new(held.unpack())
            }
        }
    )*};
}

packed!(
    Secret,
    HostFirmwareSettings,
    HostFirmwareComponents,
    DataImage,
    HostUpdatePolicy,
    FirmwareSchema
);

impl Cacheable for PartialObjectMeta<HardwareData> {
    type Held = Self;
    fn from_held(held: Arc<Self>) -> Arc<Self> {
        held
    }
}

/// How long a reconcile waits for the first list of a cache before giving up (and retrying).
const FIRST_LIST: Duration = Duration::from_secs(60);

/// One kind's cache plus the writes it has not seen yet.
pub struct Cached<K: Cacheable> {
    store: Store<K::Held>,
    pending: Mutex<Writes<K>>,
    /// Set once the first list has arrived. kube-runtime's `Store::wait_until_ready` wakes
    /// only the last of several tasks waiting on it at once (a oneshot channel keeps one
    /// waker); so one waiter at a time asks the store, and every other waits here.
    filled: tokio::sync::OnceCell<()>,
}

/// The recorded writes, and how many there may be before the settled ones are swept out
/// (twice what the last sweep left, so sweeping costs O(1) per write).
struct Writes<K> {
    by_name: HashMap<(String, String), Pending<K>>,
    sweep_at: usize,
}

/// Fewest recorded writes that start a sweep.
const SWEEP_AT_LEAST: usize = 64;

struct Pending<K> {
    /// Cached resourceVersions older than our write (`None`: not in the cache).
    stale: Vec<Option<String>>,
    /// What the write left (`None`: deleted).
    after: Option<Arc<K>>,
}

fn version<K: Resource>(o: Option<&Arc<K>>) -> Option<String> {
    o.and_then(|o| o.meta().resource_version.clone())
}

impl<K: Cacheable> Cached<K> {
    /// A cache reading from the reflector `store`, with no writes recorded yet.
    pub fn new(store: Store<K::Held>) -> Self {
        Self {
            store,
            pending: Mutex::new(Writes {
                by_name: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
            filled: tokio::sync::OnceCell::new(),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Writes<K>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the records the watch has caught up with.
    fn sweep(&self, writes: &mut Writes<K>) {
        writes.by_name.retain(|(ns, name), p| {
            let cached = self.cached(ns, name);
            p.stale.contains(&version(cached.as_ref()))
        });
        writes.sweep_at = SWEEP_AT_LEAST.max(2 * writes.by_name.len());
    }

    fn cached(&self, ns: &str, name: &str) -> Option<Arc<K::Held>> {
        self.store.get(&ObjectRef::new(name).within(ns))
    }

    /// Waits until the first list has filled the cache (any number of tasks at once).
    pub async fn ready(&self) -> Result<(), NotReady> {
        let filled = self
            .filled
            .get_or_try_init(|| async { self.store.wait_until_ready().await.map_err(|_| ()) });
        match tokio::time::timeout(FIRST_LIST, filled).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(NotReady(K::kind(&()).into_owned())),
        }
    }

    /// The object as the operator last knew it: the cache, or our own newer write.
    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<K>> {
        let cached = self.cached(ns, name);
        let key = (ns.to_string(), name.to_string());
        let mut pending = self.pending();
        if let Some(p) = pending.by_name.get(&key) {
            if p.stale.contains(&version(cached.as_ref())) {
                return p.after.clone();
            }
            pending.by_name.remove(&key);
        }
        drop(pending);
        cached.map(K::from_held)
    }

    /// Records what a write left (`None`: the object is gone), to be read until the watch
    /// catches up.
    pub fn wrote(&self, ns: &str, name: &str, after: Option<K>) {
        let current = version(self.cached(ns, name).as_ref());
        // A write's response carries managed fields; the watch-fed copies do not keep them.
        let after = after.map(|mut o| {
            o.meta_mut().managed_fields = None;
            Arc::new(o)
        });
        let key = (ns.to_string(), name.to_string());
        let mut pending = self.pending();
        if pending.by_name.len() >= pending.sweep_at {
            self.sweep(&mut pending);
        }
        // Versions an earlier unseen write already superseded stay stale, and so does the one
        // that write left.
        let mut stale = match pending.by_name.remove(&key) {
            Some(p) if p.stale.contains(&current) => {
                let mut stale = p.stale;
                stale.push(version(p.after.as_ref()));
                stale
            }
            _ => Vec::new(),
        };
        stale.push(current);
        stale.retain(|v| *v != version(after.as_ref()) || after.is_none());
        if stale.is_empty() {
            return;
        }
        pending.by_name.insert(key, Pending { stale, after });
    }

    /// Writes recorded but not yet seen by the watch (for tests and metrics).
    pub fn unseen(&self) -> usize {
        let mut pending = self.pending();
        self.sweep(&mut pending);
        pending.by_name.len()
    }

    /// Writes held in memory, seen by the watch or not (until the next sweep).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.pending().by_name.len()
    }
}

/// The caches a host's reconcile reads from.
pub struct Caches {
    /// HardwareData metadata, by host name: whether it exists and its finalizers. The
    /// inventory itself is in the host's status; a pass that needs the HardwareData's copy
    /// ([`metal3_hoststate::reads_hardware_data`]) reads it from the API server.
    pub hardware: Cached<PartialObjectMeta<HardwareData>>,
    /// HostFirmwareSettings, by host name.
    pub settings: Cached<HostFirmwareSettings>,
    /// HostFirmwareComponents, by host name.
    pub components: Cached<HostFirmwareComponents>,
    /// DataImages, by host name.
    pub data_images: Cached<DataImage>,
    /// HostUpdatePolicies, by host name.
    pub policies: Cached<HostUpdatePolicy>,
    /// FirmwareSchemas (shared by the hosts of a model), by schema name.
    pub schemas: Cached<FirmwareSchema>,
    /// Only Secrets labelled as ours (credentials the operator has adopted); others are read
    /// from the API server when needed.
    pub secrets: Arc<Cached<Secret>>,
}

impl Caches {
    /// Waits until every cache has had its first list.
    pub async fn ready(&self) -> Result<(), NotReady> {
        self.hardware.ready().await?;
        self.settings.ready().await?;
        self.components.ready().await?;
        self.data_images.ready().await?;
        self.policies.ready().await?;
        self.schemas.ready().await?;
        self.secrets.ready().await
    }
}

/// A cache's first list did not arrive in time (the watch cannot list the kind).
#[derive(Debug, thiserror::Error)]
#[error("the {0} cache has not been filled yet (can the operator list and watch {0}?)")]
pub struct NotReady(String);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;

    packed!(ConfigMap);

    fn map(name: &str, rv: &str, value: &str) -> ConfigMap {
        let mut m = ConfigMap::default();
        m.metadata.name = Some(name.into());
        m.metadata.namespace = Some("ns".into());
        m.metadata.resource_version = Some(rv.into());
        m.data = Some([("v".to_string(), value.to_string())].into());
        m
    }

    fn value(o: Option<Arc<ConfigMap>>) -> Option<String> {
        o.and_then(|m| m.data.as_ref()?.get("v").cloned())
    }

    fn apply(w: &mut Writer<Packed<ConfigMap>>, m: ConfigMap) {
        w.apply_watcher_event(&Event::Apply(Packed::pack(m)));
    }

    #[tokio::test]
    async fn every_task_waiting_for_the_first_list_goes_on_when_it_arrives() {
        let mut writer = Writer::<Packed<ConfigMap>>::default();
        let cache = Arc::new(Cached::<ConfigMap>::new(writer.as_reader()));
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.ready().await.is_ok() })
            })
            .collect();
        // Let every task start waiting before the list arrives.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(Packed::pack(map("a", "1", "v"))));
        writer.apply_watcher_event(&Event::InitDone);
        for task in waiting {
            let ready = tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("woken when the list arrived, not at the timeout")
                .expect("task");
            assert!(ready);
        }
        assert!(cache.ready().await.is_ok(), "and at once afterwards");
    }

    #[test]
    fn reads_our_write_until_the_watch_delivers_it() {
        let mut writer = Writer::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        apply(&mut writer, map("a", "1", "old"));
        cache.wrote("ns", "a", Some(map("a", "2", "ours")));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("ours"));
        apply(&mut writer, map("a", "2", "ours"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("ours"));
        assert_eq!(cache.unseen(), 0);
    }

    #[test]
    fn a_later_change_by_someone_else_wins() {
        let mut writer = Writer::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        apply(&mut writer, map("a", "1", "old"));
        cache.wrote("ns", "a", Some(map("a", "2", "ours")));
        apply(&mut writer, map("a", "3", "theirs"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("theirs"));
    }

    #[test]
    fn created_objects_are_visible_before_the_watch_sees_them() {
        let mut writer = Writer::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        assert!(cache.get("ns", "b").is_none());
        cache.wrote("ns", "b", Some(map("b", "5", "new")));
        assert_eq!(value(cache.get("ns", "b")).as_deref(), Some("new"));
        assert!(cache.get("other", "b").is_none());
        apply(&mut writer, map("b", "5", "new"));
        assert_eq!(value(cache.get("ns", "b")).as_deref(), Some("new"));
        assert_eq!(cache.unseen(), 0);
    }

    #[test]
    fn deleted_objects_are_gone_at_once() {
        let mut writer = Writer::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        apply(&mut writer, map("a", "1", "old"));
        cache.wrote("ns", "a", None);
        assert!(cache.get("ns", "a").is_none());
        writer.apply_watcher_event(&Event::Delete(Packed::pack(map("a", "1", "old"))));
        assert!(cache.get("ns", "a").is_none());
        assert_eq!(cache.unseen(), 0);
    }

    #[test]
    fn writes_nobody_reads_again_are_not_kept_once_the_watch_has_them() {
        let mut writer = Writer::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        let hosts = 10 * SWEEP_AT_LEAST;
        for i in 0..hosts {
            let name = format!("h{i}");
            cache.wrote("ns", &name, Some(map(&name, "2", "ours")));
            apply(&mut writer, map(&name, "2", "ours"));
        }
        assert!(
            cache.held() <= SWEEP_AT_LEAST,
            "{} of {hosts} settled writes still held",
            cache.held()
        );
        // One write the watch has not delivered survives every sweep.
        cache.wrote("ns", "late", Some(map("late", "9", "unseen")));
        for i in 0..hosts {
            let name = format!("again{i}");
            cache.wrote("ns", &name, Some(map(&name, "2", "ours")));
            apply(&mut writer, map(&name, "2", "ours"));
        }
        assert_eq!(value(cache.get("ns", "late")).as_deref(), Some("unseen"));
        assert_eq!(cache.unseen(), 1);
    }

    #[test]
    fn recorded_writes_drop_managed_fields() {
        let writer = Writer::<Packed<ConfigMap>>::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        let mut written = map("a", "2", "ours");
        written.metadata.managed_fields = Some(vec![Default::default()]);
        cache.wrote("ns", "a", Some(written));
        let read = cache.get("ns", "a").expect("our write");
        assert!(read.metadata.managed_fields.is_none());
    }

    #[test]
    fn two_writes_before_the_watch_catches_up_read_the_second() {
        let mut writer = Writer::default();
        let cache = Cached::<ConfigMap>::new(writer.as_reader());
        apply(&mut writer, map("a", "1", "old"));
        cache.wrote("ns", "a", Some(map("a", "2", "first")));
        cache.wrote("ns", "a", Some(map("a", "3", "second")));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("second"));
        apply(&mut writer, map("a", "2", "first"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("second"));
        apply(&mut writer, map("a", "3", "second"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("second"));
        assert_eq!(cache.unseen(), 0);
    }
}
