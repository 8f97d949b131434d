//! Well-known annotations, labels and finalizers of the metal3.io API.
//!
//! These strings are part of the wire contract with upstream Metal³: users, CAPM3 and other tools
//! set and read them, so they never change.

/// Pauses reconciliation of a host (any value). CAPM3 uses the value `metal3.io/capm3`.
pub const PAUSED_ANNOTATION: &str = "baremetalhost.metal3.io/paused";
/// Detaches a host from the provisioner without deprovisioning it.
pub const DETACHED_ANNOTATION: &str = "baremetalhost.metal3.io/detached";
/// A JSON status to restore into a host whose status is empty (moving hosts between clusters).
pub const STATUS_ANNOTATION: &str = "baremetalhost.metal3.io/status";
/// Requests a one-shot reboot; `reboot.metal3.io/<key>` holds the host off until removed.
pub const REBOOT_ANNOTATION: &str = "reboot.metal3.io";
/// Prefix of suffixed (phased) reboot annotations.
pub const REBOOT_ANNOTATION_PREFIX: &str = "reboot.metal3.io/";
/// Requests re-inspection of an available host; the value `disabled` disables inspection.
pub const INSPECT_ANNOTATION: &str = "inspect.metal3.io";
/// Hardware details given by the user when inspection is disabled.
pub const HARDWARE_DETAILS_ANNOTATION: &str = "inspect.metal3.io/hardwaredetails";

/// Finalizer the operator puts on every BareMetalHost.
pub const BAREMETALHOST_FINALIZER: &str = "baremetalhost.metal3.io";
/// Finalizer the operator puts on the BMC credentials Secret.
pub const SECRET_FINALIZER: &str = "baremetalhost.metal3.io/secret";
/// Finalizer the operator puts on a host's HardwareData.
pub const HARDWARE_DATA_FINALIZER: &str = "baremetalhost.metal3.io/hardwareData";
/// Finalizer the operator puts on a host's PreprovisioningImage.
pub const PREPROVISIONING_IMAGE_HOST_FINALIZER: &str =
    "baremetalhost.metal3.io/preprovisioningImage";
/// Finalizer of PreprovisioningImage objects themselves.
pub const PREPROVISIONING_IMAGE_FINALIZER: &str = "preprovisioningimage.metal3.io";
/// Finalizer of BMCEventSubscription objects.
pub const BMC_EVENT_SUBSCRIPTION_FINALIZER: &str = "bmceventsubscription.metal3.io";
/// Finalizer of DataImage objects.
pub const DATA_IMAGE_FINALIZER: &str = "dataimage.metal3.io";

/// Label the operator puts on Secrets it reads (its cache only holds labelled Secrets).
pub const SECRET_ENVIRONMENT_LABEL: &str = "environment.metal3.io";
/// Value of [`SECRET_ENVIRONMENT_LABEL`].
pub const SECRET_ENVIRONMENT_VALUE: &str = "baremetal";
