//! The Metal3DataTemplate controller: answers each Metal3DataClaim on the template with a
//! Metal3Data of its own index (the lowest free one), keeps `status.indexes`, and removes a
//! claim's data when the claim goes. The template is deleted only once no claim or data is left.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::{
    CAPI_PAUSED_ANNOTATION, CLUSTER_NAME_LABEL, DATA_CLAIM_FINALIZER, DATA_TEMPLATE_FINALIZER,
};
use metal3_capm3_api::v1beta2::{
    IndexEntry, Metal3Data, Metal3DataClaim, Metal3DataSpec, Metal3DataTemplate, Metal3ObjectRef,
};

use crate::capi::{self, Cluster};
use crate::context::{Context, Error};

/// The lowest index ≥ 0 that no entry uses.
pub fn lowest_free_index(entries: &[IndexEntry]) -> i32 {
    let used: BTreeSet<i32> = entries.iter().map(|e| e.index).collect();
    (0..).find(|i| !used.contains(i)).unwrap_or(0)
}

fn template_of_claim(claim: &Metal3DataClaim) -> Option<ObjectRef<Metal3DataTemplate>> {
    let t = claim.spec.template.as_ref()?;
    let ns = if t.namespace.is_empty() {
        claim.namespace()?
    } else {
        t.namespace.clone()
    };
    Some(ObjectRef::new(&t.name).within(&ns))
}

/// The controller, woken by claims and data of its templates.
pub fn controller(ctx: &Context) -> Controller<Metal3DataTemplate> {
    crate::context::controller_for::<Metal3DataTemplate>(ctx)
        .watches(
            ctx.scoped::<Metal3DataClaim>(),
            watcher::Config::default(),
            |c| template_of_claim(&c),
        )
        .watches(
            ctx.scoped::<Metal3Data>(),
            watcher::Config::default(),
            |d: Metal3Data| {
                let t = d.spec.template.as_ref()?;
                Some(ObjectRef::new(&t.name).within(&d.namespace()?))
            },
        )
}

fn named_template(claim: &Metal3DataClaim, template: &str) -> bool {
    claim
        .spec
        .template
        .as_ref()
        .is_some_and(|t| t.name == template)
}

/// One pass over a Metal3DataTemplate.
pub async fn reconcile(
    template: Arc<Metal3DataTemplate>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let Some(template) = crate::context::fresh(&ctx, &*template).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let ns = template.namespace().unwrap_or_default();
    let name = template.name_any();
    let api = ctx.api::<Metal3DataTemplate>(&ns);
    let datas_api = ctx.api::<Metal3Data>(&ns);
    let claims_api = ctx.api::<Metal3DataClaim>(&ns);
    let mut new = (*template).clone();

    // The indexes are those of the Metal3Data rendered from this template.
    let datas: Vec<Metal3Data> = datas_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|d| d.spec.template.as_ref().is_some_and(|t| t.name == name))
        .collect();
    let mut indexes: Vec<IndexEntry> = datas
        .iter()
        .filter_map(|d| {
            Some(IndexEntry {
                name: d.spec.claim.as_ref()?.name.clone(),
                index: d.spec.index?,
            })
        })
        .collect();
    let claims: Vec<Metal3DataClaim> = claims_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|c| named_template(c, &name))
        .collect();
    let mut waiting_for_pause = false;
    for claim in &claims {
        if claim.metadata.deletion_timestamp.is_some() {
            release_claim(&ctx, &ns, &name, claim, &mut indexes).await?;
            continue;
        }
        if claim
            .status
            .as_ref()
            .is_some_and(|s| s.rendered_data.is_some())
        {
            continue;
        }
        if claim_paused(&ctx, &ns, claim).await? {
            waiting_for_pause = true;
            continue;
        }
        render_claim(&ctx, &ns, &template, claim, &mut indexes).await?;
    }
    indexes.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.name.cmp(&b.name)));
    let status = new.status.get_or_insert_with(Default::default);
    status.indexes = indexes;

    if template.metadata.deletion_timestamp.is_some() {
        let live_claims = claims
            .iter()
            .any(|c| c.metadata.deletion_timestamp.is_none());
        if datas.is_empty() && !live_claims {
            new.metadata.finalizers = Some(
                template
                    .finalizers()
                    .iter()
                    .filter(|f| *f != DATA_TEMPLATE_FINALIZER)
                    .cloned()
                    .collect(),
            );
        }
    } else if !template
        .finalizers()
        .iter()
        .any(|f| f == DATA_TEMPLATE_FINALIZER)
    {
        new.metadata
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(DATA_TEMPLATE_FINALIZER.into());
    }
    if new.status != template.status {
        new.status.get_or_insert_with(Default::default).last_updated =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
    }
    crate::patch::write(&api, &template, &new).await?;
    if waiting_for_pause || template.metadata.deletion_timestamp.is_some() {
        return Ok(Action::requeue(ctx.config.requeue));
    }
    Ok(Action::await_change())
}

async fn claim_paused(ctx: &Context, ns: &str, claim: &Metal3DataClaim) -> Result<bool, Error> {
    if claim.annotations().contains_key(CAPI_PAUSED_ANNOTATION) {
        return Ok(true);
    }
    let Some(cluster) = claim.labels().get(CLUSTER_NAME_LABEL) else {
        return Ok(false);
    };
    Ok(ctx
        .api::<Cluster>(ns)
        .get_opt(cluster)
        .await?
        .is_some_and(|c| c.paused()))
}

async fn render_claim(
    ctx: &Context,
    ns: &str,
    template: &Metal3DataTemplate,
    claim: &Metal3DataClaim,
    indexes: &mut Vec<IndexEntry>,
) -> Result<(), Error> {
    let claims_api = ctx.api::<Metal3DataClaim>(ns);
    let name = template.name_any();
    let claim =
        match metal3_kube::meta::set_finalizer(&claims_api, claim, DATA_CLAIM_FINALIZER, true)
            .await?
        {
            Some(updated) => updated,
            None => claim.clone(),
        };
    let claim_name = claim.name_any();
    let index = match indexes.iter().find(|e| e.name == claim_name) {
        Some(e) => e.index,
        None => {
            let Some(m3m) =
                capi::owner(claim.owner_references(), GROUP, Some("Metal3Machine")).cloned()
            else {
                let mut failed = claim.clone();
                failed
                    .status
                    .get_or_insert_with(Default::default)
                    .error_message = "the claim has no Metal3Machine owner".into();
                crate::patch::write(&claims_api, &claim, &failed).await?;
                return Ok(());
            };
            let index = lowest_free_index(indexes);
            let mut data = Metal3Data::new(
                &format!("{name}-{index}"),
                Metal3DataSpec {
                    index: Some(index),
                    template: Some(Metal3ObjectRef {
                        name: name.clone(),
                        namespace: ns.into(),
                    }),
                    claim: Some(Metal3ObjectRef {
                        name: claim_name.clone(),
                        namespace: ns.into(),
                    }),
                    ..Default::default()
                },
            );
            data.metadata.namespace = Some(ns.into());
            data.metadata.labels = claim.metadata.labels.clone();
            data.metadata.finalizers = Some(vec![DATA_CLAIM_FINALIZER.into()]);
            let mut owners: Vec<_> = metal3_kube::meta::owner_reference(&claim, true)
                .into_iter()
                .collect();
            owners.push(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    controller: None,
                    block_owner_deletion: None,
                    ..m3m
                },
            );
            data.metadata.owner_references = Some(owners);
            metal3_kube::meta::create_unless_exists(&ctx.api::<Metal3Data>(ns), &data).await?;
            indexes.push(IndexEntry {
                name: claim_name.clone(),
                index,
            });
            index
        }
    };
    let mut answered = claim.clone();
    let status = answered.status.get_or_insert_with(Default::default);
    status.rendered_data = Some(Metal3ObjectRef {
        name: format!("{name}-{index}"),
        namespace: ns.into(),
    });
    status.error_message.clear();
    crate::patch::write(&claims_api, &claim, &answered).await?;
    Ok(())
}

async fn release_claim(
    ctx: &Context,
    ns: &str,
    template: &str,
    claim: &Metal3DataClaim,
    indexes: &mut Vec<IndexEntry>,
) -> Result<(), Error> {
    let datas_api = ctx.api::<Metal3Data>(ns);
    let claim_name = claim.name_any();
    let by_index = indexes
        .iter()
        .find(|e| e.name == claim_name)
        .map(|e| format!("{template}-{}", e.index));
    let rendered = claim
        .status
        .as_ref()
        .and_then(|s| s.rendered_data.as_ref())
        .map(|r| r.name.clone());
    for data_name in by_index.into_iter().chain(rendered) {
        if let Some(data) = datas_api.get_opt(&data_name).await? {
            metal3_kube::meta::set_finalizer(&datas_api, &data, DATA_CLAIM_FINALIZER, false)
                .await?;
            match datas_api.delete(&data_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    indexes.retain(|e| e.name != claim_name);
    let claims_api = ctx.api::<Metal3DataClaim>(ns);
    let mut released = claim.clone();
    if let Some(status) = released.status.as_mut() {
        status.rendered_data = None;
    }
    released.metadata.finalizers = Some(
        claim
            .finalizers()
            .iter()
            .filter(|f| *f != DATA_CLAIM_FINALIZER)
            .cloned()
            .collect(),
    );
    match crate::patch::write(&claims_api, claim, &released).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_index_is_taken() {
        let e = |i| IndexEntry {
            name: format!("c{i}"),
            index: i,
        };
        assert_eq!(lowest_free_index(&[]), 0);
        assert_eq!(lowest_free_index(&[e(0), e(1), e(3)]), 2);
        assert_eq!(lowest_free_index(&[e(1), e(2)]), 0);
        assert_eq!(lowest_free_index(&[e(0), e(1), e(2)]), 3);
    }
}
