//! The data and the host's spec: the machine's metadata and network data (its own Secrets, or
//! a rendering of its data template, waited for), then the host's image, user data, metadata
//! and network data kept in line, and the host's addresses copied to the machine.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use metal3_api::v1alpha1::{ConditionStatus, SecretReference};
use metal3_capm3_api::consts::{MACHINE_FINALIZER, conditions as c};
use metal3_capm3_api::v1beta2::{
    Metal3Data, Metal3DataClaim, Metal3DataClaimSpec, Metal3ObjectRef,
};

use super::{Pass, World};
use crate::context::Error;
use crate::hostspec;

/// Copies the user's metadata and network data Secrets into the status, and asks for a
/// rendering of the data template (once). `Err` carries a configuration problem.
pub(super) async fn associate_metadata(pass: &mut Pass<'_>) -> Result<Result<(), String>, Error> {
    let ns = pass.ns.clone();
    for (what, reference) in [
        ("metaData", pass.new.spec.meta_data.clone()),
        ("networkData", pass.new.spec.network_data.clone()),
    ] {
        let Some(r) = reference else { continue };
        if r.namespace
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != ns)
        {
            return Ok(Err(format!(
                "spec.{what}: the Secret must be in the machine's namespace {ns:?}"
            )));
        }
        match what {
            "metaData" => pass.status().meta_data = Some(r),
            _ => pass.status().network_data = Some(r),
        }
    }
    let Some(template) = pass.new.spec.data_template.clone() else {
        return Ok(Ok(()));
    };
    if pass.status().rendered_data.is_some() {
        return Ok(Ok(()));
    }
    let claims = pass.ctx.api::<Metal3DataClaim>(&ns);
    if claims.get_opt(&pass.name).await?.is_some() {
        return Ok(Ok(()));
    }
    let mut claim = Metal3DataClaim::new(
        &pass.name,
        Metal3DataClaimSpec {
            template: Some(Metal3ObjectRef {
                name: template.name,
                namespace: if template.namespace.is_empty() {
                    ns.clone()
                } else {
                    template.namespace
                },
            }),
        },
    );
    claim.metadata.namespace = Some(ns.clone());
    claim.metadata.labels = pass.old.metadata.labels.clone();
    claim.metadata.finalizers = Some(vec![MACHINE_FINALIZER.into()]);
    claim.metadata.owner_references =
        metal3_kube::meta::owner_reference(&*pass.old, true).map(|o| vec![o]);
    metal3_kube::meta::create_unless_exists(&claims, &claim).await?;
    Ok(Ok(()))
}

/// Waits for the rendered data, then keeps the host's spec, the annotation, the addresses and
/// the failure domain in line. `Some` when the machine has to wait.
pub(super) async fn update(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let Some(host) = pass.host().await? else {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::ASSOCIATE_BMH_FAILED,
            &format!(
                "the BareMetalHost of Machine {} does not exist",
                world.machine.name_any()
            ),
        );
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    pass.associated();
    if let Some(action) = wait_for_data(pass).await? {
        return Ok(Some(action));
    }
    let machine = pass.new.clone();
    let cluster = world.cluster.name_any();
    let mut spec_error = None;
    pass.edit_host(&host, |h| {
        hostspec::claim(h, &machine, &cluster);
        if let Err(e) = hostspec::set_spec(h, &machine) {
            spec_error = Some(e);
        }
    })
    .await?;
    if let Some(e) = spec_error {
        pass.fail(c::ASSOCIATE_METADATA, c::CREATE_ERROR, &e);
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    let addresses = hostspec::addresses(&host);
    pass.status().addresses = addresses;
    pass.status().failure_domain = crate::hosts::failure_domain(&host);
    Ok(None)
}

pub(super) async fn wait_for_data(pass: &mut Pass<'_>) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    if pass.new.spec.data_template.is_none() {
        return Ok(None);
    }
    if pass.status().rendered_data.is_none() {
        let claim = ctx
            .api::<Metal3DataClaim>(&pass.ns)
            .get_opt(&pass.name)
            .await?;
        let rendered = claim
            .and_then(|c| c.status)
            .and_then(|s| s.rendered_data)
            .filter(|r| !r.name.is_empty());
        match rendered {
            Some(r) => pass.status().rendered_data = Some(r),
            None => {
                pass.condition(
                    c::METAL3_DATA_READY,
                    ConditionStatus::False,
                    c::WAITING_FOR_METAL3_DATA,
                    "waiting for the Metal3DataTemplate to render the data",
                );
                return Ok(Some(Action::requeue(ctx.config.requeue)));
            }
        }
    }
    let name = pass.status().rendered_data.clone().unwrap_or_default().name;
    let data = ctx.api::<Metal3Data>(&pass.ns).get_opt(&name).await?;
    let ready = data
        .as_ref()
        .and_then(|d| d.status.as_ref())
        .is_some_and(|s| s.ready == Some(true));
    let Some(data) = data.filter(|_| ready) else {
        pass.condition(
            c::METAL3_DATA_READY,
            ConditionStatus::False,
            c::WAITING_FOR_METAL3_DATA,
            "",
        );
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    pass.condition(
        c::METAL3_DATA_READY,
        ConditionStatus::True,
        c::METAL3_DATA_SECRETS_READY,
        "",
    );
    let ns = data.namespace();
    let local = |r: &Option<SecretReference>| {
        r.as_ref()
            .and_then(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .map(|name| SecretReference {
                name: Some(name),
                namespace: ns.clone(),
            })
    };
    if pass.status().meta_data.is_none() {
        pass.status().meta_data = local(&data.spec.meta_data);
    }
    if pass.status().network_data.is_none() {
        pass.status().network_data = local(&data.spec.network_data);
    }
    Ok(None)
}
