//! The Metal3MachineTemplate controller: a change of the template's `automatedCleaningMode`
//! reaches the Metal3Machines cloned from it (and through them their hosts).

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use metal3_capm3_api::consts::{
    CAPI_PAUSED_ANNOTATION, CLONED_FROM_GROUP_KIND_ANNOTATION, CLONED_FROM_NAME_ANNOTATION,
    MACHINE_TEMPLATE_GROUP_KIND,
};
use metal3_capm3_api::v1beta2::{Metal3Machine, Metal3MachineTemplate};
use serde_json::json;

use crate::context::{Context, Error};

/// The controller.
pub fn controller(ctx: &Context) -> Controller<Metal3MachineTemplate> {
    crate::context::controller_for::<Metal3MachineTemplate>(ctx)
}

/// One pass over a Metal3MachineTemplate.
pub async fn reconcile(
    template: Arc<Metal3MachineTemplate>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let Some(mode) = template.spec.template.spec.automated_cleaning_mode else {
        return Ok(Action::await_change());
    };
    if template.annotations().contains_key(CAPI_PAUSED_ANNOTATION) {
        return Ok(Action::await_change());
    }
    let ns = template.namespace().unwrap_or_default();
    let machines = ctx.api::<Metal3Machine>(&ns);
    for m3m in machines.list(&ListParams::default()).await?.items {
        let a = m3m.annotations();
        let cloned = a.get(CLONED_FROM_NAME_ANNOTATION) == Some(&template.name_any())
            && a.get(CLONED_FROM_GROUP_KIND_ANNOTATION).map(String::as_str)
                == Some(MACHINE_TEMPLATE_GROUP_KIND);
        if cloned && m3m.spec.automated_cleaning_mode != Some(mode) {
            let patch = json!({"spec": {"automatedCleaningMode": mode.as_str()}});
            machines
                .patch(
                    &m3m.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
        }
    }
    Ok(Action::await_change())
}
