//! One reconcile pass of a BareMetalHost: credentials, deletion, detach, registration, then the
//! handler of the current provisioning state. At most one state change per pass: the controller
//! saves the status before the next pass, so a restart never repeats a started operation.
//!
//! This module holds the pass itself (`reconcile`, the order of the checks, the dispatch to the
//! state handler, entering a state, building the [`Decision`]). The rest is one file per job:
//! - `prechecks`: status restore, credentials, capacity delay, detach;
//! - `errors`: recording failures, backoff, error types and their event reasons;
//! - by phase, with the file names the backends use: `register`, `inspect` (also hardware
//!   details from HardwareData or annotation), `prepare` (also servicing), `deploy` (available,
//!   provisioning, provisioned, externally provisioned, deprovisioning), `power` (steady
//!   state), `media` (data images), and `delete` (the whole way out, powering off included).

mod delete;
mod deploy;
mod errors;
mod inspect;
mod media;
mod power;
mod prechecks;
mod prepare;
mod register;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostSpec, BareMetalHostStatus, ErrorType, OperationalStatus,
    ProvisioningState,
};
use metal3_provisioner::{HostData, Provisioner, ProvisionerError};

pub use errors::error_reason;
pub use inspect::reads_hardware_data;

use crate::conditions;
use crate::io::{Config, CredentialsInput, Decision, Effect, Event, EventType, Inputs, Requeue};

/// Runs one reconcile pass of `host`.
pub async fn reconcile<P: Provisioner + ?Sized>(
    host: &BareMetalHost,
    inputs: &Inputs,
    config: &Config,
    prov: &P,
) -> Decision {
    let mut m = Machine::new(host, inputs, config, prov);
    let result = match m.run().await {
        // The backend is down or unreachable: say so on the host and back off. (Not-ready and
        // busy answers are routine and only retried.)
        Err(ProvisionerError::Transient(message)) => Ok(m.backend_unreachable(&message)),
        other => other,
    };
    m.finish(result)
}

/// The working state of one pass: what it read, and the status, events and effects it builds.
struct Machine<'a, P: ?Sized> {
    host: &'a BareMetalHost,
    spec: &'a BareMetalHostSpec,
    inputs: &'a Inputs,
    config: &'a Config,
    prov: &'a P,
    host_data: HostData,
    status: BareMetalHostStatus,
    annotations: BTreeMap<String, String>,
    events: Vec<Event>,
    effects: Vec<Effect>,
    state_change: Option<(ProvisioningState, ProvisioningState)>,
    health: Option<metal3_provisioner::Health>,
    skip_conditions: bool,
}

type Step = Result<Option<Requeue>, ProvisionerError>;

fn is_capacity_limited(state: &ProvisioningState) -> bool {
    matches!(
        state,
        ProvisioningState::Inspecting
            | ProvisioningState::Provisioning
            | ProvisioningState::Deprovisioning
    )
}

impl<'a, P: Provisioner + ?Sized> Machine<'a, P> {
    fn new(host: &'a BareMetalHost, inputs: &'a Inputs, config: &'a Config, prov: &'a P) -> Self {
        Self {
            host,
            spec: &host.spec,
            inputs,
            config,
            prov,
            host_data: inputs.host_data.clone(),
            status: host.status.clone().unwrap_or_default(),
            annotations: host.metadata.annotations.clone().unwrap_or_default(),
            events: Vec::new(),
            effects: Vec::new(),
            state_change: None,
            health: None,
            skip_conditions: false,
        }
    }

    fn state(&self) -> ProvisioningState {
        self.status.provisioning.state.clone()
    }

    fn deleting(&self) -> bool {
        self.host.metadata.deletion_timestamp.is_some()
    }

    fn creds_valid(&self) -> bool {
        matches!(self.inputs.credentials, CredentialsInput::Valid { .. })
    }

    fn now_time(&self) -> Time {
        Time(self.inputs.now)
    }

    fn event(&mut self, event_type: EventType, reason: &'static str, message: impl Into<String>) {
        self.events.push(Event {
            event_type,
            reason,
            message: message.into(),
        });
    }

    fn remove_annotation(&mut self, key: &str) {
        if self.annotations.remove(key).is_some() {
            self.effects.push(Effect::RemoveAnnotation(key.to_string()));
        }
    }

    /// Moves to `next`, keeping the operation history. A normal transition clears the error;
    /// `keep_error` keeps it (a failure moved the host on, e.g. to clean up).
    async fn enter(
        &mut self,
        next: ProvisioningState,
        keep_error: bool,
    ) -> Result<(), ProvisionerError> {
        use ProvisioningState as S;
        let prev = self.state();
        if prev == next {
            return Ok(());
        }
        let now = Some(self.now_time());
        let history = &mut self.status.operation_history;
        match prev {
            S::Registering => history.register.end = now.clone(),
            S::Inspecting => history.inspect.end = now.clone(),
            S::Provisioning => history.provision.end = now.clone(),
            S::Deprovisioning => history.deprovision.end = now.clone(),
            _ => {}
        }
        let started = match next {
            S::Registering => Some(&mut history.register),
            S::Inspecting => Some(&mut history.inspect),
            S::Provisioning => Some(&mut history.provision),
            S::Deprovisioning => Some(&mut history.deprovision),
            _ => None,
        };
        if let Some(metric) = started {
            metric.start = now;
            metric.end = None;
        }
        if matches!(next, S::Registering | S::Inspecting | S::Provisioning) {
            self.status.provisioning.boot_mode = Some(self.host.boot_mode());
        }
        self.status.provisioning.state = next.clone();
        let from = self
            .state_change
            .take()
            .map(|(from, _)| from)
            .unwrap_or(prev);
        self.state_change = Some((from, next.clone()));
        if !keep_error {
            self.clear_error();
        }
        if self.status.operational_status == OperationalStatus::Delayed {
            self.status.operational_status = OperationalStatus::Ok;
        }
        if is_capacity_limited(&next) && !self.prov.has_capacity(&self.host_data).await? {
            self.status.operational_status = OperationalStatus::Delayed;
        }
        Ok(())
    }

    async fn run(&mut self) -> Result<Requeue, ProvisionerError> {
        if let Some(r) = self.restore_status() {
            return Ok(r);
        }
        self.adopt_hardware_details();
        if self.state() == ProvisioningState::Ready {
            // Old name of `available`.
            self.enter(ProvisioningState::Available, true).await?;
        }
        if let Some(r) = self.check_credentials() {
            return Ok(r);
        }
        if let Some(r) = self.check_delayed().await? {
            return Ok(r);
        }
        if self.deleting()
            && let Some(r) = self.initiate_delete().await?
        {
            return Ok(r);
        }
        if let Some(r) = self.handle_detach().await? {
            return Ok(r);
        }
        if let Some(r) = self.register().await? {
            return Ok(r);
        }
        self.handle_state().await
    }

    async fn handle_state(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        match self.state() {
            S::None => self.handle_none().await,
            S::Unmanaged => self.handle_unmanaged().await,
            S::Registering => self.handle_registering().await,
            S::Inspecting => self.handle_inspecting().await,
            S::MatchProfile => {
                self.enter(S::Preparing, false).await?;
                Ok(Requeue::Now)
            }
            S::Preparing => self.handle_preparing().await,
            S::Available | S::Ready => self.handle_available().await,
            S::Provisioning => self.handle_provisioning().await,
            S::Provisioned => self.handle_provisioned().await,
            S::ExternallyProvisioned => self.handle_externally_provisioned().await,
            S::Deprovisioning => self.handle_deprovisioning().await,
            S::PoweringOffBeforeDelete => self.handle_powering_off().await,
            S::Deleting => self.handle_deleting().await,
            S::Other(name) => Ok(self.fail_static(
                ErrorType::Registration,
                format!(
                    "unknown provisioning state {name:?} in status.provisioning.state; \
                     this operator does not know how to go on from it"
                ),
                Requeue::Never,
            )),
        }
    }

    fn finish(mut self, result: Result<Requeue, ProvisionerError>) -> Decision {
        let (requeue, transient) = match result {
            Ok(r) => (r, None),
            Err(e) => (Requeue::Never, Some(e)),
        };
        if !self.skip_conditions {
            let now = self.now_time();
            let generation = self.host.metadata.generation;
            let mut wants = conditions::lifecycle(&self.status);
            if let Some(h) = self.health {
                wants.push(conditions::healthy(h));
            }
            if is_capacity_limited(&self.status.provisioning.state)
                || self.status.provisioning.state == ProvisioningState::Preparing
            {
                conditions::show_progress(&mut wants, self.prov.progress(&self.host_data));
            }
            conditions::merge(&mut self.status.conditions, &wants, generation, &now);
        }
        Decision {
            status: self.status,
            requeue,
            events: self.events,
            effects: self.effects,
            transient,
            state_change: self.state_change,
        }
    }
}
