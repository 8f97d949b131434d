//! Watch-fed caches of a host's companion objects (HardwareData, HostFirmwareSettings,
//! HostFirmwareComponents, DataImage, HostUpdatePolicy, labelled Secrets), so a reconcile pass
//! reads them from memory instead of asking the API server six times. Whole objects are held
//! packed ([`Blob`]: a fraction of their typed size) and unpacked when read.
//!
//! A cache lags behind our own writes by one watch event. Every write the operator makes to a
//! cached object is recorded here with the resourceVersion the cache held before it; while the
//! cache still shows that version, reads return what we wrote. Once the watch delivers anything
//! newer (our write or someone else's after it) the record is dropped and the cache answers.
//! Records of objects nobody reads again are swept out as writes come in, so an idle fleet
//! holds one copy of each object, not two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::{PartialObjectMeta, PartialObjectMetaExt};
use kube::runtime::watcher::Event;
use metal3_api::v1alpha1::{
    DataImage, FirmwareSchema, HardwareData, HostFirmwareComponents, HostFirmwareSettings,
    HostUpdatePolicy,
};
use metal3_kube::packed::{Blob, Compressible};

/// What the cache of a kind keeps of an object: the object, or only its metadata when that is
/// all that is watched.
pub trait Cacheable: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {
    /// What is kept (packed).
    type Held: Compressible + Send + Sync + 'static;
    /// Whether what is kept is packed against a dictionary shared by the kind
    /// ([`Blob::pack_alike`]); not for credentials, which must not outlive their object.
    const ALIKE: bool = true;
    /// What of `self` is kept.
    fn held(&self) -> &Self::Held;
    /// The object a kept one stands for.
    fn from_held(held: Self::Held) -> Self;
}

macro_rules! whole {
    ($($kind:ty),*) => {$(
        impl Cacheable for $kind {
            type Held = $kind;
            fn held(&self) -> &Self {
                self
            }
            fn from_held(held: Self) -> Self {
                held
            }
        }
    )*};
}

impl Cacheable for Secret {
    type Held = Secret;
    const ALIKE: bool = false;
    fn held(&self) -> &Self {
        self
    }
    fn from_held(held: Self) -> Self {
        held
    }
}

whole!(
    HostFirmwareSettings,
    HostFirmwareComponents,
    DataImage,
    HostUpdatePolicy,
    FirmwareSchema
);

impl Cacheable for PartialObjectMeta<HardwareData> {
    type Held = ObjectMeta;
    fn held(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn from_held(metadata: ObjectMeta) -> Self {
        metadata.into_response_partial()
    }
}

/// How long a reconcile waits for the first list of a cache before giving up (and retrying).
const FIRST_LIST: Duration = Duration::from_secs(60);

/// One kind's cache, fed by a watch ([`Cached::apply`]), plus the writes it has not seen yet.
///
/// Objects are kept packed (a [`Blob`] each) by `namespace/name` with their resourceVersion,
/// and nothing else: no typed metadata, no second key (a reflector store keeps both, over
/// half a KiB per object before the object itself).
pub struct Cached<K: Cacheable> {
    objects: RwLock<Objects<K::Held>>,
    pending: Mutex<Writes<K>>,
    /// `true` once the first list has arrived.
    filled: tokio::sync::watch::Sender<bool>,
}

struct Objects<H> {
    by_key: HashMap<Box<str>, Entry<H>>,
    /// A list in progress, swapped in when it is complete.
    listing: Option<HashMap<Box<str>, Entry<H>>>,
}

struct Entry<H> {
    version: Option<Box<str>>,
    /// What the feeding watch's `wake` said of the object.
    wake: Option<u64>,
    held: Blob<H>,
}

fn key(ns: &str, name: &str) -> Box<str> {
    format!("{ns}/{name}").into()
}

fn key_of<K: Resource>(o: &K) -> Box<str> {
    let meta = o.meta();
    key(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
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

impl<K: Cacheable> Default for Cached<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Cacheable> Cached<K> {
    /// An empty cache, not filled until its first list is applied.
    pub fn new() -> Self {
        Self {
            objects: RwLock::new(Objects {
                by_key: HashMap::new(),
                listing: None,
            }),
            pending: Mutex::new(Writes {
                by_name: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
            filled: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Applies one event of the watch that feeds the cache, and hands back the object it
    /// brought when `wake` says it changed: a new object, one whose `wake` value differs from
    /// that of the object it replaces, or one `wake` has no value for. So a predicate on the
    /// changes needs no memory of its own. Deletions are applied and not handed back.
    pub fn apply(&self, event: Event<K>, wake: impl Fn(&K) -> Option<u64>) -> Option<K> {
        let (listing, object) = match event {
            Event::Apply(o) => (false, o),
            Event::InitApply(o) => (true, o),
            Event::Delete(o) => {
                self.objects_mut().by_key.remove(&*key_of(&o));
                return None;
            }
            Event::Init => {
                self.objects_mut().listing = Some(HashMap::new());
                return None;
            }
            Event::InitDone => {
                let mut objects = self.objects_mut();
                let mut listed = objects.listing.take().unwrap_or_default();
                listed.shrink_to_fit();
                objects.by_key = listed;
                drop(objects);
                self.filled.send_replace(true);
                return None;
            }
        };
        let k = key_of(&object);
        let wake = wake(&object);
        let entry = Entry {
            version: object.meta().resource_version.as_deref().map(Box::from),
            wake,
            held: if K::ALIKE {
                Blob::pack_alike(object.held())
            } else {
                Blob::pack(object.held())
            },
        };
        let mut objects = self.objects_mut();
        let changed = wake.is_none() || objects.by_key.get(&k).is_none_or(|e| e.wake != wake);
        if listing {
            objects.listing.get_or_insert_default().insert(k, entry);
        } else {
            objects.by_key.insert(k, entry);
        }
        changed.then_some(object)
    }

    fn objects_mut(&self) -> std::sync::RwLockWriteGuard<'_, Objects<K::Held>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, Writes<K>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the records the watch has caught up with.
    fn sweep(&self, writes: &mut Writes<K>) {
        writes
            .by_name
            .retain(|(ns, name), p| p.stale.contains(&self.cached_version(ns, name)));
        writes.sweep_at = SWEEP_AT_LEAST.max(2 * writes.by_name.len());
    }

    fn objects(&self) -> std::sync::RwLockReadGuard<'_, Objects<K::Held>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached object's resourceVersion and packed form.
    fn cached(&self, ns: &str, name: &str) -> Option<(Option<String>, Blob<K::Held>)> {
        let objects = self.objects();
        let entry = objects.by_key.get(&*key(ns, name))?;
        Some((
            entry.version.as_deref().map(String::from),
            entry.held.clone(),
        ))
    }

    /// The cached object's resourceVersion (`None`: not cached, or without one).
    fn cached_version(&self, ns: &str, name: &str) -> Option<String> {
        let objects = self.objects();
        let entry = objects.by_key.get(&*key(ns, name))?;
        entry.version.as_deref().map(String::from)
    }

    /// Objects cached (for tests and metrics).
    pub fn len(&self) -> usize {
        self.objects().by_key.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until the first list has filled the cache (any number of tasks at once).
    pub async fn ready(&self) -> Result<(), NotReady> {
        let mut filled = self.filled.subscribe();
        match tokio::time::timeout(FIRST_LIST, filled.wait_for(|f| *f)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(NotReady(K::kind(&()).into_owned())),
        }
    }

    /// The object as the operator last knew it: the cache, or our own newer write.
    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<K>> {
        let cached = self.cached(ns, name);
        let current = cached.as_ref().and_then(|(v, _)| v.clone());
        let key = (ns.to_string(), name.to_string());
        let mut pending = self.pending();
        if let Some(p) = pending.by_name.get(&key) {
            if p.stale.contains(&current) {
                return p.after.clone();
            }
            pending.by_name.remove(&key);
        }
        drop(pending);
        cached.map(|(_, held)| Arc::new(K::from_held(held.unpack())))
    }

    /// Records what a write left (`None`: the object is gone), to be read until the watch
    /// catches up.
    pub fn wrote(&self, ns: &str, name: &str, after: Option<K>) {
        let current = self.cached_version(ns, name);
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
    pub hardware: Arc<Cached<PartialObjectMeta<HardwareData>>>,
    /// HostFirmwareSettings, by host name.
    pub settings: Arc<Cached<HostFirmwareSettings>>,
    /// HostFirmwareComponents, by host name.
    pub components: Arc<Cached<HostFirmwareComponents>>,
    /// DataImages, by host name.
    pub data_images: Arc<Cached<DataImage>>,
    /// HostUpdatePolicies, by host name.
    pub policies: Arc<Cached<HostUpdatePolicy>>,
    /// FirmwareSchemas (shared by the hosts of a model), by schema name.
    pub schemas: Arc<Cached<FirmwareSchema>>,
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

    whole!(ConfigMap);

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

    fn apply(c: &Cached<ConfigMap>, m: ConfigMap) {
        feed(c, Event::Apply(m));
    }

    fn feed<K: Cacheable>(c: &Cached<K>, event: Event<K>) {
        c.apply(event, |_| None);
    }

    #[tokio::test]
    async fn every_task_waiting_for_the_first_list_goes_on_when_it_arrives() {
        let cache = Arc::new(Cached::<ConfigMap>::new());
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
        feed(&cache, Event::Init);
        feed(&cache, Event::InitApply(map("a", "1", "v")));
        assert!(cache.is_empty(), "a list is seen only once it is complete");
        feed(&cache, Event::InitDone);
        assert_eq!(cache.len(), 1);
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
    fn changes_are_handed_on_only_when_wake_says_so() {
        let cache = Cached::<ConfigMap>::new();
        let generation = |m: &ConfigMap| m.metadata.generation.map(|g| g as u64);
        let at = |rv: &str, g: i64| {
            let mut m = map("a", rv, "v");
            m.metadata.generation = Some(g);
            m
        };
        let handed_on = |event| cache.apply(event, generation).is_some();
        assert!(handed_on(Event::Apply(at("1", 1))), "a new object");
        assert!(!handed_on(Event::Apply(at("2", 1))), "its status only");
        assert_eq!(
            cache
                .get("ns", "a")
                .and_then(|m| m.metadata.resource_version.clone())
                .as_deref(),
            Some("2"),
            "cached all the same"
        );
        assert!(handed_on(Event::Apply(at("3", 2))), "its spec");
        // A relist of what is cached hands nothing on.
        assert!(!handed_on(Event::Init));
        assert!(!handed_on(Event::InitApply(at("3", 2))));
        assert!(!handed_on(Event::InitDone));
        assert!(handed_on(Event::Apply(map("b", "1", "v"))), "no value");
        assert!(
            handed_on(Event::Apply(map("b", "2", "v"))),
            "no value, again"
        );
        assert!(!handed_on(Event::Delete(map("b", "2", "v"))));
        assert!(cache.get("ns", "b").is_none());
    }

    #[test]
    fn a_relist_replaces_what_was_cached() {
        let cache = Cached::<ConfigMap>::new();
        feed(&cache, Event::Init);
        feed(&cache, Event::InitApply(map("a", "1", "v")));
        feed(&cache, Event::InitApply(map("b", "1", "v")));
        feed(&cache, Event::InitDone);
        // The watch broke; "a" was deleted meanwhile and "b" changed.
        feed(&cache, Event::Init);
        feed(&cache, Event::InitApply(map("b", "4", "new")));
        assert_eq!(
            value(cache.get("ns", "a")).as_deref(),
            Some("v"),
            "until the list ends"
        );
        feed(&cache, Event::InitDone);
        assert!(cache.get("ns", "a").is_none());
        assert_eq!(value(cache.get("ns", "b")).as_deref(), Some("new"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn credentials_are_not_packed_against_a_shared_dictionary() {
        let secrets = Cached::<Secret>::new();
        let mut secret = Secret::default();
        secret.metadata.name = Some("bmc".into());
        secret.metadata.namespace = Some("ns".into());
        feed(&secrets, Event::Apply(secret));
        let settings = Cached::<ConfigMap>::new();
        feed(&settings, Event::Apply(map("a", "1", "v")));
        let (_, secret) = secrets.cached("ns", "bmc").expect("cached");
        assert!(!secret.shares_dictionary());
        let (_, map) = settings.cached("ns", "a").expect("cached");
        assert!(map.shares_dictionary());
    }

    #[test]
    fn a_metadata_only_cache_keeps_the_metadata() {
        let cache = Cached::<PartialObjectMeta<HardwareData>>::new();
        let meta = ObjectMeta {
            name: Some("h".into()),
            namespace: Some("ns".into()),
            finalizers: Some(vec!["metal3.io/hardwaredata".into()]),
            ..Default::default()
        }
        .into_response_partial::<HardwareData>();
        feed(&cache, Event::Apply(meta.clone()));
        let read = cache.get("ns", "h").expect("cached");
        assert_eq!(read.metadata, meta.metadata);
    }

    #[test]
    fn reads_our_write_until_the_watch_delivers_it() {
        let cache = Cached::<ConfigMap>::new();
        apply(&cache, map("a", "1", "old"));
        cache.wrote("ns", "a", Some(map("a", "2", "ours")));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("ours"));
        apply(&cache, map("a", "2", "ours"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("ours"));
        assert_eq!(cache.unseen(), 0);
    }

    #[test]
    fn a_later_change_by_someone_else_wins() {
        let cache = Cached::<ConfigMap>::new();
        apply(&cache, map("a", "1", "old"));
        cache.wrote("ns", "a", Some(map("a", "2", "ours")));
        apply(&cache, map("a", "3", "theirs"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("theirs"));
    }

    #[test]
    fn created_objects_are_visible_before_the_watch_sees_them() {
        let cache = Cached::<ConfigMap>::new();
        assert!(cache.get("ns", "b").is_none());
        cache.wrote("ns", "b", Some(map("b", "5", "new")));
        assert_eq!(value(cache.get("ns", "b")).as_deref(), Some("new"));
        assert!(cache.get("other", "b").is_none());
        apply(&cache, map("b", "5", "new"));
        assert_eq!(value(cache.get("ns", "b")).as_deref(), Some("new"));
        assert_eq!(cache.unseen(), 0);
    }

    #[test]
    fn deleted_objects_are_gone_at_once() {
        let cache = Cached::<ConfigMap>::new();
        apply(&cache, map("a", "1", "old"));
        cache.wrote("ns", "a", None);
        assert!(cache.get("ns", "a").is_none());
        feed(&cache, Event::Delete(map("a", "1", "old")));
        assert!(cache.get("ns", "a").is_none());
        assert_eq!(cache.unseen(), 0);
    }

    #[test]
    fn writes_nobody_reads_again_are_not_kept_once_the_watch_has_them() {
        let cache = Cached::<ConfigMap>::new();
        let hosts = 10 * SWEEP_AT_LEAST;
        for i in 0..hosts {
            let name = format!("h{i}");
            cache.wrote("ns", &name, Some(map(&name, "2", "ours")));
            apply(&cache, map(&name, "2", "ours"));
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
            apply(&cache, map(&name, "2", "ours"));
        }
        assert_eq!(value(cache.get("ns", "late")).as_deref(), Some("unseen"));
        assert_eq!(cache.unseen(), 1);
    }

    #[test]
    fn recorded_writes_drop_managed_fields() {
        let cache = Cached::<ConfigMap>::new();
        let mut written = map("a", "2", "ours");
        written.metadata.managed_fields = Some(vec![Default::default()]);
        cache.wrote("ns", "a", Some(written));
        let read = cache.get("ns", "a").expect("our write");
        assert!(read.metadata.managed_fields.is_none());
    }

    #[test]
    fn two_writes_before_the_watch_catches_up_read_the_second() {
        let cache = Cached::<ConfigMap>::new();
        apply(&cache, map("a", "1", "old"));
        cache.wrote("ns", "a", Some(map("a", "2", "first")));
        cache.wrote("ns", "a", Some(map("a", "3", "second")));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("second"));
        apply(&cache, map("a", "2", "first"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("second"));
        apply(&cache, map("a", "3", "second"));
        assert_eq!(value(cache.get("ns", "a")).as_deref(), Some("second"));
        assert_eq!(cache.unseen(), 0);
    }
}
