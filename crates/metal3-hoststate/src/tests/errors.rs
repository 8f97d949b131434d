//! How failures show: an unreachable backend, a backend not ready yet, an unknown state.

use std::time::Duration;

use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState as S};
use metal3_fixture::Behaviour;

use super::harness::*;
use crate::*;

#[test]
fn an_unreachable_backend_is_reported_backed_off_and_recovered_from() {
    rt(async {
        let mut sim = Sim::new("down", spec_with_bmc());
        sim.reach_available().await;
        sim.behave(Behaviour {
            unreachable: true,
            ..Behaviour::default()
        });
        let d = sim.step().await;
        assert!(
            d.transient.is_none(),
            "reported on the host, not as a silent retry"
        );
        let status = sim.status().clone();
        assert_eq!(status.operational_status, OperationalStatus::Error);
        assert_eq!(status.error_type, Some(ErrorType::PowerManagement));
        assert!(
            status
                .error_message
                .starts_with("cannot reach the provisioner"),
            "{}",
            status.error_message
        );
        assert!(sim.reasons().contains(&"PowerManagementError"));
        let Requeue::After(wait) = d.requeue else {
            panic!("{:?}", d.requeue)
        };
        assert!(wait >= Duration::from_secs(60), "{wait:?}");
        assert_eq!(sim.state(), S::Available);

        sim.behave(Behaviour::default());
        sim.until(5, |s| s.status().error_type.is_none()).await;
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
        assert_eq!(sim.status().error_count, 0);
    });
}

#[test]
fn a_backend_that_is_not_ready_is_only_retried() {
    rt(async {
        let mut sim = Sim::new("notready", spec_with_bmc());
        sim.reach_available().await;
        let before = sim.status().clone();
        sim.behave(Behaviour {
            not_ready: true,
            ..Behaviour::default()
        });
        let d = sim.step().await;
        assert_eq!(
            d.transient,
            Some(metal3_provisioner::ProvisionerError::NotReady)
        );
        assert_eq!(sim.status(), &before, "nothing recorded for a routine wait");
    });
}

#[test]
fn an_unknown_state_is_reported_not_guessed() {
    rt(async {
        let mut sim = Sim::new("odd", spec_with_bmc());
        sim.reach_available().await;
        if let Some(s) = sim.host.status.as_mut() {
            s.provisioning.state = S::Other("teleporting".into());
        }
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::Never);
        let msg = &sim.status().error_message;
        assert!(msg.contains("\"teleporting\""), "{msg}");
        assert_eq!(sim.state(), S::Other("teleporting".into()), "not guessed");
    });
}
