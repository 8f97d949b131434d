//! Ironic's answers as the operator sees them: request errors become retries
//! ([`ProvisionerError`]) or the host's error ([`Outcome::Failed`]), and a failed node's reason
//! comes from its `last_error` or its history.

use metal3_ironic::Error as IronicError;
use metal3_ironic::types::Node;
use metal3_provisioner::{Outcome, ProvResult, ProvisionerError};

use crate::IronicProvisioner;

/// A request error as the operator sees it: transient faults are retried, everything else
/// becomes the host's error.
pub(crate) fn classify(e: IronicError) -> Result<Outcome, ProvisionerError> {
    match e {
        IronicError::Locked(_) => Err(ProvisionerError::NodeIsBusy),
        IronicError::NotFound(_) => Err(ProvisionerError::NeedsRegistration),
        e if e.is_transient() => Err(ProvisionerError::Transient(format!(
            "cannot reach the provisioner: {e}"
        ))),
        e => Ok(Outcome::failed(e.message())),
    }
}

/// A request error where no host error fits (lookups, readings): always a retry.
pub(crate) fn transient(e: IronicError) -> ProvisionerError {
    match classify(e) {
        Err(p) => p,
        Ok(Outcome::Failed { message }) => ProvisionerError::Transient(message),
        Ok(_) => ProvisionerError::Transient("unexpected Ironic answer".into()),
    }
}

/// Unwraps a request's result, or returns from the calling function with the error
/// [`classify`]ed.
macro_rules! act {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::errors::classify(e),
        }
    };
}
pub(crate) use act;

/// A side request of preparing or servicing: retries propagate, a refusal is ignored (the
/// transition that follows reports it).
pub(crate) fn act_prepare(r: Result<(), IronicError>) -> ProvResult<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => match classify(e) {
            Err(p) => Err(p),
            Ok(_) => Ok(()),
        },
    }
}

/// The node's `last_error`, unless empty.
pub(crate) fn last_error(node: &Node) -> Option<&str> {
    node.last_error.as_deref().filter(|e| !e.trim().is_empty())
}

impl IronicProvisioner {
    /// Why the node failed: `last_error`, or (Ironic clears `last_error` of failed nodes on
    /// its power sync, and some failures never set it) the newest error in its history.
    pub(crate) async fn reason(&self, node: &Node, default: &str) -> String {
        if let Some(e) = last_error(node) {
            return e.to_string();
        }
        match self.client.history(&node.uuid).await {
            Ok(events) => events
                .iter()
                .rev()
                .find(|e| e.severity.eq_ignore_ascii_case("error") && !e.event.is_empty())
                .map(|e| e.event.clone())
                .unwrap_or_else(|| default.to_string()),
            Err(_) => default.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_become_host_errors_or_retries() {
        assert_eq!(
            classify(IronicError::Locked("l".into())),
            Err(ProvisionerError::NodeIsBusy)
        );
        assert_eq!(
            classify(IronicError::NotFound("n".into())),
            Err(ProvisionerError::NeedsRegistration)
        );
        assert!(matches!(
            classify(IronicError::Unreachable {
                endpoint: "http://ironic".into(),
                reason: "refused".into()
            }),
            Err(ProvisionerError::Transient(m)) if m.starts_with("cannot reach the provisioner")
        ));
        assert_eq!(
            classify(IronicError::Refused {
                status: 400,
                message: "The requested action \"deploy\" can not be performed".into()
            }),
            Ok(Outcome::failed(
                "The requested action \"deploy\" can not be performed"
            ))
        );
    }
}
