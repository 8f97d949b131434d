//! Hardware inventories in ironic-python-agent's format mapped to a BareMetalHost's
//! `HardwareDetails`, as upstream maps them: Ironic's inspection data for the Ironic backend,
//! our agent's for the native Redfish backend (`ipa`); and an in-band inventory merged with
//! what out-of-band inspection found (`merge`). Pure.

pub mod ipa;
mod merge;

pub use ipa::details;
pub use merge::merge;

use metal3_agent_api::inventory::InspectionData;
use metal3_api::v1alpha1::HardwareDetails;

/// The hardware details of our agent's inspection data.
pub fn from_agent(data: &InspectionData) -> HardwareDetails {
    let inventory = serde_json::to_value(&data.inventory).unwrap_or_default();
    let plugin_data = serde_json::to_value(&data.plugin_data).unwrap_or_default();
    details(&inventory, &plugin_data)
}
