//! PreprovisioningImages: the host's request for a ramdisk image (created by the host's
//! reconcile when the backend boots one), and the controller that answers it from the
//! configured deploy images.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use metal3_api::consts::{PREPROVISIONING_IMAGE_FINALIZER, PREPROVISIONING_IMAGE_HOST_FINALIZER};
use metal3_api::v1alpha1::{
    BareMetalHost, ConditionStatus, ImageFormatKind, PreprovisioningImage,
    PreprovisioningImageSpec, PreprovisioningImageStatus, SecretStatus,
};
use metal3_hoststate::PreprovisioningInput;
use metal3_hoststate::conditions::{Want, merge};
use metal3_hoststate::preprov::ImageSources;
use serde_json::json;
use tracing::warn;

use crate::context::{Context, Error};
use metal3_kube::meta::{create_unless_exists, owner_reference, set_finalizer};

const READY: &str = "Ready";
const ERROR: &str = "Error";

fn format_name(f: ImageFormatKind) -> &'static str {
    match f {
        ImageFormatKind::Iso => "iso",
        ImageFormatKind::Initrd => "initrd",
    }
}

/// The spec the host asks for.
fn wanted_spec(host: &BareMetalHost, formats: &[String]) -> PreprovisioningImageSpec {
    let architecture = Some(host.spec.architecture.clone())
        .filter(|a| !a.is_empty())
        .or_else(|| {
            host.status
                .as_ref()
                .and_then(|s| s.hardware.as_ref())
                .map(|h| h.cpu.arch.clone())
                .filter(|a| !a.is_empty())
        });
    PreprovisioningImageSpec {
        accept_formats: formats
            .iter()
            .filter_map(|f| match f.as_str() {
                "iso" => Some(ImageFormatKind::Iso),
                "initrd" => Some(ImageFormatKind::Initrd),
                _ => None,
            })
            .collect(),
        architecture,
        network_data_name: Some(host.spec.preprovisioning_network_data_name.clone())
            .filter(|n| !n.is_empty()),
    }
}

/// Makes sure the host's PreprovisioningImage exists with the spec it needs, and says whether
/// registration can use it.
pub(crate) async fn for_host(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    name: &str,
) -> Result<PreprovisioningInput, Error> {
    if !ctx.build_preprovisioning_images {
        return Ok(PreprovisioningInput::NotUsed);
    }
    let Some(formats) = ctx.provisioner.preprovisioning_image_formats().await? else {
        return Ok(PreprovisioningInput::NotUsed);
    };
    let api: Api<PreprovisioningImage> = Api::namespaced(ctx.client.clone(), ns);
    let spec = wanted_spec(host, &formats);
    let Some(ppi) = api.get_opt(name).await? else {
        let mut created = PreprovisioningImage::new(name, spec);
        let owner = owner_reference(host, true).ok_or(Error::Incomplete("uid"))?;
        created.metadata.owner_references = Some(vec![owner]);
        created.metadata.finalizers = Some(vec![PREPROVISIONING_IMAGE_HOST_FINALIZER.to_string()]);
        create_unless_exists(&api, &created).await?;
        return Ok(PreprovisioningInput::Waiting("image requested".into()));
    };
    if ppi.spec != spec {
        let patch = json!({"spec": spec});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        return Ok(PreprovisioningInput::Waiting("image spec updated".into()));
    }
    let status = ppi.status.clone().unwrap_or_default();
    let ready = status.conditions.iter().any(|c| {
        c.r#type == READY
            && c.status == ConditionStatus::True
            && c.observed_generation == ppi.metadata.generation
    });
    match (ready, status.image_url, status.format) {
        (true, Some(url), Some(format)) => Ok(PreprovisioningInput::Ready(
            metal3_provisioner::PreprovisioningImage {
                image_url: url,
                kernel_url: status.kernel_url.unwrap_or_default(),
                extra_kernel_params: status.extra_kernel_params.unwrap_or_default(),
                format: format_name(format).to_string(),
            },
        )),
        _ => {
            let why = status
                .conditions
                .iter()
                .find(|c| c.r#type == ERROR && c.status == ConditionStatus::True)
                .map(|c| c.message.clone())
                .unwrap_or_else(|| "image not ready".into());
            Ok(PreprovisioningInput::Waiting(why))
        }
    }
}

/// Lets the host's PreprovisioningImage go (the host is being deleted).
pub(crate) async fn release(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    let api: Api<PreprovisioningImage> = Api::namespaced(client.clone(), ns);
    if let Some(ppi) = api.get_opt(name).await? {
        set_finalizer(&api, &ppi, PREPROVISIONING_IMAGE_HOST_FINALIZER, false).await?;
    }
    Ok(())
}

/// What the PreprovisioningImage controller needs.
pub struct ImageContext {
    /// The Kubernetes client.
    pub client: Client,
    /// The configured deploy images (`DEPLOY_*_URL`).
    pub sources: ImageSources,
    /// Retry delay while the network data Secret is missing.
    pub retry: Duration,
    /// The shards this replica holds: an image follows its (same-name) host's shard.
    pub shards: Option<metal3_kube::shards::Shards>,
}

fn want(t: &'static str, status: bool, reason: &'static str, message: String) -> Want {
    Want {
        r#type: t,
        status: if status {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason,
        message,
    }
}

/// One reconcile of one PreprovisioningImage.
pub async fn reconcile(
    ppi: Arc<PreprovisioningImage>,
    ctx: Arc<ImageContext>,
) -> Result<Action, Error> {
    let ns = ppi.namespace().ok_or(Error::Incomplete("namespace"))?;
    let name = ppi.name_any();
    let _tenure = match &ctx.shards {
        None => None,
        Some(shards) => match shards.enter(&ns, &name) {
            Some(t) => Some(t),
            None => return Ok(Action::await_change()),
        },
    };
    let api: Api<PreprovisioningImage> = Api::namespaced(ctx.client.clone(), &ns);
    let ours = ppi
        .finalizers()
        .iter()
        .any(|f| f == PREPROVISIONING_IMAGE_FINALIZER);
    if ppi.metadata.deletion_timestamp.is_some() {
        set_finalizer(&api, &ppi, PREPROVISIONING_IMAGE_FINALIZER, false).await?;
        return Ok(Action::await_change());
    }
    if !ours {
        set_finalizer(&api, &ppi, PREPROVISIONING_IMAGE_FINALIZER, true).await?;
        return Ok(Action::await_change());
    }

    let mut status = ppi.status.clone().unwrap_or_default();
    let old = status.clone();
    let host_arch = std::env::consts::ARCH;
    let mut retry = None;
    let network_data = match ppi
        .spec
        .network_data_name
        .as_deref()
        .filter(|n| !n.is_empty())
    {
        None => Ok(None),
        Some(secret_name) => {
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
            match secrets.get_opt(secret_name).await? {
                Some(secret) => Ok(Some(SecretStatus {
                    name: Some(secret_name.to_string()),
                    version: secret.resource_version(),
                })),
                None => Err(format!(
                    "the network data Secret {secret_name:?} (spec.networkDataName) does not exist"
                )),
            }
        }
    };
    let wants = match (network_data, ctx.sources.choose(&ppi.spec, host_arch)) {
        (Err(message), _) => {
            retry = Some(ctx.retry);
            [
                want(READY, false, "MissingNetworkData", message.clone()),
                want(ERROR, true, "MissingNetworkData", message),
            ]
        }
        (Ok(_), Err(message)) => [
            want(READY, false, "ConfigurationError", message.clone()),
            want(ERROR, true, "ConfigurationError", message),
        ],
        (Ok(network), Ok(chosen)) => {
            status.image_url = Some(chosen.image_url);
            status.kernel_url = chosen.kernel_url;
            status.format = Some(chosen.format);
            status.architecture = Some(chosen.architecture);
            status.network_data = network;
            let message = "the image is ready".to_string();
            [
                want(READY, true, "ImageSuccess", message.clone()),
                want(ERROR, false, "ImageSuccess", message),
            ]
        }
    };
    merge(
        &mut status.conditions,
        &wants,
        ppi.metadata.generation,
        &Time(Timestamp::now()),
    );
    if status != old {
        write_status(&api, &name, &status).await?;
    }
    Ok(retry
        .map(Action::requeue)
        .unwrap_or_else(Action::await_change))
}

async fn write_status(
    api: &Api<PreprovisioningImage>,
    name: &str,
    status: &PreprovisioningImageStatus,
) -> Result<(), Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": status})),
    )
    .await?;
    Ok(())
}

/// Retry policy after a failed reconcile.
pub fn error_policy(
    _ppi: Arc<PreprovisioningImage>,
    error: &Error,
    _ctx: Arc<ImageContext>,
) -> Action {
    warn!(%error, "PreprovisioningImage reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
