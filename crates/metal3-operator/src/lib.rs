//! The Bare Metal Operator: kube-runtime controllers that drive BareMetalHosts through a
//! [`Provisioner`].
//!
//! The host controller watches BareMetalHosts (waking on changes to spec, annotations,
//! finalizers or deletion, not on its own status writes) and the credentials Secrets it has
//! labelled and owns, so rotating a password wakes the host at once. Each reconcile gathers
//! the host's inputs from watch-fed caches (see [`cache`]: a pass at rest asks the API server
//! nothing), runs one pass of the pure state machine in `metal3-hoststate`, and writes
//! the result with optimistic concurrency: a conflicting write is retried with the newer object.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::{Api, Client};
use metal3_api::consts::{SECRET_ENVIRONMENT_LABEL, SECRET_ENVIRONMENT_VALUE};
use metal3_api::v1alpha1::{
    BMCEventSubscription, BareMetalHost, DataImage, FirmwareSchema, HardwareData,
    HostFirmwareComponents, HostFirmwareSettings, HostUpdatePolicy, PreprovisioningImage,
};
use metal3_provisioner::Provisioner;
use tracing::{debug, info};

pub mod cache;
mod credentials;
mod dataimage;
pub mod events;
pub mod firmware;
pub mod host;
mod meta;
pub mod metrics;
pub mod preprov;
pub mod subscription;
pub mod webhook;

pub use cache::{Cached, Caches};
pub use host::Context;
pub use metrics::Metrics;

/// Name the operator reports in Events.
pub const REPORTING_CONTROLLER: &str = "metal3.io/baremetal-controller";

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Watch only this namespace; `None` watches the whole cluster.
    pub namespace: Option<String>,
    /// Timing and limits of the host state machine.
    pub machine: metal3_hoststate::Config,
    /// Hosts reconciled at once (0 = unlimited).
    pub concurrency: u16,
    /// This replica's name in Events (e.g. the pod name).
    pub instance: Option<String>,
    /// How often firmware settings are read back from hosts at rest.
    pub firmware_poll: firmware::FirmwarePoll,
    /// Retry delay of objects waiting for another one (a BMCEventSubscription for its host, a
    /// PreprovisioningImage for its network data Secret): 10 min.
    pub dependency_retry: std::time::Duration,
    /// Deploy images for PreprovisioningImages (`--build-preprov-image`); `None`: hosts get
    /// no PreprovisioningImage.
    pub preprovisioning_images: Option<metal3_hoststate::preprov::ImageSources>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            machine: metal3_hoststate::Config::default(),
            concurrency: 8,
            instance: None,
            firmware_poll: firmware::FirmwarePoll::default(),
            dependency_retry: std::time::Duration::from_secs(600),
            preprovisioning_images: None,
        }
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the BareMetalHost and BMCEventSubscription controllers until `shutdown` completes.
pub async fn run(
    client: Client,
    provisioner: Arc<dyn Provisioner>,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let ns = config.namespace.as_deref();
    let hosts: Api<BareMetalHost> = api(&client, ns);
    let subscriptions: Api<BMCEventSubscription> = api(&client, ns);

    let labelled = watcher::Config::default().labels(&format!(
        "{SECRET_ENVIRONMENT_LABEL}={SECRET_ENVIRONMENT_VALUE}"
    ));
    let (secret_store, secret_writer) = reflector::store();
    let secret_changes = watcher(api::<Secret>(&client, ns), labelled)
        .default_backoff()
        .modify(slim)
        .reflect(secret_writer)
        .applied_objects();
    let (hardware_store, hardware_writer) = reflector::store();
    let hardware_changes = watcher(api::<HardwareData>(&client, ns), watcher::Config::default())
        .default_backoff()
        .modify(slim)
        .reflect(hardware_writer)
        .applied_objects();
    let (data_images, data_image_changes) = companion::<DataImage>(&client, ns);
    let (settings, settings_changes) = companion::<HostFirmwareSettings>(&client, ns);
    let (components, component_changes) = companion::<HostFirmwareComponents>(&client, ns);
    let (policies, policy_changes) = companion::<HostUpdatePolicy>(&client, ns);
    let (schema_store, schema_writer) = reflector::store();
    let schema_changes = watcher(
        api::<FirmwareSchema>(&client, ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(slim)
    .reflect(schema_writer)
    .applied_objects();
    let caches = Caches {
        hardware: Cached::new(hardware_store),
        settings: Cached::new(settings),
        components: Cached::new(components),
        data_images: Cached::new(data_images),
        policies: Cached::new(policies),
        schemas: Cached::new(schema_store),
        secrets: Arc::new(Cached::new(secret_store)),
    };
    let subscription_ctx = Arc::new(subscription::SubscriptionContext {
        client: client.clone(),
        provisioner: provisioner.clone(),
        retry: config.dependency_retry,
        secrets: caches.secrets.clone(),
    });
    let subscription_controller = Controller::new(subscriptions, watcher::Config::default())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            subscription::reconcile,
            subscription::error_policy,
            subscription_ctx,
        )
        .for_each(|_| async {});
    let recorder = events::Recorder::new(
        client.clone(),
        REPORTING_CONTROLLER,
        config.instance.clone(),
    );
    let mut context = Context::new(
        client.clone(),
        provisioner,
        config.machine.clone(),
        recorder,
        metrics,
        caches,
    );
    context.firmware_poll = config.firmware_poll.clone();
    context.build_preprovisioning_images = config.preprovisioning_images.is_some();
    let image_controller = {
        let shutdown = shutdown.clone();
        let sources = config.preprovisioning_images.clone();
        let retry = config.dependency_retry;
        let images: Api<PreprovisioningImage> = api(&client, ns);
        let client = client.clone();
        async move {
            let Some(sources) = sources else { return };
            let ctx = Arc::new(preprov::ImageContext {
                client,
                sources,
                retry,
            });
            Controller::new(images, watcher::Config::default())
                .graceful_shutdown_on(shutdown)
                .run(preprov::reconcile, preprov::error_policy, ctx)
                .for_each(|_| async {})
                .await;
        }
    };
    let ctx = Arc::new(context);

    // Wake on spec, annotation, finalizer and deletion changes only: our own status writes do
    // not trigger another pass (the state machine asks for its own requeues).
    let wake = |h: &BareMetalHost| {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        h.metadata.generation.hash(&mut hasher);
        h.metadata.annotations.hash(&mut hasher);
        h.metadata.finalizers.hash(&mut hasher);
        h.metadata.deletion_timestamp.is_some().hash(&mut hasher);
        Some(hasher.finish())
    };
    let (reader, writer) = reflector::store();
    let host_stream = watcher(hosts, watcher::Config::default())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(wake, Default::default());

    info!(
        namespace = ns.unwrap_or("<all>"),
        provisioner = ctx.provisioner.name(),
        "starting the BareMetalHost controller"
    );
    // The same-name companions of a host wake it when their spec changes or they are
    // deleted (our own status writes to them do not). HardwareData and FirmwareSchemas are
    // only cached: the host reads them when it needs them.
    let host_controller = Controller::for_stream(host_stream, reader)
        .owns_stream(secret_changes)
        .watches_stream(data_image_changes, same_name_host)
        .watches_stream(settings_changes, same_name_host)
        .watches_stream(component_changes, same_name_host)
        .watches_stream(policy_changes, same_name_host)
        .watches_stream(hardware_changes, |_: HardwareData| None)
        .watches_stream(schema_changes, |_: FirmwareSchema| None)
        .with_config(controller::Config::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(host::reconcile, host::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(host = %obj_name(&obj), "reconciled"),
                Err(e) => debug!(error = %e, "reconcile error"),
            }
        });
    futures::join!(host_controller, subscription_controller, image_controller);
    info!("controllers stopped");
}

/// A cache of a kind that belongs to the same-name host, and the changes to its spec
/// (generation) or deletion.
fn companion<K>(
    client: &Client,
    namespace: Option<&str>,
) -> (
    reflector::Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let changes = watcher(api::<K>(client, namespace), watcher::Config::default())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            |o: &K| {
                let meta = o.meta();
                let deleting = u64::from(meta.deletion_timestamp.is_some());
                meta.generation.map(|g| ((g as u64) << 1) | deleting)
            },
            Default::default(),
        );
    (store, changes)
}

/// Drops `metadata.managedFields` before an object is cached: the operator never reads them,
/// and they are often the larger part of a small object. Writing an object back without them
/// is safe: the API server keeps its managed fields when a request carries none.
fn slim<K: kube::Resource>(o: &mut K) {
    o.meta_mut().managed_fields = None;
}

fn same_name_host<K: kube::Resource>(o: K) -> Option<ObjectRef<BareMetalHost>> {
    let meta = o.meta();
    Some(ObjectRef::new(meta.name.as_deref()?).within(meta.namespace.as_deref()?))
}

fn obj_name(o: &ObjectRef<BareMetalHost>) -> String {
    match &o.namespace {
        Some(ns) => format!("{ns}/{}", o.name),
        None => o.name.clone(),
    }
}
