//! The reboot remediation of an unhealthy machine, as a pure decision: given what is observed
//! (phase, power, the reboot annotation, the Node, time since the attempt started), the next
//! step. The controller ([`crate::controller::remediation`]) observes, applies the step, and
//! looks again.
//!
//! An attempt powers the host off through a reboot annotation, takes the Node out of service
//! (the `out-of-service` taint, or on older clusters a backup and deletion of the Node), powers
//! the host on again and waits for the Node to return. An attempt that has not healed the
//! machine within the timeout is retried until the retry limit; then the Machine is given up
//! (its owner deletes it) and the host is marked unhealthy so it is not chosen again.

use std::time::Duration;

use metal3_capm3_api::common::RemediationPhase;

/// What is known of the machine's Node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeFacts {
    /// No Node (never joined, or deleted by the remediation).
    Absent,
    /// The workload cluster refuses to show it.
    Forbidden,
    /// The Node exists.
    Present {
        /// It carries the `out-of-service` taint.
        tainted: bool,
        /// No pod on it is terminating and no volume is still attached.
        drained: bool,
    },
}

/// Everything the decision depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// Current phase.
    pub phase: Option<RemediationPhase>,
    /// The strategy is `Reboot` (the only one).
    pub reboot_strategy: bool,
    /// The remediation holds its finalizer.
    pub has_finalizer: bool,
    /// The host's `spec.online`: a host meant to be off cannot be remediated by rebooting.
    pub host_online: bool,
    /// The host carries our reboot annotation (it is held powered off).
    pub reboot_requested: bool,
    /// The host's `status.poweredOn`.
    pub powered_on: bool,
    /// The Node.
    pub node: NodeFacts,
    /// Node labels and annotations are backed up on the remediation (deletion mode).
    pub node_backed_up: bool,
    /// Remediate with the `out-of-service` taint rather than by deleting the Node.
    pub taint_mode: bool,
    /// Time since the current attempt started (`status.lastRemediated`).
    pub since_attempt: Option<Duration>,
    /// How long an attempt may take.
    pub timeout: Duration,
    /// Retries allowed after the first attempt.
    pub retry_limit: i32,
    /// Retries made.
    pub retry_count: i32,
}

/// The next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Phase `Failed`: the host is meant to be off.
    Fail,
    /// Phase `Running`, `lastRemediated` = now.
    Start,
    /// Add the remediation finalizer.
    AddFinalizer,
    /// Put the reboot annotation (hard) on the host.
    PowerOff,
    /// Wait for the host to be off.
    WaitPoweredOff,
    /// Add the `out-of-service` taint to the Node.
    TaintNode,
    /// Wait for the Node's pods and volumes to go.
    WaitDrained,
    /// Save the Node's labels and annotations on the remediation.
    BackupNode,
    /// Delete the Node.
    DeleteNode,
    /// Phase `Waiting`.
    EnterWaiting,
    /// Remove the reboot annotation, so the host powers on.
    PowerOn,
    /// Wait for the host to be on.
    WaitPoweredOn,
    /// Remove the `out-of-service` taint.
    UntaintNode,
    /// Put the saved labels and annotations back on the returned Node.
    RestoreNode,
    /// Done: remove the finalizer (and any backup); the health check deletes the remediation.
    Finish,
    /// Wait for the Node to come back, at most this long.
    WaitHealthy(Duration),
    /// Start another attempt: phase `Running`, `lastRemediated` = now, `retryCount` + 1.
    Retry,
    /// Give the Machine up: `OwnerRemediated` false on the Machine, the host marked unhealthy,
    /// phase `Deleting machine`.
    GiveUp,
    /// Nothing to do.
    Nothing,
}

/// The next step for `f`.
pub fn next(f: &Facts) -> Step {
    if matches!(
        f.phase,
        Some(RemediationPhase::DeletingMachine) | Some(RemediationPhase::Failed)
    ) {
        return Step::Nothing;
    }
    if !f.host_online {
        return Step::Fail;
    }
    if !f.reboot_strategy {
        return Step::Nothing;
    }
    match f.phase {
        None => Step::Start,
        Some(RemediationPhase::Running) => running(f),
        Some(RemediationPhase::Waiting) => waiting(f),
        Some(_) => Step::Nothing,
    }
}

fn running(f: &Facts) -> Step {
    if !f.has_finalizer {
        return Step::AddFinalizer;
    }
    if !f.reboot_requested {
        return Step::PowerOff;
    }
    if f.powered_on {
        return Step::WaitPoweredOff;
    }
    // Only once the host is off is the Node's workload safe to run elsewhere.
    match f.node {
        NodeFacts::Present { tainted, drained } if f.taint_mode => {
            if !tainted {
                Step::TaintNode
            } else if !drained {
                Step::WaitDrained
            } else {
                Step::EnterWaiting
            }
        }
        NodeFacts::Present { .. } if !f.node_backed_up => Step::BackupNode,
        NodeFacts::Present { .. } => Step::DeleteNode,
        NodeFacts::Absent | NodeFacts::Forbidden => Step::EnterWaiting,
    }
}

fn waiting(f: &Facts) -> Step {
    if f.reboot_requested {
        return Step::PowerOn;
    }
    if !f.powered_on {
        return Step::WaitPoweredOn;
    }
    if f.has_finalizer {
        match f.node {
            NodeFacts::Present { tainted: true, .. } if f.taint_mode => return Step::UntaintNode,
            NodeFacts::Present { .. } if !f.taint_mode && f.node_backed_up => {
                return Step::RestoreNode;
            }
            NodeFacts::Present { .. } | NodeFacts::Forbidden => return Step::Finish,
            NodeFacts::Absent => {}
        }
    }
    let elapsed = f.since_attempt.unwrap_or_default();
    if f.since_attempt.is_none() || elapsed < f.timeout {
        return Step::WaitHealthy(f.timeout.saturating_sub(elapsed));
    }
    if f.retry_limit > 0 && f.retry_count < f.retry_limit {
        Step::Retry
    } else {
        Step::GiveUp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Facts {
        Facts {
            phase: None,
            reboot_strategy: true,
            has_finalizer: false,
            host_online: true,
            reboot_requested: false,
            powered_on: true,
            node: NodeFacts::Present {
                tainted: false,
                drained: false,
            },
            node_backed_up: false,
            taint_mode: true,
            since_attempt: Some(Duration::ZERO),
            timeout: Duration::from_secs(600),
            retry_limit: 1,
            retry_count: 0,
        }
    }

    /// Applies the effect of a step to the facts, as the controller and the world would.
    fn world(f: &mut Facts, step: Step) {
        match step {
            Step::Start => f.phase = Some(RemediationPhase::Running),
            Step::AddFinalizer => f.has_finalizer = true,
            Step::PowerOff => f.reboot_requested = true,
            Step::WaitPoweredOff => f.powered_on = false,
            Step::TaintNode => {
                f.node = NodeFacts::Present {
                    tainted: true,
                    drained: false,
                }
            }
            Step::WaitDrained => {
                f.node = NodeFacts::Present {
                    tainted: true,
                    drained: true,
                }
            }
            Step::BackupNode => f.node_backed_up = true,
            Step::DeleteNode => f.node = NodeFacts::Absent,
            Step::EnterWaiting => f.phase = Some(RemediationPhase::Waiting),
            Step::PowerOn => f.reboot_requested = false,
            Step::WaitPoweredOn => f.powered_on = true,
            Step::UntaintNode => {
                f.node = NodeFacts::Present {
                    tainted: false,
                    drained: true,
                }
            }
            Step::RestoreNode => f.node_backed_up = false,
            Step::Finish => f.has_finalizer = false,
            _ => {}
        }
    }

    fn run(mut f: Facts, node_returns: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        for _ in 0..30 {
            let step = next(&f);
            steps.push(step);
            if matches!(
                step,
                Step::Finish | Step::Nothing | Step::Fail | Step::WaitHealthy(_) | Step::GiveUp
            ) {
                break;
            }
            world(&mut f, step);
            if step == Step::WaitPoweredOn && node_returns && f.node == NodeFacts::Absent {
                f.node = NodeFacts::Present {
                    tainted: false,
                    drained: true,
                };
            }
        }
        steps
    }

    #[test]
    fn reboot_with_the_out_of_service_taint() {
        use Step::*;
        assert_eq!(
            run(base(), true),
            [
                Start,
                AddFinalizer,
                PowerOff,
                WaitPoweredOff,
                TaintNode,
                WaitDrained,
                EnterWaiting,
                PowerOn,
                WaitPoweredOn,
                UntaintNode,
                Finish
            ]
        );
    }

    #[test]
    fn reboot_by_deleting_the_node() {
        use Step::*;
        let f = Facts {
            taint_mode: false,
            ..base()
        };
        assert_eq!(
            run(f, true),
            [
                Start,
                AddFinalizer,
                PowerOff,
                WaitPoweredOff,
                BackupNode,
                DeleteNode,
                EnterWaiting,
                PowerOn,
                WaitPoweredOn,
                RestoreNode,
                Finish
            ]
        );
    }

    #[test]
    fn a_node_that_does_not_return_waits_then_retries_then_gives_up() {
        let waiting = Facts {
            phase: Some(RemediationPhase::Waiting),
            has_finalizer: true,
            node: NodeFacts::Absent,
            since_attempt: Some(Duration::from_secs(100)),
            ..base()
        };
        assert_eq!(next(&waiting), Step::WaitHealthy(Duration::from_secs(500)));
        let timed_out = Facts {
            since_attempt: Some(Duration::from_secs(600)),
            ..waiting.clone()
        };
        assert_eq!(next(&timed_out), Step::Retry);
        let exhausted = Facts {
            retry_count: 1,
            ..timed_out.clone()
        };
        assert_eq!(next(&exhausted), Step::GiveUp);
        let more = Facts {
            retry_limit: 3,
            retry_count: 2,
            ..timed_out
        };
        assert_eq!(next(&more), Step::Retry);
    }

    #[test]
    fn a_host_meant_to_be_off_fails_and_finished_phases_stay() {
        assert_eq!(
            next(&Facts {
                host_online: false,
                ..base()
            }),
            Step::Fail
        );
        for phase in [RemediationPhase::Failed, RemediationPhase::DeletingMachine] {
            assert_eq!(
                next(&Facts {
                    phase: Some(phase),
                    ..base()
                }),
                Step::Nothing
            );
        }
        assert_eq!(
            next(&Facts {
                reboot_strategy: false,
                ..base()
            }),
            Step::Nothing
        );
    }

    #[test]
    fn a_forbidden_node_does_not_block() {
        let running = Facts {
            phase: Some(RemediationPhase::Running),
            has_finalizer: true,
            reboot_requested: true,
            powered_on: false,
            node: NodeFacts::Forbidden,
            ..base()
        };
        assert_eq!(next(&running), Step::EnterWaiting);
        let back = Facts {
            phase: Some(RemediationPhase::Waiting),
            reboot_requested: false,
            powered_on: true,
            ..running
        };
        assert_eq!(next(&back), Step::Finish);
    }
}
