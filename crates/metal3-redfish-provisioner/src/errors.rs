//! Mapping failures to what the state machine expects: a fault that needs someone to change
//! something becomes an [`Outcome::Failed`] reported on the host, one that may pass on its own
//! a [`ProvisionerError::Transient`] retried with backoff.

use metal3_provisioner::{InspectOutcome, Outcome, PrepareOutcome, ProvResult, ProvisionerError};

/// Why a call could not finish.
pub(crate) enum Fault {
    /// Needs someone to change something: reported on the host.
    Failed(String),
    /// May pass on its own: retried with backoff.
    Transient(String),
}

impl From<metal3_redfish::Error> for Fault {
    fn from(e: metal3_redfish::Error) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Failed(e.to_string())
        }
    }
}

/// The result of one step of a phase.
pub(crate) type Step<T> = Result<T, Fault>;

/// A plain result: a failure is reported on the host, a transient fault retried.
pub(crate) fn settle(result: Step<Outcome>) -> ProvResult<Outcome> {
    match result {
        Ok(o) => Ok(o),
        Err(Fault::Failed(message)) => Ok(Outcome::Failed { message }),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}

/// A reading: every fault is retried, there is no outcome to report it in.
pub(crate) fn transient<T>(result: Step<T>) -> ProvResult<T> {
    result.map_err(|f| match f {
        Fault::Failed(m) | Fault::Transient(m) => ProvisionerError::Transient(m),
    })
}

/// A prepare or service result: a failure is reported on the host, a transient fault retried.
pub(crate) fn prepared(result: Step<PrepareOutcome>) -> ProvResult<PrepareOutcome> {
    match result {
        Ok(o) => Ok(o),
        Err(Fault::Failed(message)) => Ok(PrepareOutcome {
            outcome: Outcome::Failed { message },
            started: false,
        }),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}

/// An inspection result: as it stands, or a failure reported on the host (inspection is
/// started either way), a transient fault retried.
pub(crate) fn inspected(result: Step<InspectOutcome>) -> ProvResult<InspectOutcome> {
    match result {
        Ok(outcome) => Ok(outcome),
        Err(Fault::Failed(message)) => Ok(InspectOutcome {
            outcome: Outcome::Failed { message },
            started: true,
            details: None,
        }),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}

/// A result carrying an identifier (registration, event subscription).
pub(crate) fn with_id(result: Step<String>) -> ProvResult<(Outcome, String)> {
    match result {
        Ok(id) => Ok((Outcome::Done, id)),
        Err(Fault::Failed(message)) => Ok((Outcome::Failed { message }, String::new())),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}
