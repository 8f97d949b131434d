//! Wires the watches, the caches and the three controllers (BareMetalHost,
//! BMCEventSubscription, PreprovisioningImage) together, and runs them until shutdown.

use std::future::Future;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::{Api, Client, Resource};
use metal3_api::consts::{SECRET_ENVIRONMENT_LABEL, SECRET_ENVIRONMENT_VALUE};
use metal3_api::v1alpha1::{
    BMCEventSubscription, BareMetalHost, DataImage, FirmwareSchema, HardwareData,
    HostFirmwareComponents, HostFirmwareSettings, HostUpdatePolicy, PreprovisioningImage,
};
use metal3_kube::packed::Packed;
use metal3_kube::shards::Shards;
use metal3_provisioner::Provisioner;
use tracing::{debug, info};

use crate::cache::{Cacheable, Cached, Caches};
use crate::context::Context;
use crate::metrics::Metrics;
use crate::{OperatorConfig, REPORTING_CONTROLLER, events, host, preprov, subscription, ui};

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

/// Runs the BareMetalHost and BMCEventSubscription controllers (and the PreprovisioningImage
/// one, when deploy images are configured) until `shutdown` completes.
pub async fn run(
    client: Client,
    provisioner: Arc<dyn Provisioner>,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let ns = config.namespace.as_deref();
    let (reader, host_stream) = host_changes(&client, ns);
    let shard_gauge = shard_gauge(config.shards.clone(), metrics.clone(), shutdown.clone());
    let page = fleet_page(
        config.ui.clone(),
        config.namespace.clone(),
        reader.clone(),
        client.clone(),
        metrics.clone(),
        provisioner.clone(),
        shutdown.clone(),
    );
    let gained_hosts = hosts_of_gained_shards(config.shards.clone(), reader.clone());
    let (caches, with_companions) =
        watch_companions(Controller::for_stream(host_stream, reader), &client, ns);
    let subscription_controller = subscription_controller(
        &client,
        ns,
        provisioner.clone(),
        &config,
        caches.secrets.clone(),
        shutdown.clone(),
    );
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
    context.shards = config.shards.clone();
    let image_controller = image_controller(&client, ns, &config, shutdown.clone());
    let step_log = context.steps.clone();
    let ctx = Arc::new(context);
    let claim_controller = claim_controller(&client, &config, shutdown.clone());

    info!(
        namespace = ns.unwrap_or("<all>"),
        provisioner = ctx.provisioner.name(),
        "starting the BareMetalHost controller"
    );
    let host_controller = with_companions
        .reconcile_on(gained_hosts)
        .with_config(controller::Config::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(host::reconcile, host::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(host = %obj_name(&obj), "reconciled"),
                Err(e) => debug!(error = %e, "reconcile error"),
            }
        });
    // The step log's writer stops after the controllers, so their last steps are written.
    let (controllers_stopped, stopped) = tokio::sync::oneshot::channel::<()>();
    let controllers = async move {
        futures::join!(
            host_controller,
            subscription_controller,
            image_controller,
            claim_controller,
            page,
            shard_gauge
        );
        let _ = controllers_stopped.send(());
    };
    let step_writer = step_log.run(&client, async {
        let _ = stopped.await;
    });
    futures::join!(controllers, step_writer);
    info!("controllers stopped");
}

/// The fleet page, when `--ui-addr` asks for it, run to completion.
async fn fleet_page(
    listener: Option<ui::Listener>,
    namespace: Option<String>,
    hosts: reflector::Store<Packed<BareMetalHost>>,
    client: Client,
    metrics: Arc<Metrics>,
    provisioner: Arc<dyn Provisioner>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Some(listener) = listener {
        ui::serve(
            &listener,
            hosts,
            client,
            metrics,
            provisioner,
            namespace,
            shutdown,
        )
        .await;
    }
}

/// The hosts' cache (packed: most of the operator's memory at fleet size) and the changes that
/// wake a host: spec, annotation, finalizer and deletion changes only, so our own status
/// writes do not trigger another pass (the state machine asks for its own requeues).
fn host_changes(
    client: &Client,
    namespace: Option<&str>,
) -> (
    reflector::Store<Packed<BareMetalHost>>,
    impl futures::Stream<Item = Result<Packed<BareMetalHost>, watcher::Error>> + Send + 'static,
) {
    let wake = |h: &Packed<BareMetalHost>| {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let h = h.meta();
        let mut hasher = DefaultHasher::new();
        h.generation.hash(&mut hasher);
        h.annotations.hash(&mut hasher);
        h.finalizers.hash(&mut hasher);
        h.deletion_timestamp.is_some().hash(&mut hasher);
        Some(hasher.finish())
    };
    let (reader, writer) = reflector::store();
    let changes = watcher(
        api::<Packed<BareMetalHost>>(client, namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(slim)
    .reflect(writer)
    .applied_objects()
    .predicate_filter(wake, Default::default());
    (reader, changes)
}

/// Watches what belongs to a host into the [`Caches`], and has `hosts` woken by it: the
/// labelled credentials Secrets the host owns wake it on any change; the same-name companions
/// wake it when their spec changes or they are deleted (our own status writes to them do not).
/// HardwareData (its metadata only) and FirmwareSchemas are only cached: the host reads them
/// when it needs them.
fn watch_companions(
    hosts: Controller<Packed<BareMetalHost>>,
    client: &Client,
    ns: Option<&str>,
) -> (Caches, Controller<Packed<BareMetalHost>>) {
    let labelled = watcher::Config::default().labels(&format!(
        "{SECRET_ENVIRONMENT_LABEL}={SECRET_ENVIRONMENT_VALUE}"
    ));
    let (secrets, secret_changes) = cache_of(api::<Secret>(client, ns), labelled, any_change);
    let (hardware, hardware_changes) = cache_of(
        api::<PartialObjectMeta<HardwareData>>(client, ns),
        watcher::Config::default(),
        any_change,
    );
    let (data_images, data_image_changes) = companion::<DataImage>(client, ns);
    let (settings, settings_changes) = companion::<HostFirmwareSettings>(client, ns);
    let (components, component_changes) = companion::<HostFirmwareComponents>(client, ns);
    let (policies, policy_changes) = companion::<HostUpdatePolicy>(client, ns);
    let (schemas, schema_changes) = cache_of(
        api::<FirmwareSchema>(client, ns),
        watcher::Config::default(),
        any_change,
    );
    let caches = Caches {
        hardware,
        settings,
        components,
        data_images,
        policies,
        schemas,
        secrets,
    };
    let hosts = hosts
        .owns_stream(secret_changes)
        .watches_stream(data_image_changes, same_name_host)
        .watches_stream(settings_changes, same_name_host)
        .watches_stream(component_changes, same_name_host)
        .watches_stream(policy_changes, same_name_host)
        .watches_stream(hardware_changes, |_: PartialObjectMeta<HardwareData>| None)
        .watches_stream(schema_changes, |_: FirmwareSchema| None);
    (caches, hosts)
}

/// A watch of `api` into a [`Cached`] of its own (each object slimmed, then packed), and the
/// objects as they change in what `wake` reads ([`Cached::apply`]), each seen by the cache
/// before it is passed on.
fn cache_of<K>(
    api: Api<K>,
    config: watcher::Config,
    wake: fn(&K) -> Option<u64>,
) -> (
    Arc<Cached<K>>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let cache = Arc::new(Cached::new());
    let fed = cache.clone();
    let changes = watcher(api, config)
        .default_backoff()
        .modify(slim)
        .try_filter_map(move |event| std::future::ready(Ok(fed.apply(event, wake))));
    (cache, changes)
}

/// Every change passes.
fn any_change<K>(_: &K) -> Option<u64> {
    None
}

/// Changes to the spec (generation) or deletion pass.
fn spec_or_deletion<K: Resource>(o: &K) -> Option<u64> {
    let meta = o.meta();
    let deleting = u64::from(meta.deletion_timestamp.is_some());
    meta.generation.map(|g| ((g as u64) << 1) | deleting)
}

/// The BMCEventSubscription controller, run to completion.
fn subscription_controller(
    client: &Client,
    ns: Option<&str>,
    provisioner: Arc<dyn Provisioner>,
    config: &OperatorConfig,
    secrets: Arc<Cached<Secret>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let subscriptions: Api<BMCEventSubscription> = api(client, ns);
    let ctx = Arc::new(subscription::SubscriptionContext {
        client: client.clone(),
        provisioner,
        retry: config.dependency_retry,
        secrets,
        shards: config.shards.clone(),
    });
    Controller::new(subscriptions, watcher::Config::default())
        .reconcile_all_on(shards_gained(config.shards.clone()))
        .graceful_shutdown_on(shutdown)
        .run(subscription::reconcile, subscription::error_policy, ctx)
        .for_each(|_| async {})
}

/// The PreprovisioningImage controller, run to completion; done at once when no deploy images
/// are configured.
fn image_controller(
    client: &Client,
    ns: Option<&str>,
    config: &OperatorConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let sources = config.preprovisioning_images.clone();
    let retry = config.dependency_retry;
    let shards = config.shards.clone();
    let images: Api<PreprovisioningImage> = api(client, ns);
    let client = client.clone();
    async move {
        let Some(sources) = sources else { return };
        let ctx = Arc::new(preprov::ImageContext {
            client,
            sources,
            retry,
            shards: shards.clone(),
        });
        Controller::new(images, watcher::Config::default())
            .reconcile_all_on(shards_gained(shards))
            .graceful_shutdown_on(shutdown)
            .run(preprov::reconcile, preprov::error_policy, ctx)
            .for_each(|_| async {})
            .await;
    }
}

/// A cache of a kind that belongs to the same-name host, and the changes to its spec
/// (generation) or deletion.
fn companion<K>(
    client: &Client,
    namespace: Option<&str>,
) -> (
    Arc<Cached<K>>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable<Scope = k8s_openapi::NamespaceResourceScope>
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    cache_of(
        api::<K>(client, namespace),
        watcher::Config::default(),
        spec_or_deletion,
    )
}

/// `kubectl apply`'s copy of the whole object as last applied, in an annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what the operator never reads before an object is cached: `metadata.managedFields`,
/// often the larger part of a small object, and `kubectl apply`'s copy of the object (a
/// second spec of every host applied with kubectl, the data of every Secret). Cached objects
/// are never written back whole (status updates go to the status subresource, which keeps
/// the stored metadata; other writes are patches), so nothing is lost by it.
fn slim<K: kube::Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

fn same_name_host<K: kube::Resource>(o: K) -> Option<ObjectRef<Packed<BareMetalHost>>> {
    let meta = o.meta();
    Some(ObjectRef::new(meta.name.as_deref()?).within(meta.namespace.as_deref()?))
}

fn obj_name(o: &ObjectRef<Packed<BareMetalHost>>) -> String {
    match &o.namespace {
        Some(ns) => format!("{ns}/{}", o.name),
        None => o.name.clone(),
    }
}

/// The hosts of each shard this replica gains, as it gains it: they are reconciled at once
/// rather than at their next change or resync. Nothing without shards.
fn hosts_of_gained_shards(
    shards: Option<Shards>,
    hosts: reflector::Store<Packed<BareMetalHost>>,
) -> futures::stream::BoxStream<'static, ObjectRef<Packed<BareMetalHost>>> {
    let Some(shards) = shards else {
        return futures::stream::empty().boxed();
    };
    let gained = shards.gained();
    gained
        .flat_map(move |shard| {
            let refs: Vec<ObjectRef<Packed<BareMetalHost>>> = hosts
                .state()
                .iter()
                .filter(|h| {
                    let meta = h.meta();
                    let (ns, name) = (meta.namespace.as_deref(), meta.name.as_deref());
                    matches!((ns, name), (Some(ns), Some(name)) if shards.shard_of(ns, name) == shard)
                })
                .map(|h| ObjectRef::from_obj(&**h))
                .collect();
            debug!(shard, hosts = refs.len(), "gained a shard; reconciling its hosts");
            futures::stream::iter(refs)
        })
        .boxed()
}

/// A tick each time this replica gains a shard (never without shards): controllers of few
/// objects look at them all again.
pub(crate) fn shards_gained(shards: Option<Shards>) -> futures::stream::BoxStream<'static, ()> {
    match shards {
        Some(s) => s.gained().map(|_| ()).boxed(),
        None => futures::stream::empty().boxed(),
    }
}

/// Keeps `metal3_operator_shards_held` current until shutdown; done at once without shards.
async fn shard_gauge(
    shards: Option<Shards>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let Some(shards) = shards else { return };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {
                metrics.shards_held.set(shards.held().len() as i64);
            }
        }
    }
}

/// The HostClaim controller (`--hostclaims`), run to completion; done at once without it.
fn claim_controller(
    client: &Client,
    config: &OperatorConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) -> impl Future<Output = ()> {
    let claims = config.hostclaims.clone();
    let shards = config.shards.clone();
    let (client, ns) = (client.clone(), config.namespace.clone());
    async move {
        if let Some(claims) = claims {
            crate::hostclaim::run(client, ns, claims, shards, shutdown).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_objects_lose_managed_fields_and_the_last_applied_copy_only() {
        let mut host = BareMetalHost::new("h", Default::default());
        host.metadata.managed_fields = Some(vec![Default::default()]);
        host.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{\"spec\":{}}".to_string()),
                ("reboot.metal3.io".to_string(), String::new()),
            ]
            .into(),
        );
        slim(&mut host);
        assert!(host.metadata.managed_fields.is_none());
        let kept: Vec<_> = host.metadata.annotations.iter().flatten().collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, "reboot.metal3.io");

        let mut secret = Secret::default();
        secret.metadata.annotations = Some([(LAST_APPLIED.to_string(), "{}".to_string())].into());
        slim(&mut secret);
        assert!(secret.metadata.annotations.is_none());
    }
}
