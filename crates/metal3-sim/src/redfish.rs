//! The Redfish service of the fleet: DMTF resource shapes over HTTP (axum).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

use crate::faults::{Dice, Faults, Verdict};
use crate::fleet::{BOOT_TARGETS, Host, RESET_TYPES};

/// The shared state of one simulator.
pub struct Fleet {
    hosts: Vec<Mutex<Host>>,
    faults: Mutex<Faults>,
    dice: Dice,
    in_flight: Vec<AtomicUsize>,
    username: String,
    password: String,
    sessions: Mutex<HashSet<String>>,
    next_session: Mutex<u64>,
}

impl Fleet {
    /// `count` powered-off servers whose BMCs accept `username`/`password`.
    pub fn new(count: usize, username: &str, password: &str) -> Arc<Self> {
        Arc::new(Self {
            hosts: (0..count)
                .map(|i| Mutex::new(Host::new(i, username, password)))
                .collect(),
            faults: Mutex::new(Faults::default()),
            dice: Dice::new(0x5eed),
            in_flight: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            username: username.into(),
            password: password.into(),
            sessions: Mutex::new(HashSet::new()),
            next_session: Mutex::new(0),
        })
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *lock(&self.faults) = faults;
        Ok(())
    }

    /// The fault settings.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// The index of the server a request path is about, if any.
    fn index_of(&self, path: &str) -> Option<usize> {
        let rest = path.strip_prefix("/redfish/v1/")?;
        let mut parts = rest.split('/');
        let kind = parts.next()?;
        if !matches!(kind, "Systems" | "Managers" | "Chassis") {
            return None;
        }
        let id = parts.next()?;
        let index = usize::from_str_radix(id.rsplit('-').next()?, 16).ok()?;
        (index < self.hosts.len()).then_some(index)
    }

    /// A snapshot of server `index`.
    pub fn host(&self, index: usize) -> Option<Host> {
        self.hosts.get(index).map(|h| lock(h).clone())
    }

    fn find(&self, id: &str) -> Option<MutexGuard<'_, Host>> {
        // Ids end with the index in hex: no scan needed.
        let index = usize::from_str_radix(id.rsplit('-').next()?, 16).ok()?;
        let host = lock(self.hosts.get(index)?);
        (host.id == id).then_some(host)
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        if let Some(token) = headers.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
            return lock(&self.sessions).contains(token);
        }
        let Some(basic) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
            return false;
        };
        let expected = format!("{}:{}", self.username, self.password);
        decoded == expected.as_bytes()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = State<Arc<Fleet>>;

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {
        "code": "Base.1.0.GeneralError",
        "message": message,
        "@Message.ExtendedInfo": [{"MessageId": "Base.1.0.GeneralError", "Message": message}],
    }});
    (status, axum::Json(body)).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn unauthorised() -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "authentication required");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"metal3-sim\""),
    );
    r
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("{what} not found"))
}

fn collection(odata_id: &str, odata_type: &str, name: &str, members: Vec<String>) -> Value {
    json!({
        "@odata.id": odata_id,
        "@odata.type": odata_type,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members.into_iter().map(|m| json!({"@odata.id": m})).collect::<Vec<_>>(),
    })
}

/// Runs `f` on host `id`, after checking credentials, counting the call.
fn with_host(
    fleet: &Fleet,
    headers: &HeaderMap,
    id: &str,
    call: &str,
    f: impl FnOnce(&mut Host) -> Response,
) -> Response {
    if !fleet.authorised(headers) {
        return unauthorised();
    }
    match fleet.find(id) {
        Some(mut host) => {
            *host.calls.entry(call.to_string()).or_insert(0) += 1;
            f(&mut host)
        }
        None => not_found(&format!("System {id}")),
    }
}

async fn root() -> Response {
    ok(json!({"v1": "/redfish/v1/"}))
}

async fn service_root() -> Response {
    ok(json!({
        "@odata.id": "/redfish/v1/",
        "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
        "Id": "RootService",
        "Name": "Metal3 simulated BMC",
        "RedfishVersion": "1.8.0",
        "UUID": "5e5e0000-0000-4000-8000-000000000000",
        "Systems": {"@odata.id": "/redfish/v1/Systems"},
        "Managers": {"@odata.id": "/redfish/v1/Managers"},
        "Chassis": {"@odata.id": "/redfish/v1/Chassis"},
        "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
        "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}},
    }))
}

async fn session_service(State(fleet): Shared, headers: HeaderMap) -> Response {
    if !fleet.authorised(&headers) {
        return unauthorised();
    }
    ok(json!({
        "@odata.id": "/redfish/v1/SessionService",
        "@odata.type": "#SessionService.v1_1_6.SessionService",
        "Id": "SessionService",
        "Name": "Session Service",
        "ServiceEnabled": true,
        "SessionTimeout": 1800,
        "Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"},
    }))
}

async fn create_session(State(fleet): Shared, body: axum::Json<Value>) -> Response {
    let user = body.get("UserName").and_then(Value::as_str).unwrap_or("");
    let pass = body.get("Password").and_then(Value::as_str).unwrap_or("");
    if user != fleet.username || pass != fleet.password {
        return unauthorised();
    }
    let id = {
        let mut next = lock(&fleet.next_session);
        *next += 1;
        *next
    };
    let token = format!("sim-token-{id:016x}");
    lock(&fleet.sessions).insert(token.clone());
    let location = format!("/redfish/v1/SessionService/Sessions/{id}");
    let body = json!({
        "@odata.id": location,
        "@odata.type": "#Session.v1_1_0.Session",
        "Id": id.to_string(),
        "Name": "User Session",
        "UserName": user,
    });
    let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let (Ok(t), Ok(l)) = (
        HeaderValue::from_str(&token),
        HeaderValue::from_str(&location),
    ) {
        r.headers_mut().insert("X-Auth-Token", t);
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

async fn sessions(State(fleet): Shared, headers: HeaderMap) -> Response {
    if !fleet.authorised(&headers) {
        return unauthorised();
    }
    ok(collection(
        "/redfish/v1/SessionService/Sessions",
        "#SessionCollection.SessionCollection",
        "Sessions",
        Vec::new(),
    ))
}

async fn delete_session(State(fleet): Shared, headers: HeaderMap) -> Response {
    if let Some(token) = headers.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
        lock(&fleet.sessions).remove(token);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn members(fleet: &Fleet, prefix: &str) -> Vec<String> {
    fleet
        .hosts
        .iter()
        .map(|h| format!("{prefix}/{}", lock(h).id))
        .collect()
}

async fn systems(State(fleet): Shared, headers: HeaderMap) -> Response {
    if !fleet.authorised(&headers) {
        return unauthorised();
    }
    ok(collection(
        "/redfish/v1/Systems",
        "#ComputerSystemCollection.ComputerSystemCollection",
        "Computer System Collection",
        members(&fleet, "/redfish/v1/Systems"),
    ))
}

fn system_body(h: &Host) -> Value {
    let base = format!("/redfish/v1/Systems/{}", h.id);
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
        "BiosVersion": "1.0.0",
        "Status": {"State": "Enabled", "Health": "OK"},
        "Boot": {
            "BootSourceOverrideTarget": h.boot.target,
            "BootSourceOverrideEnabled": h.boot.enabled,
            "BootSourceOverrideMode": h.boot.mode,
            "BootSourceOverrideTarget@Redfish.AllowableValues": BOOT_TARGETS,
        },
        "ProcessorSummary": {"Count": h.cpus, "Model": "Simulated CPU", "Status": {"State": "Enabled", "Health": "OK"}},
        "MemorySummary": {"TotalSystemMemoryGiB": h.memory_gib, "Status": {"State": "Enabled", "Health": "OK"}},
        "Processors": {"@odata.id": format!("{base}/Processors")},
        "EthernetInterfaces": {"@odata.id": format!("{base}/EthernetInterfaces")},
        "SimpleStorage": {"@odata.id": format!("{base}/SimpleStorage")},
        "Bios": {"@odata.id": format!("{base}/Bios")},
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

async fn system(State(fleet): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    with_host(&fleet, &headers, &id, "GET System", |h| ok(system_body(h)))
}

async fn patch_system(
    State(fleet): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::Json<Value>,
) -> Response {
    with_host(&fleet, &headers, &id, "PATCH System", |h| {
        if let Some(boot) = body.get("Boot")
            && let Err(e) = h.patch_boot(boot)
        {
            return error(StatusCode::BAD_REQUEST, &e);
        }
        ok(system_body(h))
    })
}

async fn reset(
    State(fleet): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::Json<Value>,
) -> Response {
    with_host(&fleet, &headers, &id, "POST Reset", |h| {
        let reset_type = body.get("ResetType").and_then(Value::as_str).unwrap_or("");
        match h.reset(reset_type) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        }
    })
}

async fn nics(State(fleet): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    with_host(&fleet, &headers, &id, "GET EthernetInterfaces", |h| {
        let base = format!("/redfish/v1/Systems/{}/EthernetInterfaces", h.id);
        let members = (0..h.macs.len())
            .map(|i| format!("{base}/nic{i}"))
            .collect();
        ok(collection(
            &base,
            "#EthernetInterfaceCollection.EthernetInterfaceCollection",
            "Ethernet Interfaces",
            members,
        ))
    })
}

async fn nic(
    State(fleet): Shared,
    headers: HeaderMap,
    Path((id, nic)): Path<(String, String)>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET EthernetInterface", |h| {
        let index = nic
            .strip_prefix("nic")
            .and_then(|n| n.parse::<usize>().ok());
        let Some(mac) = index.and_then(|i| h.macs.get(i)) else {
            return not_found(&format!("EthernetInterface {nic}"));
        };
        ok(json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/EthernetInterfaces/{nic}", h.id),
            "@odata.type": "#EthernetInterface.v1_4_0.EthernetInterface",
            "Id": nic,
            "Name": nic,
            "MACAddress": mac,
            "PermanentMACAddress": mac,
            "SpeedMbps": 25000,
            "Status": {"State": "Enabled", "Health": "OK"},
        }))
    })
}

async fn processors(State(fleet): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    with_host(&fleet, &headers, &id, "GET Processors", |h| {
        let base = format!("/redfish/v1/Systems/{}/Processors", h.id);
        let members = (0..h.cpus).map(|i| format!("{base}/CPU{i}")).collect();
        ok(collection(
            &base,
            "#ProcessorCollection.ProcessorCollection",
            "Processors",
            members,
        ))
    })
}

async fn processor(
    State(fleet): Shared,
    headers: HeaderMap,
    Path((id, cpu)): Path<(String, String)>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET Processor", |h| {
        let known = cpu
            .strip_prefix("CPU")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < h.cpus);
        if !known {
            return not_found(&format!("Processor {cpu}"));
        }
        ok(json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/Processors/{cpu}", h.id),
            "@odata.type": "#Processor.v1_7_0.Processor",
            "Id": cpu,
            "Name": cpu,
            "ProcessorType": "CPU",
            "ProcessorArchitecture": "x86",
            "InstructionSet": "x86-64",
            "Model": "Simulated CPU",
            "MaxSpeedMHz": 2400,
            "TotalCores": 8,
            "TotalThreads": 16,
            "Status": {"State": "Enabled", "Health": "OK"},
        }))
    })
}

async fn simple_storage(
    State(fleet): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET SimpleStorage", |h| {
        let base = format!("/redfish/v1/Systems/{}/SimpleStorage", h.id);
        ok(collection(
            &base,
            "#SimpleStorageCollection.SimpleStorageCollection",
            "Simple Storage Collection",
            vec![format!("{base}/1")],
        ))
    })
}

async fn simple_storage_member(
    State(fleet): Shared,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET SimpleStorage", |h| {
        if member != "1" {
            return not_found(&format!("SimpleStorage {member}"));
        }
        ok(json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/SimpleStorage/1", h.id),
            "@odata.type": "#SimpleStorage.v1_2_0.SimpleStorage",
            "Id": "1",
            "Name": "Simple Storage Controller",
            "Devices": [{
                "Name": "Simulated SSD",
                "Model": "Simulated SSD",
                "CapacityBytes": h.disk_bytes,
                "Status": {"State": "Enabled", "Health": "OK"},
            }],
            "Status": {"State": "Enabled", "Health": "OK"},
        }))
    })
}

async fn bios(State(fleet): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    with_host(&fleet, &headers, &id, "GET Bios", |h| {
        let base = format!("/redfish/v1/Systems/{}/Bios", h.id);
        ok(json!({
            "@odata.id": base,
            "@odata.type": "#Bios.v1_0_0.Bios",
            "Id": "Bios",
            "Name": "BIOS Configuration",
            "AttributeRegistry": "BiosAttributeRegistry.v1_0_0",
            "Attributes": h.bios,
            "@Redfish.Settings": {
                "@odata.type": "#Settings.v1_0_0.Settings",
                "SettingsObject": {"@odata.id": format!("{base}/Settings")},
            },
            "Actions": {
                "#Bios.ResetBios": {"target": format!("{base}/Actions/Bios.ResetBios")},
                "#Bios.ChangePassword": {"target": format!("{base}/Actions/Bios.ChangePassword")},
            },
        }))
    })
}

async fn bios_settings(
    State(fleet): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET BiosSettings", |h| {
        ok(json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/Bios/Settings", h.id),
            "@odata.type": "#Bios.v1_0_0.Bios",
            "Id": "Settings",
            "Name": "BIOS Pending Settings",
            "Attributes": h.pending_bios,
        }))
    })
}

async fn patch_bios_settings(
    State(fleet): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::Json<Value>,
) -> Response {
    with_host(&fleet, &headers, &id, "PATCH BiosSettings", |h| {
        let Some(attributes) = body.get("Attributes").and_then(Value::as_object) else {
            return error(
                StatusCode::BAD_REQUEST,
                "the body needs an Attributes object",
            );
        };
        match h.stage_bios(attributes) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        }
    })
}

async fn managers(State(fleet): Shared, headers: HeaderMap) -> Response {
    if !fleet.authorised(&headers) {
        return unauthorised();
    }
    ok(collection(
        "/redfish/v1/Managers",
        "#ManagerCollection.ManagerCollection",
        "Manager Collection",
        members(&fleet, "/redfish/v1/Managers"),
    ))
}

async fn manager(State(fleet): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    with_host(&fleet, &headers, &id, "GET Manager", |h| {
        let base = format!("/redfish/v1/Managers/{}", h.id);
        ok(json!({
            "@odata.id": base,
            "@odata.type": "#Manager.v1_5_0.Manager",
            "Id": h.id,
            "Name": format!("BMC of {}", h.name),
            "ManagerType": "BMC",
            "FirmwareVersion": "1.0.0",
            "Status": {"State": "Enabled", "Health": "OK"},
            "VirtualMedia": {"@odata.id": format!("{base}/VirtualMedia")},
            "Links": {"ManagerForServers": [{"@odata.id": format!("/redfish/v1/Systems/{}", h.id)}]},
        }))
    })
}

async fn virtual_media(
    State(fleet): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET VirtualMedia", |h| {
        let base = format!("/redfish/v1/Managers/{}/VirtualMedia", h.id);
        ok(collection(
            &base,
            "#VirtualMediaCollection.VirtualMediaCollection",
            "Virtual Media Services",
            vec![format!("{base}/Cd"), format!("{base}/Usb")],
        ))
    })
}

fn media_body(h: &mut Host, dev: &str) -> Option<Value> {
    let id = h.id.clone();
    let media = h.media(dev)?.clone();
    let base = format!("/redfish/v1/Managers/{id}/VirtualMedia/{dev}");
    let types = if dev == "Cd" {
        json!(["CD", "DVD"])
    } else {
        json!(["USBStick"])
    };
    Some(json!({
        "@odata.id": base,
        "@odata.type": "#VirtualMedia.v1_3_0.VirtualMedia",
        "Id": dev,
        "Name": format!("Virtual {dev}"),
        "MediaTypes": types,
        "Image": media.image,
        "ImageName": media.image.as_deref().and_then(|i| i.rsplit('/').next()),
        "Inserted": media.inserted,
        "WriteProtected": media.write_protected,
        "ConnectedVia": if media.inserted { "URI" } else { "NotConnected" },
        "Actions": {
            "#VirtualMedia.InsertMedia": {"target": format!("{base}/Actions/VirtualMedia.InsertMedia")},
            "#VirtualMedia.EjectMedia": {"target": format!("{base}/Actions/VirtualMedia.EjectMedia")},
        },
    }))
}

async fn media(
    State(fleet): Shared,
    headers: HeaderMap,
    Path((id, dev)): Path<(String, String)>,
) -> Response {
    with_host(&fleet, &headers, &id, "GET VirtualMedia", |h| {
        media_body(h, &dev)
            .map(ok)
            .unwrap_or_else(|| not_found(&format!("VirtualMedia {dev}")))
    })
}

async fn insert_media(
    State(fleet): Shared,
    headers: HeaderMap,
    Path((id, dev)): Path<(String, String)>,
    body: axum::Json<Value>,
) -> Response {
    with_host(&fleet, &headers, &id, "POST InsertMedia", |h| {
        let Some(image) = body.get("Image").and_then(Value::as_str) else {
            return error(StatusCode::BAD_REQUEST, "InsertMedia needs an Image URL");
        };
        let inserted = body
            .get("Inserted")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let write_protected = body
            .get("WriteProtected")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let Some(media) = h.media(&dev) else {
            return not_found(&format!("VirtualMedia {dev}"));
        };
        if media.inserted {
            return error(
                StatusCode::CONFLICT,
                "a medium is already inserted; eject it first",
            );
        }
        media.image = Some(image.to_string());
        media.inserted = inserted;
        media.write_protected = write_protected;
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn eject_media(
    State(fleet): Shared,
    headers: HeaderMap,
    Path((id, dev)): Path<(String, String)>,
) -> Response {
    with_host(&fleet, &headers, &id, "POST EjectMedia", |h| {
        let Some(media) = h.media(&dev) else {
            return not_found(&format!("VirtualMedia {dev}"));
        };
        media.image = None;
        media.inserted = false;
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn chassis_collection(State(fleet): Shared, headers: HeaderMap) -> Response {
    if !fleet.authorised(&headers) {
        return unauthorised();
    }
    ok(collection(
        "/redfish/v1/Chassis",
        "#ChassisCollection.ChassisCollection",
        "Chassis Collection",
        members(&fleet, "/redfish/v1/Chassis"),
    ))
}

async fn chassis(State(fleet): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    with_host(&fleet, &headers, &id, "GET Chassis", |h| {
        ok(json!({
            "@odata.id": format!("/redfish/v1/Chassis/{}", h.id),
            "@odata.type": "#Chassis.v1_10_0.Chassis",
            "Id": h.id,
            "Name": format!("Chassis of {}", h.name),
            "ChassisType": "RackMount",
            "PowerState": h.power.as_str(),
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ComputerSystems": [{"@odata.id": format!("/redfish/v1/Systems/{}", h.id)}]},
        }))
    })
}

/// Calls answered per host and per kind of request: the benchmark's "BMC calls" figure.
async fn calls(State(fleet): Shared) -> Response {
    let per_host: serde_json::Map<String, Value> = fleet
        .hosts
        .iter()
        .map(|h| {
            let h = lock(h);
            (h.id.clone(), json!(h.calls))
        })
        .collect();
    ok(Value::Object(per_host))
}

/// Releases a BMC's concurrency slot when the request ends (or is dropped).
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Applies the fault settings to requests for one server.
async fn fault_layer(
    State(fleet): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(index) = fleet.index_of(request.uri().path()) else {
        return next.run(request).await;
    };
    let faults = fleet.faults();
    let counter = &fleet.in_flight[index];
    let before = counter.fetch_add(1, Ordering::AcqRel);
    let _slot = Slot(counter);
    if faults.concurrency_limit > 0 && before >= faults.concurrency_limit {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the BMC is busy with other requests; retry later",
        );
    }
    let (latency, verdict) = fleet.dice.judge(&faults);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match verdict {
        Verdict::Serve => next.run(request).await,
        Verdict::Fail => error(StatusCode::INTERNAL_SERVER_ERROR, "injected BMC failure"),
        Verdict::Hang => std::future::pending().await,
    }
}

async fn get_faults(State(fleet): Shared) -> Response {
    ok(json!(fleet.faults()))
}

async fn put_faults(State(fleet): Shared, body: axum::Json<Value>) -> Response {
    let faults: Faults = match serde_json::from_value(body.0) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match fleet.set_faults(faults) {
        Ok(()) => get_faults(State(fleet)).await,
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// The simulator's routes.
pub fn router(fleet: Arc<Fleet>) -> Router {
    let sys = "/redfish/v1/Systems/{id}";
    let mgr = "/redfish/v1/Managers/{id}";
    Router::new()
        .route("/redfish", get(root))
        .route("/redfish/v1", get(service_root))
        .route("/redfish/v1/", get(service_root))
        .route("/redfish/v1/SessionService", get(session_service))
        .route(
            "/redfish/v1/SessionService/Sessions",
            get(sessions).post(create_session),
        )
        .route(
            "/redfish/v1/SessionService/Sessions/{sid}",
            axum::routing::delete(delete_session),
        )
        .route("/redfish/v1/Systems", get(systems))
        .route(sys, get(system).patch(patch_system))
        .route(&format!("{sys}/Actions/ComputerSystem.Reset"), post(reset))
        .route(&format!("{sys}/EthernetInterfaces"), get(nics))
        .route(&format!("{sys}/EthernetInterfaces/{{nic}}"), get(nic))
        .route(&format!("{sys}/Processors"), get(processors))
        .route(&format!("{sys}/Processors/{{cpu}}"), get(processor))
        .route(&format!("{sys}/SimpleStorage"), get(simple_storage))
        .route(
            &format!("{sys}/SimpleStorage/{{member}}"),
            get(simple_storage_member),
        )
        .route(&format!("{sys}/Bios"), get(bios))
        .route(
            &format!("{sys}/Bios/Settings"),
            get(bios_settings).patch(patch_bios_settings),
        )
        .route("/redfish/v1/Managers", get(managers))
        .route(mgr, get(manager))
        .route(&format!("{mgr}/VirtualMedia"), get(virtual_media))
        .route(&format!("{mgr}/VirtualMedia/{{dev}}"), get(media))
        .route(
            &format!("{mgr}/VirtualMedia/{{dev}}/Actions/VirtualMedia.InsertMedia"),
            post(insert_media),
        )
        .route(
            &format!("{mgr}/VirtualMedia/{{dev}}/Actions/VirtualMedia.EjectMedia"),
            post(eject_media),
        )
        .route("/redfish/v1/Chassis", get(chassis_collection))
        .route("/redfish/v1/Chassis/{id}", get(chassis))
        .route("/metal3-sim/calls", get(calls))
        .route("/metal3-sim/faults", get(get_faults).put(put_faults))
        .layer(axum::middleware::from_fn_with_state(
            fleet.clone(),
            fault_layer,
        ))
        .with_state(fleet)
}

/// Serves the fleet on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, fleet: Arc<Fleet>) -> std::io::Result<()> {
    axum::serve(listener, router(fleet)).await
}
