//! The Metal3Data controller: renders the metadata and network data of one machine into
//! Secrets (`<metal3machine>-metadata`, `<metal3machine>-networkdata`), claiming IP addresses
//! from the pools the template names. A Secret that exists is never rewritten, so a host is
//! reprovisioned with exactly the data it had.

use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, SecretReference};
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::{
    CAPI_PAUSED_ANNOTATION, CLUSTER_NAME_LABEL, DATA_FINALIZER, DATA_SECRET_TYPE, HOST_ANNOTATION,
    META_DATA_KEY, NETWORK_DATA_KEY,
};
use metal3_capm3_api::v1beta2::{Metal3Data, Metal3DataTemplate, Metal3Machine};

use crate::capi::{self, Cluster, Machine};
use crate::context::{Context, Error};
use crate::render::{self, Objects};

/// The controller, woken by the Secrets it renders.
pub fn controller(ctx: &Context) -> Controller<Metal3Data> {
    crate::context::controller_for::<Metal3Data>(ctx)
        .owns(ctx.scoped::<Secret>(), watcher::Config::default())
}

/// Suffix of the rendered metadata Secret.
pub const META_DATA_SUFFIX: &str = "-metadata";
/// Suffix of the rendered network data Secret.
pub const NETWORK_DATA_SUFFIX: &str = "-networkdata";

/// Why a rendering cannot go on yet, or failed.
pub(super) enum Stop {
    /// Look again later; not an error.
    Wait(String),
    /// A problem the user must fix (written into `status.errorMessage`).
    Failed(String),
}

/// One pass over a Metal3Data.
pub async fn reconcile(data: Arc<Metal3Data>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(data) = crate::context::fresh(&ctx, &*data).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let ns = data.namespace().unwrap_or_default();
    let api = ctx.api::<Metal3Data>(&ns);
    let mut new = (*data).clone();
    if data.metadata.deletion_timestamp.is_some() {
        super::addresses::release_addresses(&ctx, &ns, &data).await?;
        new.metadata.finalizers = Some(
            data.finalizers()
                .iter()
                .filter(|f| *f != DATA_FINALIZER)
                .cloned()
                .collect(),
        );
        match crate::patch::write(&api, &data, &new).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(Action::await_change());
    }
    let Some(cluster_name) = data.labels().get(CLUSTER_NAME_LABEL).cloned() else {
        return Ok(Action::requeue(ctx.config.requeue));
    };
    let Some(cluster) = ctx.api::<Cluster>(&ns).get_opt(&cluster_name).await? else {
        return Ok(Action::requeue(ctx.config.requeue));
    };
    if cluster.paused() || data.annotations().contains_key(CAPI_PAUSED_ANNOTATION) {
        return Ok(Action::requeue(ctx.config.requeue));
    }
    if !data.finalizers().iter().any(|f| f == DATA_FINALIZER) {
        new.metadata
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(DATA_FINALIZER.into());
        crate::patch::write(&api, &data, &new).await?;
        return Ok(Action::requeue(std::time::Duration::ZERO));
    }
    let outcome = render_secrets(&ctx, &ns, &mut new, &cluster_name).await?;
    let status = new.status.get_or_insert_with(Default::default);
    let action = match outcome {
        Ok(()) => {
            status.ready = Some(true);
            status.error_message.clear();
            Action::await_change()
        }
        Err(Stop::Wait(why)) => {
            tracing::debug!(data = %data.name_any(), namespace = %ns, %why, "rendering waits");
            status.ready = Some(false);
            Action::requeue(ctx.config.requeue)
        }
        Err(Stop::Failed(message)) => {
            status.ready = Some(false);
            status.error_message = message.chars().take(512).collect();
            Action::requeue(ctx.config.requeue)
        }
    };
    crate::patch::write(&api, &data, &new).await?;
    Ok(action)
}

fn secret_ref(current: &Option<SecretReference>, default: String, ns: &str) -> SecretReference {
    match current {
        Some(r) if r.name.as_deref().is_some_and(|n| !n.is_empty()) => r.clone(),
        _ => SecretReference {
            name: Some(default),
            namespace: Some(ns.into()),
        },
    }
}

async fn exists(secrets: &Api<Secret>, reference: &SecretReference) -> Result<bool, Error> {
    Ok(secrets
        .get_opt(reference.name.as_deref().unwrap_or_default())
        .await?
        .is_some())
}

/// Renders the data's metadata and network data into Secrets, each once: a Secret that
/// exists is left as it is. `Err(Stop)` when rendering must wait or cannot be done.
async fn render_secrets(
    ctx: &Context,
    ns: &str,
    data: &mut Metal3Data,
    cluster: &str,
) -> Result<Result<(), Stop>, Error> {
    let (template, m3m, missing) = match secrets_to_render(ctx, ns, data).await? {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(Ok(())),
        Err(stop) => return Ok(Err(stop)),
    };
    if !missing.meta && !missing.network {
        return Ok(Ok(()));
    }
    let (machine, host) = match machine_and_host(ctx, ns, &m3m).await? {
        Ok(found) => found,
        Err(stop) => return Ok(Err(stop)),
    };
    let objects = Objects {
        index: data.spec.index.unwrap_or(0),
        namespace: ns,
        machine: &machine.metadata,
        metal3machine: &m3m.metadata,
        host: &host,
    };
    let addresses =
        match super::addresses::pool_addresses(ctx, ns, data, &template, &objects).await? {
            Ok(addresses) => addresses,
            Err(stop) => return Ok(Err(stop)),
        };
    let secrets = ctx.api::<Secret>(ns);
    let owner = metal3_kube::meta::owner_reference(&*data, true);
    let create =
        async |reference: &Option<SecretReference>, key: &str, text: String| -> Result<(), Error> {
            let mut secret = Secret {
                type_: Some(DATA_SECRET_TYPE.into()),
                data: Some([(key.to_string(), ByteString(text.into_bytes()))].into()),
                ..Default::default()
            };
            secret.metadata.name = reference.as_ref().and_then(|r| r.name.clone());
            secret.metadata.namespace = Some(ns.into());
            secret.metadata.labels =
                Some([(CLUSTER_NAME_LABEL.to_string(), cluster.to_string())].into());
            secret.metadata.owner_references = owner.clone().map(|o| vec![o]);
            metal3_kube::meta::create_unless_exists(&secrets, &secret).await?;
            Ok(())
        };
    if missing.meta
        && let Some(meta) = &template.spec.meta_data
    {
        let rendered =
            match render::metadata(meta, &objects, &addresses).and_then(|m| render::to_yaml(&m)) {
                Ok(text) => text,
                Err(e) => return Ok(Err(Stop::Failed(e.0))),
            };
        create(&data.spec.meta_data, META_DATA_KEY, rendered).await?;
    }
    if missing.network
        && let Some(network) = &template.spec.network_data
    {
        let rendered = match render::network_data(network, &objects, &addresses)
            .and_then(|n| render::to_yaml(&n))
        {
            Ok(text) => text,
            Err(e) => return Ok(Err(Stop::Failed(e.0))),
        };
        create(&data.spec.network_data, NETWORK_DATA_KEY, rendered).await?;
    }
    Ok(Ok(()))
}

/// Which of the data's Secrets do not exist yet.
struct Missing {
    meta: bool,
    network: bool,
}

/// The data's template and Metal3Machine, with the names of the Secrets the template asks for
/// filled into the data's spec, and which of them are missing. `None` when the data names no
/// template.
async fn secrets_to_render(
    ctx: &Context,
    ns: &str,
    data: &mut Metal3Data,
) -> Result<Result<Option<(Metal3DataTemplate, Metal3Machine, Missing)>, Stop>, Error> {
    let Some(template_ref) = data.spec.template.clone().filter(|t| !t.name.is_empty()) else {
        return Ok(Ok(None));
    };
    let Some(template) = ctx
        .api::<Metal3DataTemplate>(ns)
        .get_opt(&template_ref.name)
        .await?
    else {
        return Ok(Err(Stop::Wait(format!(
            "Metal3DataTemplate {} not found",
            template_ref.name
        ))));
    };
    let Some(m3m_owner) =
        capi::owner(data.owner_references(), GROUP, Some("Metal3Machine")).cloned()
    else {
        return Ok(Err(Stop::Failed(
            "the Metal3Data has no Metal3Machine owner".into(),
        )));
    };
    let Some(m3m) = ctx
        .api::<Metal3Machine>(ns)
        .get_opt(&m3m_owner.name)
        .await?
    else {
        return Ok(Err(Stop::Failed(format!(
            "Metal3Machine {} not found",
            m3m_owner.name
        ))));
    };
    let secrets = ctx.api::<Secret>(ns);
    let mut missing = Missing {
        meta: false,
        network: false,
    };
    if template.spec.meta_data.is_some() {
        let r = secret_ref(
            &data.spec.meta_data,
            format!("{}{META_DATA_SUFFIX}", m3m.name_any()),
            ns,
        );
        missing.meta = !exists(&secrets, &r).await?;
        data.spec.meta_data = Some(r);
    }
    if template.spec.network_data.is_some() {
        let r = secret_ref(
            &data.spec.network_data,
            format!("{}{NETWORK_DATA_SUFFIX}", m3m.name_any()),
            ns,
        );
        missing.network = !exists(&secrets, &r).await?;
        data.spec.network_data = Some(r);
    }
    Ok(Ok(Some((template, m3m, missing))))
}

/// The Machine owning the Metal3Machine, and the Metal3Machine's host.
async fn machine_and_host(
    ctx: &Context,
    ns: &str,
    m3m: &Metal3Machine,
) -> Result<Result<(Machine, BareMetalHost), Stop>, Error> {
    let Some(machine_owner) =
        capi::owner(m3m.owner_references(), capi::GROUP, Some("Machine")).cloned()
    else {
        return Ok(Err(Stop::Wait(
            "waiting for the Machine controller to own the Metal3Machine".into(),
        )));
    };
    let Some(machine) = ctx.api::<Machine>(ns).get_opt(&machine_owner.name).await? else {
        return Ok(Err(Stop::Wait(format!(
            "Machine {} not found",
            machine_owner.name
        ))));
    };
    let host_name = m3m
        .annotations()
        .get(HOST_ANNOTATION)
        .map(|v| v.rsplit('/').next().unwrap_or(v).to_string());
    let host = match host_name {
        Some(h) => ctx.api::<BareMetalHost>(ns).get_opt(&h).await?,
        None => None,
    };
    let Some(host) = host else {
        return Ok(Err(Stop::Wait(
            "waiting for the Metal3Machine to get a BareMetalHost".into(),
        )));
    };
    Ok(Ok((machine, host)))
}
