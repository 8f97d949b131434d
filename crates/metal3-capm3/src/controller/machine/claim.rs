//! Claiming a host: the first pass of a machine without one chooses a BareMetalHost
//! ([`crate::hosts::choose`]), claims it (with its spec when no data template is used), labels
//! its BMC Secret for `clusterctl move`, and records the host in the machine's annotation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus, SecretReference};
use metal3_capm3_api::consts::{
    CLUSTER_NAME_LABEL, HOST_ANNOTATION, NODE_REUSE_LABEL, conditions as c,
};
use serde_json::json;
use tracing::info;

use super::{Pass, World, is_conflict, reuse};
use crate::context::{Context, Error};
use crate::hosts::{Choice, Claimant, choose};
use crate::hostspec;
use crate::selector;

/// Chooses a host for the machine and claims it; the pass looks again at once to go on with
/// the claimed host, or after a while when no host is available yet.
pub(super) async fn associate(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let requirements = match selector::requirements(pass.new.spec.host_selector.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            pass.fail(c::ASSOCIATE_BMH, c::ASSOCIATE_BMH_FAILED, &e.to_string());
            return Ok(None);
        }
    };
    let _claiming = ctx.claims.lock().await;
    let hosts = ctx
        .api::<BareMetalHost>(&pass.ns)
        .list(&ListParams::default())
        .await?
        .items;
    let reuse = if hosts
        .iter()
        .any(|h| h.labels().contains_key(NODE_REUSE_LABEL))
    {
        reuse::reuse_label(ctx, &world.machine).await?
    } else {
        None
    };
    let claimant = Claimant {
        name: &pass.name,
        namespace: &pass.ns,
        failure_domain: &pass.new.spec.failure_domain,
        reuse_label: reuse.as_deref(),
    };
    let (host, reason) = match choose(&hosts, &requirements, &claimant, &mut |n| {
        fastrand::usize(..n)
    }) {
        Choice::Existing(h) => (h.clone(), c::ASSOCIATE_BMH_SUCCESS),
        Choice::Chosen { host, reason } => (host.clone(), reason),
        Choice::WaitForReserved { hosts } => {
            pass.condition(
                c::ASSOCIATE_BMH,
                ConditionStatus::False,
                c::ASSOCIATE_BMH_FAILED,
                &format!(
                    "waiting for reserved host(s) {} to become available",
                    hosts.join(", ")
                ),
            );
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
        Choice::NoneAvailable => {
            pass.condition(
                c::ASSOCIATE_BMH,
                ConditionStatus::False,
                c::ASSOCIATE_BMH_FAILED,
                "no available host found; requeuing",
            );
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
    };
    if !choose_user_data(pass, world) {
        return Ok(None);
    }
    let cluster = world.cluster.name_any();
    let with_spec = pass.new.spec.data_template.is_none();
    let mut spec_error = None;
    let machine = pass.new.clone();
    let claimed = pass
        .edit_host(&host, |h| {
            hostspec::claim(h, &machine, &cluster);
            if with_spec && let Err(e) = hostspec::set_spec(h, &machine) {
                spec_error = Some(e);
            }
        })
        .await;
    if let Some(e) = spec_error {
        pass.fail(c::ASSOCIATE_BMH, c::ASSOCIATE_BMH_FAILED, &e);
        return Ok(None);
    }
    if let Err(e) = claimed {
        if is_conflict(&e) {
            // Someone changed the host since it was listed: look again.
            return Ok(Some(Action::requeue(std::time::Duration::from_millis(200))));
        }
        return Err(e);
    }
    label_bmc_secret(ctx, &pass.ns, &host, Some(&cluster)).await?;
    info!(machine = %pass.name, host = %host.name_any(), namespace = %pass.ns, "claimed a BareMetalHost");
    pass.new
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            HOST_ANNOTATION.into(),
            format!("{}/{}", pass.ns, host.name_any()),
        );
    pass.condition(c::ASSOCIATE_BMH, ConditionStatus::True, reason, "");
    Ok(Some(Action::requeue(std::time::Duration::ZERO)))
}

/// The user data the host gets, once: the machine's own, overridden by the Machine's bootstrap
/// data. `false` (and the machine failed) when the machine's own Secret is in another namespace.
pub(super) fn choose_user_data(pass: &mut Pass<'_>, world: &World) -> bool {
    if pass.status().user_data.is_some() {
        return true;
    }
    if let Some(user) = pass.new.spec.user_data.clone() {
        if user
            .namespace
            .as_deref()
            .is_some_and(|ns| !ns.is_empty() && ns != pass.ns)
        {
            pass.fail(
                c::ASSOCIATE_BMH,
                c::ASSOCIATE_BMH_FAILED,
                "spec.userData: the Secret must be in the machine's namespace",
            );
            return false;
        }
        pass.status().user_data = Some(user);
    }
    let bootstrap = &world.machine.spec.bootstrap;
    let secret = bootstrap
        .data_secret_name
        .clone()
        .or_else(|| bootstrap.config_ref.as_ref().map(|r| r.name.clone()));
    if let Some(name) = secret {
        pass.status().user_data = Some(SecretReference {
            name: Some(name),
            namespace: world.machine.namespace(),
        });
    }
    true
}

/// Sets (or with `None`, removes) the cluster label on the host's BMC credentials Secret, so
/// `clusterctl move` takes it along.
pub(super) async fn label_bmc_secret(
    ctx: &Context,
    ns: &str,
    host: &BareMetalHost,
    cluster: Option<&str>,
) -> Result<(), Error> {
    let name = &host.spec.bmc.credentials_name;
    if name.is_empty() {
        return Ok(());
    }
    let secrets = ctx.api::<Secret>(ns);
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(());
    };
    let current = secret.labels().get(CLUSTER_NAME_LABEL).cloned();
    let patch = match cluster {
        Some(c) if current.as_deref() != Some(c) => {
            json!({"metadata": {"labels": {CLUSTER_NAME_LABEL: c}}})
        }
        None if current.is_some() => json!({"metadata": {"labels": {CLUSTER_NAME_LABEL: null}}}),
        _ => return Ok(()),
    };
    secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
