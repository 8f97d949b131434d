//! The `metal3.io/v1alpha1` kinds.

pub mod baremetalhost;
pub mod bmceventsubscription;
pub mod common;
pub mod dataimage;
pub mod firmwareschema;
pub mod hardwaredata;
pub mod hostclaim;
pub mod hostdeploypolicy;
pub mod hostfirmwarecomponents;
pub mod hostfirmwaresettings;
pub mod hostupdatepolicy;
pub mod preprovisioningimage;

pub use baremetalhost::*;
pub use bmceventsubscription::*;
pub use common::*;
pub use dataimage::*;
pub use firmwareschema::*;
pub use hardwaredata::*;
pub use hostclaim::*;
pub use hostdeploypolicy::*;
pub use hostfirmwarecomponents::*;
pub use hostfirmwaresettings::*;
pub use hostupdatepolicy::*;
pub use preprovisioningimage::*;

/// API group of every kind in this module.
pub const GROUP: &str = "metal3.io";
/// API version of every kind in this module.
pub const VERSION: &str = "v1alpha1";

// BareMetalSwitch and HostNetworkAttachment (switch port configuration through Ironic networking).
pub mod baremetalswitch;
pub mod hostnetworkattachment;
pub use baremetalswitch::*;
pub use hostnetworkattachment::*;
