//! `metal3 console HOST`: the serial console of a host whose BMC is the simulator with a VM
//! behind it (`GET /metal3-sim/hosts/<system id>/console[?follow]` on the BMC's host:port).
//! Which URL to read is pure ([`target`]); [`read`] fetches it and copies it out.

use std::io::Write;

use anyhow::{Context, Result, bail};
use metal3_bmc::Transport;

/// Where a host's console can be read.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// The simulator's server (its system id).
    pub server: String,
    /// The BMC's certificate is not checked (as the host's spec asks).
    pub insecure: bool,
}

/// The message for a host whose console this tool cannot read, the backend in brackets.
pub fn no_console(why: &str) -> String {
    format!("this host's BMC has no console this tool can read ({why})")
}

/// The console URL for a BMC address, or why there is none.
pub fn target(address: &str, insecure: bool, follow: bool) -> Result<Target, String> {
    let bmc = metal3_bmc::parse(address)
        .map_err(|e| no_console(&format!("BMC address {address:?}: {e}")))?;
    let Some(transport) = bmc.transport().filter(|_| bmc.family().is_redfish()) else {
        return Err(no_console(&format!(
            "{} BMC: only the simulator's Redfish BMCs with a VM serve a console",
            bmc.bmc_type()
        )));
    };
    let Some(server) = bmc
        .path()
        .trim_end_matches('/')
        .rsplit_once("/Systems/")
        .map(|(_, id)| id.to_string())
        .filter(|id| !id.is_empty() && !id.contains('/'))
    else {
        return Err(no_console(&format!(
            "{} BMC without a system in its address {address:?}",
            bmc.bmc_type()
        )));
    };
    let host = if bmc.hostname().contains(':') {
        format!("[{}]", bmc.hostname())
    } else {
        bmc.hostname().to_string()
    };
    let port = bmc.port().map(|p| format!(":{p}")).unwrap_or_default();
    let scheme = match transport {
        Transport::Http => "http",
        Transport::Https => "https",
    };
    let query = if follow { "?follow" } else { "" };
    Ok(Target {
        url: format!("{scheme}://{host}{port}/metal3-sim/hosts/{server}/console{query}"),
        server,
        insecure,
    })
}

/// What an answer other than 200 means, from its status and body.
pub fn refusal(status: u16, body: &str, bmc_type: &str, server: &str) -> String {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string));
    match (status, said) {
        (409, Some(msg)) => no_console(&format!("{bmc_type}, Metal³ simulator: {msg}")),
        (404, Some(msg)) if msg.contains("simulated server") => {
            no_console(&format!("{bmc_type}, Metal³ simulator: {msg}"))
        }
        _ => no_console(&format!(
            "{bmc_type} BMC answered {status} for server {server}'s console: not the Metal³ \
             simulator's fleet listener (a per-server port or a real BMC)"
        )),
    }
}

/// Reads the console at `t` into `out`, following it while `follow` until the server ends it.
pub async fn read(t: &Target, bmc_type: &str, out: &mut impl Write) -> Result<()> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(t.insecure)
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("HTTP client")?;
    let mut response = client.get(&t.url).send().await.map_err(|e| {
        anyhow::anyhow!(no_console(&format!(
            "{bmc_type} BMC not reachable for its console: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.to_string())
        )))
    })?;
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.text().await.unwrap_or_default();
        bail!(refusal(status, &body, bmc_type, &t.server));
    }
    while let Some(chunk) = response.chunk().await.context("reading the console")? {
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_redfish_bmc_names_its_server_by_system_id() {
        let t = target(
            "redfish-virtualmedia+https://127.0.0.1:8000/redfish/v1/Systems/4d0c-0001",
            true,
            true,
        )
        .expect("target");
        assert_eq!(
            t.url,
            "https://127.0.0.1:8000/metal3-sim/hosts/4d0c-0001/console?follow"
        );
        assert_eq!(t.server, "4d0c-0001");
        assert!(t.insecure);
        let t = target(
            "redfish+http://[::1]:80/redfish/v1/Systems/a/",
            false,
            false,
        )
        .expect("target");
        assert_eq!(t.url, "http://[::1]:80/metal3-sim/hosts/a/console");
    }

    #[test]
    fn other_bmcs_have_no_console_with_the_backend_named() {
        let e = target("ipmi://10.0.0.5", false, false).expect_err("ipmi");
        assert!(
            e.starts_with("this host's BMC has no console this tool can read (ipmi BMC"),
            "{e}"
        );
        let e = target("redfish://10.0.0.5/redfish/v1/Managers/1", false, false)
            .expect_err("no system");
        assert!(e.contains("without a system"), "{e}");
        let e = target("", false, false).expect_err("empty");
        assert!(e.contains("no console"), "{e}");
    }

    #[test]
    fn the_simulators_refusal_is_explained() {
        let body = r#"{"error":{"code":"x","message":"simulated server s is not VM-backed (it has no console or disk files)"}}"#;
        let e = refusal(409, body, "redfish-virtualmedia+http", "s");
        assert!(e.contains("no console this tool can read"), "{e}");
        assert!(e.contains("not VM-backed"), "{e}");
        let e = refusal(404, "<html>", "redfish", "s");
        assert!(
            e.contains("not the Metal³ simulator's fleet listener"),
            "{e}"
        );
    }
}
