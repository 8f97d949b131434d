//! Inspection. Out of band: reading the system's processors, network interfaces and storage
//! from the BMC while the host stays powered off; [`crate::inventory`] maps them to hardware
//! details. In band (`inspectionMode: agent`, when the operator runs the agent's hub): the
//! agent's inventory (IPA's format) mapped as upstream maps it and completed by what the BMC
//! reported; then the agent stands by (fast track) or powers the host off.

use metal3_agent_api::Action;
use metal3_api::v1alpha1::{HardwareDetails, InspectionMode};
use metal3_provisioner::{HostData, InspectData, InspectOptions, InspectOutcome, Outcome};
use metal3_redfish::types::{Collection, Drive, EthernetInterface, Processor};
use serde_json::Value;

use crate::RedfishProvisioner;
use crate::agent::{AgentState, Ran, command, command_id, host_ref};
use crate::cache::{Operation, Phase};
use crate::config::AgentSettings;
use crate::errors::{Fault, Step};
use crate::inventory;

impl RedfishProvisioner {
    /// Inspects the host: in band when asked for and the agent is available, else out of band.
    pub(crate) async fn do_inspect(
        &self,
        host: &HostData,
        data: &InspectData,
        options: InspectOptions,
    ) -> Step<InspectOutcome> {
        if let Some(agent) = self.agent()
            && data.inspection_mode == InspectionMode::Agent
        {
            let result = self.inspect_in_band(host, agent, options).await;
            if matches!(
                result,
                Ok(InspectOutcome {
                    outcome: Outcome::Done,
                    ..
                }) | Err(Fault::Failed(_))
            ) {
                self.agent_finished(host);
            }
            return result;
        }
        Ok(InspectOutcome {
            outcome: Outcome::Done,
            started: true,
            details: Some(self.inspect_out_of_band(host).await?),
        })
    }

    /// The agent up, its inventory (asked for again when this boot's is not at hand), merged
    /// with the BMC's; then the agent rests.
    async fn inspect_in_band(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        options: InspectOptions,
    ) -> Step<InspectOutcome> {
        const OP: Operation = Operation::Inspect;
        let waiting = |started| InspectOutcome {
            outcome: Outcome::wait(self.config.poll),
            started,
            details: None,
        };
        if options.restart {
            self.cache.remember(host, |k| {
                k.agent_boot = None;
                k.agent_phase = None;
            });
        }
        let at = self.on_host(host).await?;
        if self.phase(host, OP).is_none() {
            let view = match self
                .agent_up(host, agent, &at, options.force_reboot)
                .await?
            {
                AgentState::Booting { started } => return Ok(waiting(started)),
                AgentState::Up(view) => view,
            };
            if view.inventory.is_none() {
                self.show(host, agent, "inspecting the hardware in band");
                // The boot's first report carries it; a hub that restarted since asks again,
                // and once more should that answer have been lost with another restart.
                let first = command_id("inspect", &view.boot_id, &[]);
                let id = match view.status_of(&first) {
                    Some(s) if s.state == metal3_agent_api::CommandState::Done => {
                        format!("{first}-again")
                    }
                    _ => first,
                };
                return match self.order(agent, host, &view, command(id.clone(), Action::Inspect)) {
                    Ran::Failed(m) => Err(Fault::Failed(format!("in-band inspection failed: {m}"))),
                    Ran::Done(_) if id.ends_with("-again") => Err(Fault::Failed(
                        "the agent finished inspecting but sent no inventory".into(),
                    )),
                    _ => Ok(waiting(false)),
                };
            }
            self.set_phase(host, OP, Some(Phase::Resting));
        }
        if !self.agent_rest(host, agent, &at).await? {
            return Ok(waiting(false));
        }
        let inventory = agent
            .hub
            .agent(&host_ref(host))
            .and_then(|v| v.inventory)
            .ok_or_else(|| {
                self.set_phase(host, OP, None);
                Fault::Transient("the agent's inventory is gone (the operator restarted?)".into())
            })?;
        let out_of_band = self.inspect_out_of_band(host).await?;
        let details =
            metal3_inventory::merge(metal3_inventory::from_agent(&inventory), &out_of_band);
        Ok(InspectOutcome {
            outcome: Outcome::Done,
            started: false,
            details: Some(details),
        })
    }

    /// Reads what inspection needs from the BMC and maps it to the host's hardware details.
    pub(crate) async fn inspect_out_of_band(&self, host: &HostData) -> Step<HardwareDetails> {
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
