//! Out-of-band inspection: reading the system's processors, network interfaces and storage
//! from the BMC while the host stays powered off; [`crate::inventory`] maps them to hardware
//! details.

use metal3_api::v1alpha1::HardwareDetails;
use metal3_provisioner::HostData;
use metal3_redfish::types::{Collection, Drive, EthernetInterface, Processor};
use serde_json::Value;

use crate::RedfishProvisioner;
use crate::errors::Step;
use crate::inventory;

impl RedfishProvisioner {
    /// Reads what inspection needs and maps it to the host's hardware details.
    pub(crate) async fn do_inspect(&self, host: &HostData) -> Step<HardwareDetails> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let mut observed = inventory::Observed::default();
        // Collections come expanded (one request each) when the BMC offers `$expand`.
        if let Some(link) = &system.processors {
            observed.processors = conn.members::<Processor>(&link.id).await?;
        }
        if let Some(link) = &system.ethernet_interfaces {
            observed.nics = conn.members::<EthernetInterface>(&link.id).await?;
        }
        if let Some(link) = &system.storage {
            let body = match conn.expanded(&link.id, 2).await? {
                Some(body) => body,
                None => conn.get_reply(&link.id).await?.body,
            };
            let members = body
                .get("Members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in &members {
                let storage: Value = conn.resolve(item).await?;
                let drives = storage
                    .get("Drives")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for d in &drives {
                    observed.drives.push(conn.resolve::<Drive>(d).await?);
                }
            }
        }
        if observed.drives.is_empty()
            && let Some(link) = &system.simple_storage
        {
            let list: Collection = conn.get(&link.id).await?;
            for m in &list.members {
                let simple: Value = conn.get(&m.id).await?;
                for d in simple
                    .get("Devices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = d.get("Name").and_then(Value::as_str).unwrap_or("disk");
                    let bytes = d.get("CapacityBytes").and_then(Value::as_u64).unwrap_or(0);
                    observed.simple_disks.push((name.to_string(), bytes));
                }
            }
        }
        observed.system = system;
        Ok(inventory::details(&observed, &host.boot_mac_address))
    }
}
