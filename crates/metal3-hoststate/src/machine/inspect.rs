//! Inspecting: whether inspection is disabled, hardware details taken from the HardwareData or
//! the hardware-details annotation (external inspection), and the inspecting state itself.

use std::collections::BTreeMap;

use metal3_api::consts::{HARDWARE_DETAILS_ANNOTATION, STATUS_ANNOTATION};
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostSpec, ErrorType, HardwareDetails, InspectionMode, ProvisioningState,
};
use metal3_provisioner::{InspectData, InspectOptions, Outcome, Provisioner, ProvisionerError};
use serde::Deserialize;

use super::Machine;
use crate::annotations::{self, InspectRequest};
use crate::io::{Effect, EventType, Requeue};

fn inspection_disabled(spec: &BareMetalHostSpec, annotations: &BTreeMap<String, String>) -> bool {
    spec.inspection_mode == Some(InspectionMode::Disabled)
        || annotations::inspect_request(annotations) == Some(InspectRequest::Disabled)
}

/// Whether a pass over `host` reads its HardwareData ([`Inputs::hardware_data`]): while its
/// status has no hardware details yet, while they come from outside (inspection disabled), and
/// when a saved status is restored. Otherwise the status holds the details and the controller
/// need not fetch them again.
///
/// [`Inputs::hardware_data`]: crate::Inputs::hardware_data
pub fn reads_hardware_data(host: &BareMetalHost) -> bool {
    let empty = BTreeMap::new();
    let annotations = host.metadata.annotations.as_ref().unwrap_or(&empty);
    let has_details = host.status.as_ref().is_some_and(|s| s.hardware.is_some());
    !has_details
        || inspection_disabled(&host.spec, annotations)
        || annotations.contains_key(STATUS_ANNOTATION)
}

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    pub(super) fn inspection_disabled(&self) -> bool {
        inspection_disabled(self.spec, &self.annotations)
    }

    /// Takes hardware details from the HardwareData, or from the hardware-details annotation
    /// when inspection is disabled (external inspection).
    pub(super) fn adopt_hardware_details(&mut self) {
        let raw = self.annotations.get(HARDWARE_DETAILS_ANNOTATION).cloned();
        if raw.is_some() {
            self.remove_annotation(HARDWARE_DETAILS_ANNOTATION);
        }
        if self.status.hardware.is_some() && !self.inspection_disabled() {
            return;
        }
        if let Some(details) = &self.inputs.hardware_data {
            if self.status.hardware.as_ref() != Some(details) {
                self.status.hardware = Some(details.clone());
            }
            return;
        }
        let Some(raw) = raw else { return };
        if !self.inspection_disabled() {
            self.event(
                EventType::Warning,
                "InvalidAnnotationValue",
                format!("annotation {HARDWARE_DETAILS_ANNOTATION} is only used when inspection is disabled (spec.inspectionMode: disabled)"),
            );
            return;
        }
        let mut de = serde_json::Deserializer::from_str(&raw);
        match HardwareDetails::deserialize(&mut de).and_then(|d| de.end().map(|()| d)) {
            Ok(details) => {
                self.status.hardware = Some(details.clone());
                self.effects
                    .push(Effect::SaveHardwareData(Box::new(details)));
                self.event(
                    EventType::Normal,
                    "UpdateHardwareDetails",
                    "hardware details set from the inspect.metal3.io/hardwaredetails annotation",
                );
            }
            Err(e) => self.event(
                EventType::Warning,
                "InvalidAnnotationValue",
                format!(
                    "annotation {HARDWARE_DETAILS_ANNOTATION} is not valid hardware details: {e}"
                ),
            ),
        }
    }

    pub(super) fn note_inspection_skipped(&mut self) {
        self.event(
            EventType::Normal,
            "InspectionSkipped",
            "Hardware inspection is disabled",
        );
    }

    pub(super) async fn handle_inspecting(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if self.inspection_disabled() {
            self.note_inspection_skipped();
            self.enter(S::Preparing, false).await?;
            return Ok(Requeue::Now);
        }
        let restart = self.status.error_type == Some(ErrorType::Inspection);
        if restart && let Some(left) = self.backoff_remaining() {
            return Ok(Requeue::After(left));
        }
        let data = InspectData {
            boot_mode: self.host.boot_mode(),
            inspection_mode: self.spec.inspection_mode.unwrap_or_default(),
        };
        let force_reboot = annotations::reboot_requests(&self.annotations)
            .iter()
            .any(|r| r.force);
        let out = self
            .prov
            .inspect_hardware(
                &self.host_data,
                &data,
                InspectOptions {
                    restart,
                    force_reboot,
                    ..Default::default()
                },
            )
            .await?;
        match out.outcome {
            Outcome::Failed { message } => Ok(self.fail(ErrorType::Inspection, message)),
            Outcome::InProgress { after } => {
                if out.started {
                    self.event(
                        EventType::Normal,
                        "InspectionStarted",
                        "Hardware inspection started",
                    );
                    if restart {
                        self.clear_error();
                    }
                }
                Ok(Requeue::After(after))
            }
            Outcome::Done => {
                if let Some(details) = out.details {
                    self.status.hardware = Some(details.clone());
                    self.effects
                        .push(Effect::SaveHardwareData(Box::new(details)));
                }
                self.event(
                    EventType::Normal,
                    "InspectionComplete",
                    "Hardware inspection completed",
                );
                self.enter(S::Preparing, false).await?;
                Ok(Requeue::Now)
            }
        }
    }
}
