//! Registration: finding the system on the BMC (the path the address names, or the only one
//! it manages), reading it to check that the BMC answers and takes the credentials, and
//! adopting a host that is already known.

use std::time::Instant;

use metal3_provisioner::{HostData, ManagementAccessData, Outcome, ProvResult, RegisterOptions};
use metal3_redfish::Connection;
use metal3_redfish::types::{Collection, ComputerSystem};

use crate::RedfishProvisioner;
use crate::address;
use crate::cache::{HostFacts, Known};
use crate::errors::{Fault, Step, settle, with_id};
use crate::power::{health_of, is_on};

impl RedfishProvisioner {
    /// Registers the host: answered from memory unless the credentials changed or the host
    /// is new to us, otherwise by reading the system. With the agent, what the agent flows
    /// need of `data` is remembered (every pass registers, so it is never older than a pass).
    pub(crate) async fn do_register(
        &self,
        host: &HostData,
        data: &ManagementAccessData,
        options: RegisterOptions,
    ) -> ProvResult<(Outcome, String)> {
        let RegisterOptions {
            credentials_changed,
            ..
        } = options;
        if credentials_changed {
            self.cache.remember(host, |k| {
                *k = Known {
                    address: k.address.clone(),
                    ..Known::default()
                }
            });
        }
        if self.agent().is_some() {
            let facts = HostFacts {
                boot_mode: data.boot_mode,
                cleaning: data.automated_cleaning_mode,
                network_data: data.preprovisioning_network_data.clone(),
            };
            self.cache.remember(host, |k| k.facts = Some(facts));
        }
        if !credentials_changed && let Some(id) = self.cache.known(host).registered {
            return Ok((Outcome::Done, id));
        }
        with_id(self.check_system(host).await)
    }

    /// Takes over a host after a restart of the operator or a move between states.
    pub(crate) async fn do_adopt(&self, host: &HostData, restart: bool) -> ProvResult<Outcome> {
        // Nothing to take over: the state is on the BMC. A host we already know costs nothing
        // (every pass of a provisioned host asks); otherwise check that the BMC answers.
        if !restart && self.cache.known(host).registered.is_some() {
            return Ok(Outcome::Done);
        }
        settle(self.check_system(host).await.map(|_| Outcome::Done))
    }

    /// A connection to the host's BMC and the system's path.
    pub(crate) async fn connect(&self, host: &HostData) -> Step<(Connection, String)> {
        let (endpoint, path) =
            address::endpoint(&host.bmc_address, host.disable_certificate_verification)
                .map_err(|e| Fault::Failed(e.to_string()))?;
        let known = self.cache.known(host);
        let scope = if known.system.is_empty() {
            path.clone()
        } else {
            known.system.clone()
        };
        let conn = self.pool.connect(
            &endpoint,
            &scope,
            &host.credentials.username,
            &host.credentials.password,
        );
        if !known.system.is_empty() {
            return Ok((conn, known.system));
        }
        let system = if path.is_empty() {
            let systems: Collection = conn.get("/redfish/v1/Systems").await?;
            match systems.members.as_slice() {
                [one] => one.id.clone(),
                members => {
                    return Err(Fault::Failed(format!(
                        "the BMC at {} manages {} systems; name one in bmc.address \
                         (…/redfish/v1/Systems/<id>)",
                        endpoint.base,
                        members.len()
                    )));
                }
            }
        } else {
            path
        };
        self.cache.remember(host, |k| k.system = system.clone());
        Ok((conn, system))
    }

    /// Reads the system; every read refreshes the remembered power state and health.
    pub(crate) async fn system(
        &self,
        host: &HostData,
        conn: &Connection,
        path: &str,
    ) -> Step<ComputerSystem> {
        let system: ComputerSystem = conn.get(path).await?;
        let on = is_on(&system);
        let health = health_of(&system);
        let now = Instant::now();
        self.cache.remember(host, |k| {
            k.power = Some((on, now));
            k.health = Some((health, now));
        });
        Ok(system)
    }

    /// Reads the system (reachability, credentials) and remembers the host as registered;
    /// returns its identifier.
    async fn check_system(&self, host: &HostData) -> Step<String> {
        let (conn, path) = self.connect(host).await?;
        self.system(host, &conn, &path).await?;
        let id = format!("{}{path}", conn.base());
        self.cache
            .remember(host, |k| k.registered = Some(id.clone()));
        Ok(id)
    }
}
