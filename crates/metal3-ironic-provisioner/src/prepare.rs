//! Preparing (manual cleaning) and servicing: the RAID, BIOS and firmware steps to run (built
//! by the pure [`steps`]), starting them, and the marks in the node's `extra` that tell a
//! finished run apart from one still to do, across operator restarts.

pub(crate) mod steps;

use metal3_ironic::types::{Node, ProvisionRequest, Step, state};
use metal3_ironic::{Error as IronicError, PatchOp};
use metal3_provisioner::{
    HostData, Outcome, PrepareData, PrepareOptions, PrepareOutcome, ProvResult,
};
use serde_json::{Value, json};

use crate::IronicProvisioner;
use crate::errors::{act_prepare, classify};

/// `extra` key recording the manual clean steps started for preparing.
const PREPARED: &str = "metal3_prepared";
/// `extra` key recording the service steps started for servicing.
const SERVICED: &str = "metal3_serviced";

/// Prepares a manageable host: manual cleaning with its RAID, BIOS and firmware steps, unless
/// the same steps already ran.
pub(crate) async fn prepare(
    p: &IronicProvisioner,
    host: &HostData,
    data: &PrepareData,
    options: PrepareOptions,
) -> ProvResult<PrepareOutcome> {
    let PrepareOptions {
        unprepared,
        restart,
    } = options;
    let node = p.node(host).await?;
    let (steps, raid) = steps_for(data, true);
    let pending = pending(&node, PREPARED, &steps, unprepared);
    match node.provision_state.as_str() {
        state::AVAILABLE if pending => quick(p, &node, "manage").await,
        state::MANAGEABLE if pending => {
            let start = async {
                if let Some((disks, software)) = &raid {
                    if *software {
                        p.client
                            .patch_node(
                                &node.uuid,
                                &[PatchOp::add("/raid_interface", json!("agent"))],
                            )
                            .await?;
                    }
                    p.client.set_raid(&node.uuid, disks).await?;
                }
                mark(p, &node, PREPARED, &steps).await?;
                p.set_state(
                    &node,
                    ProvisionRequest {
                        clean_steps: Some(steps.clone()),
                        ..ProvisionRequest::to("clean")
                    },
                )
                .await
            };
            match start.await {
                Ok(()) => started(p.long()),
                Err(e) => not_started(classify(e)?),
            }
        }
        state::CLEAN_FAIL => retry_failed(p, &node, restart, "manage", "Cleaning").await,
        state::CLEANING | state::CLEAN_WAIT => not_started(p.long()),
        _ => not_started(Outcome::Done),
    }
}

/// Services a provisioned host: Ironic's service steps for BIOS and firmware, unless the same
/// steps already ran.
pub(crate) async fn service(
    p: &IronicProvisioner,
    host: &HostData,
    data: &PrepareData,
    options: PrepareOptions,
) -> ProvResult<PrepareOutcome> {
    let PrepareOptions {
        unprepared,
        restart,
    } = options;
    let node = p.node(host).await?;
    let (steps, _) = steps_for(data, false);
    let pending = pending(&node, SERVICED, &steps, unprepared);
    match node.provision_state.as_str() {
        state::ACTIVE if pending => {
            let start = async {
                mark(p, &node, SERVICED, &steps).await?;
                p.set_state(
                    &node,
                    ProvisionRequest {
                        service_steps: Some(steps.clone()),
                        ..ProvisionRequest::to("service")
                    },
                )
                .await
            };
            match start.await {
                Ok(()) => started(p.long()),
                Err(e) => not_started(classify(e)?),
            }
        }
        state::SERVICING => not_started(p.long()),
        state::SERVICE_WAIT if !data.has_firmware_spec && steps.is_empty() => {
            quick(p, &node, "abort").await
        }
        state::SERVICE_WAIT => not_started(p.long()),
        state::SERVICE_FAIL => retry_failed(p, &node, restart, "abort", "Servicing").await,
        _ => not_started(Outcome::Done),
    }
}

/// Manual clean (preparing) or service steps: start them unless the same ones already
/// ran to completion.
fn steps_for(data: &PrepareData, with_raid: bool) -> (Vec<Step>, Option<(Value, bool)>) {
    let mut steps = Vec::new();
    let mut raid = None;
    if with_raid
        && let Some(target) = &data.target_raid
        && data.actual_raid.as_ref() != Some(target)
        && let Some((disks, raid_steps, software)) =
            steps::raid(target, data.root_device_hints.is_some())
    {
        steps.extend(raid_steps);
        raid = Some((disks, software));
    }
    if let Some(s) = steps::bios_step(
        &data.target_firmware_settings,
        &data.actual_firmware_settings,
    ) {
        steps.push(s);
    }
    if let Some(s) = steps::firmware_step(&data.target_firmware_components) {
        steps.push(s);
    }
    (steps, raid)
}

/// `steps` are still to run: the spec changed since the last run, there are some, and the
/// node's `extra` mark under `key` is not theirs (they did not run already).
fn pending(node: &Node, key: &str, steps: &[Step], unprepared: bool) -> bool {
    unprepared && !steps.is_empty() && node_extra(node, key) != Some(fingerprint(steps))
}

/// Asks for a quick transition that starts nothing of the host's (manage, abort).
async fn quick(p: &IronicProvisioner, node: &Node, target: &str) -> ProvResult<PrepareOutcome> {
    match p.set_state(node, ProvisionRequest::to(target)).await {
        Ok(()) => not_started(p.short()),
        Err(e) => not_started(classify(e)?),
    }
}

/// A failed cleaning or servicing: with `restart`, the node leaves maintenance and goes to
/// `target` (a new attempt starts); otherwise `what` failed is the host's error, with why.
async fn retry_failed(
    p: &IronicProvisioner,
    node: &Node,
    restart: bool,
    target: &str,
    what: &str,
) -> ProvResult<PrepareOutcome> {
    if !restart {
        return not_started(Outcome::failed(format!(
            "{what} failed: {}",
            p.reason(node, "no reason given").await
        )));
    }
    if node.maintenance {
        act_prepare(p.client.set_maintenance(&node.uuid, false, "").await)?;
    }
    match p.set_state(node, ProvisionRequest::to(target)).await {
        Ok(()) => started(p.short()),
        Err(e) => not_started(classify(e)?),
    }
}

/// Marks `steps` as started in the node's `extra` under `key`.
async fn mark(
    p: &IronicProvisioner,
    node: &Node,
    key: &str,
    steps: &[Step],
) -> Result<(), IronicError> {
    p.client
        .patch_node(
            &node.uuid,
            &[PatchOp::add(
                format!("/extra/{key}"),
                json!(fingerprint(steps)),
            )],
        )
        .await
        .map(|_| ())
}

/// The mark of a list of steps.
fn fingerprint(steps: &[Step]) -> String {
    // FNV-1a over the steps' JSON: a stable short marker, not a security hash.
    let text = serde_json::to_string(steps).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn node_extra(node: &Node, key: &str) -> Option<String> {
    // `extra` is not in our typed node; read it from properties' sibling via the raw map.
    node.extra
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A prepare/service answer for a call that started nothing.
fn not_started(outcome: Outcome) -> ProvResult<PrepareOutcome> {
    Ok(PrepareOutcome {
        outcome,
        started: false,
    })
}

/// A prepare/service answer for a call that started the operation.
fn started(outcome: Outcome) -> ProvResult<PrepareOutcome> {
    Ok(PrepareOutcome {
        outcome,
        started: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_fingerprints_are_stable_and_distinct() {
        let a = steps::firmware_step(&[metal3_api::v1alpha1::FirmwareUpdate {
            component: "bmc".into(),
            url: "http://fw/1".into(),
        }])
        .into_iter()
        .collect::<Vec<_>>();
        let b = steps::firmware_step(&[metal3_api::v1alpha1::FirmwareUpdate {
            component: "bmc".into(),
            url: "http://fw/2".into(),
        }])
        .into_iter()
        .collect::<Vec<_>>();
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
    }

    #[test]
    fn steps_are_pending_until_the_node_carries_their_mark() {
        let steps = steps::firmware_step(&[metal3_api::v1alpha1::FirmwareUpdate {
            component: "bmc".into(),
            url: "http://fw/1".into(),
        }])
        .into_iter()
        .collect::<Vec<_>>();
        let unmarked = Node::default();
        assert!(pending(&unmarked, PREPARED, &steps, true));
        assert!(
            !pending(&unmarked, PREPARED, &steps, false),
            "spec unchanged"
        );
        assert!(!pending(&unmarked, PREPARED, &[], true), "nothing to run");
        let mut marked = Node::default();
        marked
            .extra
            .insert(PREPARED.into(), json!(fingerprint(&steps)));
        assert!(!pending(&marked, PREPARED, &steps, true), "ran already");
        assert!(
            pending(&marked, SERVICED, &steps, true),
            "marks are per key"
        );
    }
}
