//! ComputerSystem and what hangs off it: power, boot override, NICs, processors, memory,
//! BIOS settings, Secure Boot (storage is in `storage`).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use std::sync::Arc;

use super::Fleet;
use super::{Ctx, collection, error, no_content, not_found, ok, post_time, precondition};
use crate::fleet::{BOOT_TARGETS, Host, Power, RESET_TYPES, Running};

type Id = Path<String>;
use axum::extract::RawQuery as Query;

/// Levels of `$expand` asked for (0 = none): `.`, `*` and `~` expand one level, and
/// `($levels=n)` up to the two the service offers.
pub(super) fn expand_levels(query: &Option<String>) -> u8 {
    let Some(query) = query else {
        return 0;
    };
    let Some(expand) = query.split('&').find_map(|kv| {
        kv.strip_prefix("$expand=")
            .or_else(|| kv.strip_prefix("%24expand="))
    }) else {
        return 0;
    };
    let expand = expand
        .replace("%28", "(")
        .replace("%29", ")")
        .replace("%3D", "=")
        .replace("%24", "$");
    let levels = expand
        .split("$levels=")
        .nth(1)
        .and_then(|rest| rest.trim_end_matches(')').parse::<u8>().ok())
        .unwrap_or(1);
    levels.clamp(1, 2)
}

/// Levels of `$expand` honoured for this request (none when the knobs say the BMC has none).
pub(super) fn expand(ctx: &Ctx, query: &Option<String>) -> u8 {
    if ctx.knobs().no_expand {
        0
    } else {
        expand_levels(query)
    }
}

/// A collection whose members are written out in full.
pub(super) fn expanded(odata_id: &str, odata_type: &str, name: &str, members: Vec<Value>) -> Value {
    json!({
        "@odata.id": odata_id,
        "@odata.type": odata_type,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

/// Total memory in GiB: a whole number when it is one (as most BMCs write it), else a decimal.
fn memory_gib(h: &Host) -> Value {
    let mib = h.memory_mib();
    if mib.is_multiple_of(1024) {
        json!(mib / 1024)
    } else {
        json!(mib as f64 / 1024.0)
    }
}

fn system_body(h: &Host) -> Value {
    let base = format!("/redfish/v1/Systems/{}", h.id);
    let healthy = json!({"State": "Enabled", "Health": "OK"});
    json!({
        "@odata.id": base,
        "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
        "Id": h.id,
        "Name": h.name,
        "UUID": h.id,
        "Manufacturer": "Metal3",
        "Model": "Simulated Server",
        "SerialNumber": format!("SIM{}", &h.id[h.id.len() - 8..]),
        "SystemType": "Physical",
        "PowerState": h.power.as_str(),
        "BiosVersion": h.firmware.bios,
        "Status": healthy,
        "Boot": {
            "BootSourceOverrideTarget": h.boot.target,
            "BootSourceOverrideEnabled": h.boot.enabled,
            "BootSourceOverrideMode": h.boot.mode,
            "BootSourceOverrideTarget@Redfish.AllowableValues": BOOT_TARGETS,
            "HttpBootUri": h.boot.http_boot_uri,
        },
        "ProcessorSummary": {"Count": h.cpus, "Model": "Simulated CPU", "Status": healthy},
        "MemorySummary": {"TotalSystemMemoryGiB": memory_gib(h), "Status": healthy},
        "Processors": {"@odata.id": format!("{base}/Processors")},
        "Memory": {"@odata.id": format!("{base}/Memory")},
        "EthernetInterfaces": {"@odata.id": format!("{base}/EthernetInterfaces")},
        "SimpleStorage": {"@odata.id": format!("{base}/SimpleStorage")},
        "Storage": {"@odata.id": format!("{base}/Storage")},
        "Bios": {"@odata.id": format!("{base}/Bios")},
        "SecureBoot": {"@odata.id": format!("{base}/SecureBoot")},
        "Links": {
            "ManagedBy": [{"@odata.id": format!("/redfish/v1/Managers/{}", h.id)}],
            "Chassis": [{"@odata.id": format!("/redfish/v1/Chassis/{}", h.id)}],
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": format!("{base}/Actions/ComputerSystem.Reset"),
                "ResetType@Redfish.AllowableValues": RESET_TYPES,
            }
        },
    })
}

async fn systems(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Systems") {
        return r;
    }
    ok(collection(
        "/redfish/v1/Systems",
        "#ComputerSystemCollection.ComputerSystemCollection",
        "Computer System Collection",
        ctx.members("/redfish/v1/Systems"),
    ))
}

async fn system(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "GET System", |h, _| ok(system_body(h)))
}

async fn patch_system(
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Id,
    body: axum::Json<Value>,
) -> Response {
    ctx.with_host(&headers, &id, "PATCH System", |h, _| {
        if let Err(r) = precondition(&headers, &system_body(h)) {
            return r;
        }
        if let Some(boot) = body.get("Boot")
            && let Err(e) = h.patch_boot(boot)
        {
            return error(StatusCode::BAD_REQUEST, &e);
        }
        ok(system_body(h))
    })
}

async fn reset(ctx: Ctx, headers: HeaderMap, Path(id): Id, body: axum::Json<Value>) -> Response {
    let mut changed: Option<(usize, Power)> = None;
    let mut on_vm: Option<usize> = None;
    let reset_type = body.get("ResetType").and_then(Value::as_str).unwrap_or("");
    let response = ctx.with_host(&headers, &id, "POST Reset", |h, now| {
        if h.vm {
            // A real VM: its BMC task performs the reset and the model follows the VM.
            if !RESET_TYPES.contains(&reset_type) {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "ResetType {reset_type:?} is not one of {}",
                        RESET_TYPES.join(", ")
                    ),
                );
            }
            on_vm = Some(h.index);
            return no_content();
        }
        match h.reset(reset_type, now, post_time(&ctx.fleet, h.index)) {
            Ok(power) => {
                changed = power.map(|p| (h.index, p));
                no_content()
            }
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        }
    });
    if let Some((index, power)) = changed {
        ctx.power_changed(index, &id, power);
    }
    if let Some(vm) = on_vm.and_then(|i| ctx.fleet.vm(i))
        && let Err(e) = vm.reset(reset_type).await
    {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    response
}

fn nic_body(h: &Host, nic: &str) -> Option<Value> {
    let index = nic
        .strip_prefix("nic")
        .and_then(|n| n.parse::<usize>().ok());
    let mac = index.and_then(|i| h.macs.get(i))?;
    Some(json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/EthernetInterfaces/{nic}", h.id),
        "@odata.type": "#EthernetInterface.v1_4_0.EthernetInterface",
        "Id": nic,
        "Name": nic,
        "MACAddress": mac,
        "PermanentMACAddress": mac,
        "SpeedMbps": 25000,
        "LinkStatus": "LinkUp",
        "Status": {"State": "Enabled", "Health": "OK"},
    }))
}

async fn nics(ctx: Ctx, headers: HeaderMap, Path(id): Id, Query(q): Query) -> Response {
    let levels = expand(&ctx, &q);
    ctx.with_host(&headers, &id, "GET EthernetInterfaces", |h, _| {
        let base = format!("/redfish/v1/Systems/{}/EthernetInterfaces", h.id);
        let kind = "#EthernetInterfaceCollection.EthernetInterfaceCollection";
        let ids = (0..h.macs.len()).map(|i| format!("nic{i}"));
        if levels > 0 {
            let members = ids.filter_map(|n| nic_body(h, &n)).collect();
            return ok(expanded(&base, kind, "Ethernet Interfaces", members));
        }
        ok(collection(
            &base,
            kind,
            "Ethernet Interfaces",
            ids.map(|n| format!("{base}/{n}")).collect(),
        ))
    })
}

async fn nic(ctx: Ctx, headers: HeaderMap, Path((id, nic)): Path<(String, String)>) -> Response {
    ctx.with_host(&headers, &id, "GET EthernetInterface", |h, _| {
        nic_body(h, &nic)
            .map(ok)
            .unwrap_or_else(|| not_found(&format!("EthernetInterface {nic}")))
    })
}

fn processor_body(h: &Host, cpu: &str) -> Option<Value> {
    let known = cpu
        .strip_prefix("CPU")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n < h.cpus);
    known.then(|| {
        json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/Processors/{cpu}", h.id),
            "@odata.type": "#Processor.v1_7_0.Processor",
            "Id": cpu,
            "Name": cpu,
            "Socket": cpu,
            "ProcessorType": "CPU",
            "ProcessorArchitecture": "x86",
            "InstructionSet": "x86-64",
            "Manufacturer": "Metal3",
            "Model": "Simulated CPU",
            "MaxSpeedMHz": 2400,
            "TotalCores": 8,
            "TotalThreads": 16,
            "Status": {"State": "Enabled", "Health": "OK"},
        })
    })
}

async fn processors(ctx: Ctx, headers: HeaderMap, Path(id): Id, Query(q): Query) -> Response {
    let levels = expand(&ctx, &q);
    ctx.with_host(&headers, &id, "GET Processors", |h, _| {
        let base = format!("/redfish/v1/Systems/{}/Processors", h.id);
        let kind = "#ProcessorCollection.ProcessorCollection";
        let ids = (0..h.cpus).map(|i| format!("CPU{i}"));
        if levels > 0 {
            let members = ids.filter_map(|c| processor_body(h, &c)).collect();
            return ok(expanded(&base, kind, "Processors", members));
        }
        ok(collection(
            &base,
            kind,
            "Processors",
            ids.map(|c| format!("{base}/{c}")).collect(),
        ))
    })
}

async fn processor(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, cpu)): Path<(String, String)>,
) -> Response {
    ctx.with_host(&headers, &id, "GET Processor", |h, _| {
        processor_body(h, &cpu)
            .map(ok)
            .unwrap_or_else(|| not_found(&format!("Processor {cpu}")))
    })
}

async fn memory(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "GET Memory", |h, _| {
        let base = format!("/redfish/v1/Systems/{}/Memory", h.id);
        let members = (0..h.dimms_mib.len())
            .map(|i| format!("{base}/DIMM{i}"))
            .collect();
        ok(collection(
            &base,
            "#MemoryCollection.MemoryCollection",
            "Memory",
            members,
        ))
    })
}

async fn dimm(ctx: Ctx, headers: HeaderMap, Path((id, dimm)): Path<(String, String)>) -> Response {
    ctx.with_host(&headers, &id, "GET Memory", |h, _| {
        let size = dimm
            .strip_prefix("DIMM")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|i| h.dimms_mib.get(i));
        let Some(mib) = size else {
            return not_found(&format!("Memory {dimm}"));
        };
        ok(json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/Memory/{dimm}", h.id),
            "@odata.type": "#Memory.v1_7_0.Memory",
            "Id": dimm,
            "Name": dimm,
            "CapacityMiB": mib,
            "MemoryDeviceType": "DDR4",
            "MemoryType": "DRAM",
            "OperatingSpeedMhz": 3200,
            "Manufacturer": "Metal3",
            "Status": {"State": "Enabled", "Health": "OK"},
        }))
    })
}

fn bios_body(h: &Host) -> Value {
    let base = format!("/redfish/v1/Systems/{}/Bios", h.id);
    json!({
        "@odata.id": base,
        "@odata.type": "#Bios.v1_1_0.Bios",
        "Id": "Bios",
        "Name": "BIOS Configuration",
        "AttributeRegistry": crate::bios::REGISTRY,
        "Attributes": h.bios.current,
        "@Redfish.Settings": {
            "@odata.type": "#Settings.v1_3_0.Settings",
            "SettingsObject": {"@odata.id": format!("{base}/Settings")},
            "SupportedApplyTimes": ["OnReset"],
        },
        "Actions": {
            "#Bios.ResetBios": {"target": format!("{base}/Actions/Bios.ResetBios")},
            "#Bios.ChangePassword": {"target": format!("{base}/Actions/Bios.ChangePassword")},
        },
    })
}

fn bios_settings_body(h: &Host) -> Value {
    json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/Bios/Settings", h.id),
        "@odata.type": "#Bios.v1_1_0.Bios",
        "Id": "Settings",
        "Name": "BIOS Pending Settings",
        "AttributeRegistry": crate::bios::REGISTRY,
        "Attributes": h.bios.pending,
    })
}

async fn bios(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "GET Bios", |h, _| ok(bios_body(h)))
}

async fn bios_settings(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "GET BiosSettings", |h, _| {
        ok(bios_settings_body(h))
    })
}

async fn patch_bios_settings(
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Id,
    body: axum::Json<Value>,
) -> Response {
    ctx.with_host(&headers, &id, "PATCH BiosSettings", |h, _| {
        if let Err(r) = precondition(&headers, &bios_settings_body(h)) {
            return r;
        }
        let Some(attributes) = body.get("Attributes").and_then(Value::as_object) else {
            return error(
                StatusCode::BAD_REQUEST,
                "the body needs an Attributes object",
            );
        };
        match h.bios.stage(attributes) {
            Ok(()) => no_content(),
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        }
    })
}

async fn reset_bios(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "POST ResetBios", |h, _| {
        h.bios.stage_defaults();
        no_content()
    })
}

fn secure_boot_body(h: &Host) -> Value {
    let on_off = |b: bool| if b { "Enabled" } else { "Disabled" };
    json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/SecureBoot", h.id),
        "@odata.type": "#SecureBoot.v1_1_0.SecureBoot",
        "Id": "SecureBoot",
        "Name": "UEFI Secure Boot",
        "SecureBootEnable": h.secure_boot,
        "SecureBootCurrentBoot": on_off(h.secure_boot_current),
        "SecureBootMode": "DeployedMode",
    })
}

async fn secure_boot(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "GET SecureBoot", |h, _| {
        ok(secure_boot_body(h))
    })
}

async fn patch_secure_boot(
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Id,
    body: axum::Json<Value>,
) -> Response {
    ctx.with_host(&headers, &id, "PATCH SecureBoot", |h, _| {
        if let Err(r) = precondition(&headers, &secure_boot_body(h)) {
            return r;
        }
        match body.get("SecureBootEnable") {
            Some(Value::Bool(on)) => {
                if *on && h.boot.mode != "UEFI" {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "Secure Boot needs UEFI boot mode (BootSourceOverrideMode UEFI)",
                    );
                }
                h.secure_boot = *on;
                ok(secure_boot_body(h))
            }
            _ => error(
                StatusCode::BAD_REQUEST,
                "the body needs SecureBootEnable: true or false",
            ),
        }
    })
}

/// What the server runs, for the simulator's own host view.
pub(super) fn running_text(r: &Running) -> String {
    match r {
        Running::Nothing => "nothing".into(),
        Running::VirtualMedia(image) => format!("virtual media {image}"),
        Running::Disk => "disk".into(),
        Running::Network => "network boot".into(),
        Running::HttpBoot(uri) => format!("UEFI HTTP boot of {uri}"),
        Running::Setup => "firmware setup".into(),
        Running::Booting => "power-on self test".into(),
    }
}

pub(super) fn routes() -> Router<Arc<Fleet>> {
    let sys = "/redfish/v1/Systems/{id}";
    Router::new()
        .route("/redfish/v1/Systems", get(systems))
        .route(sys, get(system).patch(patch_system))
        .route(&format!("{sys}/Actions/ComputerSystem.Reset"), post(reset))
        .route(&format!("{sys}/EthernetInterfaces"), get(nics))
        .route(&format!("{sys}/EthernetInterfaces/{{nic}}"), get(nic))
        .route(&format!("{sys}/Processors"), get(processors))
        .route(&format!("{sys}/Processors/{{cpu}}"), get(processor))
        .route(&format!("{sys}/Memory"), get(memory))
        .route(&format!("{sys}/Memory/{{dimm}}"), get(dimm))
        .route(&format!("{sys}/Bios"), get(bios))
        .route(
            &format!("{sys}/Bios/Settings"),
            get(bios_settings).patch(patch_bios_settings),
        )
        .route(
            &format!("{sys}/Bios/Actions/Bios.ResetBios"),
            post(reset_bios),
        )
        .route(
            &format!("{sys}/SecureBoot"),
            get(secure_boot).patch(patch_secure_boot),
        )
}

#[cfg(test)]
mod tests {
    use super::expand_levels;

    #[test]
    fn expand_queries() {
        let q = |s: &str| Some(s.to_string());
        assert_eq!(expand_levels(&None), 0);
        assert_eq!(expand_levels(&q("$select=Id")), 0);
        assert_eq!(expand_levels(&q("$expand=.")), 1);
        assert_eq!(expand_levels(&q("$expand=*")), 1);
        assert_eq!(expand_levels(&q("$expand=.($levels=2)")), 2);
        assert_eq!(expand_levels(&q("%24expand=.%28%24levels%3D2%29")), 2);
        assert_eq!(
            expand_levels(&q("$expand=.($levels=9)")),
            2,
            "at most what is offered"
        );
    }
}
