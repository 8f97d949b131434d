//! Service-level resources: the service root, sessions, registries, UpdateService,
//! TaskService and EventService.

use std::time::Instant;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use std::sync::Arc;

use super::Fleet;
use super::{
    Ctx, Scope, accepted, collection, error, error_with, lock, no_content, not_found, ok,
    timestamp, unauthorised,
};
use crate::events::{Event, Request as SubscriptionRequest};
use crate::firmware::{COMPONENTS, Component};
use crate::sessions::Refusal;
use crate::tasks::Until;

const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";
const INVENTORY: &str = "/redfish/v1/UpdateService/FirmwareInventory";
const SUBSCRIPTIONS: &str = "/redfish/v1/EventService/Subscriptions";

async fn root() -> Response {
    ok(json!({"v1": "/redfish/v1/"}))
}

async fn service_root(ctx: Ctx) -> Response {
    ctx.count("GET ServiceRoot");
    let expand = !ctx.knobs().no_expand;
    let mut root = json!({
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
        "UpdateService": {"@odata.id": "/redfish/v1/UpdateService"},
        "TaskService": {"@odata.id": "/redfish/v1/TaskService"},
        "EventService": {"@odata.id": "/redfish/v1/EventService"},
        "Registries": {"@odata.id": "/redfish/v1/Registries"},
        "Links": {"Sessions": {"@odata.id": SESSIONS}},
    });
    if expand && let Some(map) = root.as_object_mut() {
        // `$expand` on the inventory collections (Processors, EthernetInterfaces, Storage).
        map.insert(
            "ProtocolFeaturesSupported".into(),
            json!({
                "ExpandQuery": {"ExpandAll": true, "Levels": true, "Links": true, "NoLinks": true, "MaxLevels": 2},
                "SelectQuery": false,
            }),
        );
    }
    ok(root)
}

async fn session_service(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET SessionService") {
        return r;
    }
    ok(json!({
        "@odata.id": "/redfish/v1/SessionService",
        "@odata.type": "#SessionService.v1_1_6.SessionService",
        "Id": "SessionService",
        "Name": "Session Service",
        "ServiceEnabled": true,
        "SessionTimeout": ctx.rules().timeout.as_secs(),
        "Sessions": {"@odata.id": SESSIONS},
    }))
}

async fn create_session(ctx: Ctx, body: axum::Json<Value>) -> Response {
    ctx.count("POST Sessions");
    if ctx.knobs().no_sessions {
        return error_with(
            StatusCode::METHOD_NOT_ALLOWED,
            "Base.1.8.ActionNotSupported",
            "this BMC has no session service; use basic authentication",
        );
    }
    let username = body.get("UserName").and_then(Value::as_str).unwrap_or("");
    let password = body.get("Password").and_then(Value::as_str).unwrap_or("");
    let valid = ctx.valid_for_service((username, password));
    if !valid {
        ctx.service
            .failures_seen
            .store(true, std::sync::atomic::Ordering::Release);
    }
    let rules = ctx.rules();
    let login = lock(&ctx.service.sessions).login(username, password, valid, Instant::now(), rules);
    let (id, token) = match login {
        Ok(session) => session,
        Err(Refusal::Limit) => {
            return error_with(
                StatusCode::SERVICE_UNAVAILABLE,
                "Base.1.8.SessionLimitExceeded",
                Refusal::Limit.message(),
            );
        }
        Err(refusal) => return unauthorised(refusal.message()),
    };
    let location = format!("{SESSIONS}/{id}");
    let body = json!({
        "@odata.id": location,
        "@odata.type": "#Session.v1_1_0.Session",
        "Id": id.to_string(),
        "Name": "User Session",
        "UserName": username,
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

async fn sessions(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Sessions") {
        return r;
    }
    let rules = ctx.rules();
    let members = lock(&ctx.service.sessions)
        .list(Instant::now(), rules)
        .iter()
        .map(|s| format!("{SESSIONS}/{}", s.id))
        .collect();
    ok(collection(
        SESSIONS,
        "#SessionCollection.SessionCollection",
        "Sessions",
        members,
    ))
}

async fn session(ctx: Ctx, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Session") {
        return r;
    }
    let rules = ctx.rules();
    let found = lock(&ctx.service.sessions)
        .list(Instant::now(), rules)
        .into_iter()
        .find(|s| s.id.to_string() == sid);
    match found {
        Some(s) => ok(json!({
            "@odata.id": format!("{SESSIONS}/{}", s.id),
            "@odata.type": "#Session.v1_1_0.Session",
            "Id": s.id.to_string(),
            "Name": "User Session",
            "UserName": s.username,
        })),
        None => not_found(&format!("Session {sid}")),
    }
}

async fn delete_session(ctx: Ctx, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "DELETE Session") {
        return r;
    }
    let removed = sid
        .parse::<u64>()
        .is_ok_and(|id| lock(&ctx.service.sessions).logout(id));
    if removed {
        no_content()
    } else {
        not_found(&format!("Session {sid}"))
    }
}

async fn registries(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Registries") {
        return r;
    }
    ok(collection(
        "/redfish/v1/Registries",
        "#MessageRegistryFileCollection.MessageRegistryFileCollection",
        "Registry File Collection",
        vec![format!("/redfish/v1/Registries/{}", crate::bios::REGISTRY)],
    ))
}

async fn registry_file(ctx: Ctx, headers: HeaderMap, Path(rid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Registry") {
        return r;
    }
    if rid != crate::bios::REGISTRY {
        return not_found(&format!("Registry {rid}"));
    }
    ok(json!({
        "@odata.id": format!("/redfish/v1/Registries/{rid}"),
        "@odata.type": "#MessageRegistryFile.v1_1_0.MessageRegistryFile",
        "Id": rid,
        "Name": "BIOS Attribute Registry File",
        "Registry": rid,
        "Languages": ["en"],
        "Location": [{"Language": "en", "Uri": format!("/redfish/v1/Registries/{rid}/{rid}.json")}],
    }))
}

async fn registry(
    ctx: Ctx,
    headers: HeaderMap,
    Path((rid, file)): Path<(String, String)>,
) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Registry") {
        return r;
    }
    if rid != crate::bios::REGISTRY || file != format!("{rid}.json") {
        return not_found(&format!("Registry file {rid}/{file}"));
    }
    let mut body = crate::bios::registry();
    if let Some(map) = body.as_object_mut() {
        map.insert(
            "@odata.id".into(),
            Value::from(format!("/redfish/v1/Registries/{rid}/{file}")),
        );
    }
    ok(body)
}

async fn update_service(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET UpdateService") {
        return r;
    }
    ok(json!({
        "@odata.id": "/redfish/v1/UpdateService",
        "@odata.type": "#UpdateService.v1_8_0.UpdateService",
        "Id": "UpdateService",
        "Name": "Update Service",
        "ServiceEnabled": true,
        "Status": {"State": "Enabled", "Health": "OK"},
        "FirmwareInventory": {"@odata.id": INVENTORY},
        "Actions": {"#UpdateService.SimpleUpdate": {
            "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
        }},
    }))
}

/// A firmware inventory id: the component on a one-server BMC, `<server id>.<component>` on a
/// many-server service.
fn inventory_id(scope: Scope, host_id: &str, c: Component) -> String {
    match scope {
        Scope::One(_) => c.id().to_string(),
        Scope::All => format!("{host_id}.{}", c.id()),
    }
}

fn parse_inventory_id(ctx: &Ctx, fid: &str) -> Option<(usize, Component)> {
    match ctx.service.scope {
        Scope::One(i) => Some((i, Component::parse(fid)?)),
        Scope::All => {
            let (host, c) = fid.rsplit_once('.')?;
            Some((ctx.index(host)?, Component::parse(c)?))
        }
    }
}

async fn inventory(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET FirmwareInventory") {
        return r;
    }
    let scope = ctx.service.scope;
    let members = ctx
        .members("")
        .iter()
        .flat_map(|m| {
            let host = m.trim_start_matches('/').to_string();
            COMPONENTS.map(|c| format!("{INVENTORY}/{}", inventory_id(scope, &host, c)))
        })
        .collect();
    ok(collection(
        INVENTORY,
        "#SoftwareInventoryCollection.SoftwareInventoryCollection",
        "Firmware Inventory",
        members,
    ))
}

async fn inventory_item(ctx: Ctx, headers: HeaderMap, Path(fid): Path<String>) -> Response {
    let Some((index, c)) = parse_inventory_id(&ctx, &fid) else {
        return not_found(&format!("Firmware {fid}"));
    };
    let host_id = lock(&ctx.fleet.hosts[index]).id.clone();
    ctx.with_host(&headers, &host_id, "GET FirmwareInventory", |h, _| {
        let related = match c {
            Component::Bmc => format!("/redfish/v1/Managers/{}", h.id),
            _ => format!("/redfish/v1/Systems/{}", h.id),
        };
        ok(json!({
            "@odata.id": format!("{INVENTORY}/{fid}"),
            "@odata.type": "#SoftwareInventory.v1_2_0.SoftwareInventory",
            "Id": fid,
            "Name": c.name(),
            "Version": h.firmware.version(c),
            "Updateable": true,
            "SoftwareId": c.id(),
            "Status": {"State": "Enabled", "Health": "OK"},
            "RelatedItem": [{"@odata.id": related}],
        }))
    })
}

/// The server a SimpleUpdate is for: from `Targets`, or the one server of this BMC.
fn update_target(ctx: &Ctx, body: &Value) -> Result<usize, String> {
    let targets: Vec<&str> = body
        .get("Targets")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut hosts = Vec::new();
    for t in &targets {
        let tail = t.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let index = ctx
            .index(tail)
            .or_else(|| parse_inventory_id(ctx, tail).map(|(i, _)| i))
            .ok_or_else(|| {
                format!("Targets: {t} is not a system, manager or firmware of this service")
            })?;
        if !hosts.contains(&index) {
            hosts.push(index);
        }
    }
    match (hosts.as_slice(), ctx.service.scope) {
        ([one], _) => Ok(*one),
        ([], Scope::One(i)) => Ok(i),
        ([], Scope::All) => Err(
            "Targets is required: this service manages many systems; name the system to update"
                .into(),
        ),
        _ => Err("Targets: name one system per update".into()),
    }
}

async fn simple_update(ctx: Ctx, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let index = match update_target(&ctx, &body) {
        Ok(i) => i,
        Err(e) => {
            ctx.count("POST SimpleUpdate");
            return error(StatusCode::BAD_REQUEST, &e);
        }
    };
    let Some(image) = body.get("ImageURI").and_then(Value::as_str) else {
        ctx.count("POST SimpleUpdate");
        return error(StatusCode::BAD_REQUEST, "ImageURI is required");
    };
    let host_id = lock(&ctx.fleet.hosts[index]).id.clone();
    let mut staged = None;
    let refused = ctx.with_host(&headers, &host_id, "POST SimpleUpdate", |h, _| {
        match h.firmware.update(image) {
            Ok((component, version)) => {
                let until = if component.needs_boot() {
                    Until::BootAfter(h.boots)
                } else {
                    Until::Now
                };
                staged = Some((component, version, until, h.boots));
                no_content()
            }
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        }
    });
    let Some((component, version, until, boots)) = staged else {
        return refused;
    };
    let name = format!("Update {} to {version}", component.name());
    let task = {
        let mut tasks = lock(&ctx.service.tasks);
        let id = tasks.add(index, name, until, timestamp());
        tasks.list.get(&id).cloned()
    };
    match task {
        Some(task) => accepted(&task, boots),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "task lost"),
    }
}

async fn task_service(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET TaskService") {
        return r;
    }
    ok(json!({
        "@odata.id": "/redfish/v1/TaskService",
        "@odata.type": "#TaskService.v1_1_4.TaskService",
        "Id": "TaskService",
        "Name": "Task Service",
        "ServiceEnabled": true,
        "CompletedTaskOverWritePolicy": "Oldest",
        "Status": {"State": "Enabled", "Health": "OK"},
        "Tasks": {"@odata.id": "/redfish/v1/TaskService/Tasks"},
    }))
}

async fn tasks(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Tasks") {
        return r;
    }
    let members = lock(&ctx.service.tasks)
        .list
        .keys()
        .map(|id| format!("/redfish/v1/TaskService/Tasks/{id}"))
        .collect();
    ok(collection(
        "/redfish/v1/TaskService/Tasks",
        "#TaskCollection.TaskCollection",
        "Tasks",
        members,
    ))
}

/// A task as of now, with its server's boot counter.
fn observe(ctx: &Ctx, tid: &str) -> Option<(crate::tasks::Task, u64)> {
    let id = tid.parse::<u64>().ok()?;
    let host = lock(&ctx.service.tasks).list.get(&id)?.host;
    let boots = ctx.fleet.host(host)?.boots;
    let task = lock(&ctx.service.tasks).observe(id, |_| boots, &timestamp())?;
    Some((task, boots))
}

async fn task(ctx: Ctx, headers: HeaderMap, Path(tid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Task") {
        return r;
    }
    match observe(&ctx, &tid) {
        Some((task, boots)) => ok(task.body(boots)),
        None => not_found(&format!("Task {tid}")),
    }
}

/// 202 with the task while it runs; 200 with the finished task after.
async fn task_monitor(ctx: Ctx, headers: HeaderMap, Path(tid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET TaskMonitor") {
        return r;
    }
    match observe(&ctx, &tid) {
        Some((task, boots)) if task.done(boots) => ok(super::monitor_body(&task, boots)),
        Some((task, boots)) => accepted(&task, boots),
        None => not_found(&format!("Task monitor {tid}")),
    }
}

async fn event_service(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET EventService") {
        return r;
    }
    ok(json!({
        "@odata.id": "/redfish/v1/EventService",
        "@odata.type": "#EventService.v1_7_0.EventService",
        "Id": "EventService",
        "Name": "Event Service",
        "ServiceEnabled": true,
        "DeliveryRetryAttempts": crate::events::DELIVERY_ATTEMPTS,
        "DeliveryRetryIntervalSeconds": crate::events::RETRY_INTERVAL.as_secs(),
        "EventTypesForSubscription": ["Alert", "StatusChange", "ResourceUpdated"],
        "Status": {"State": "Enabled", "Health": "OK"},
        "Subscriptions": {"@odata.id": SUBSCRIPTIONS},
        "Actions": {"#EventService.SubmitTestEvent": {
            "target": "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
        }},
    }))
}

async fn subscriptions(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Subscriptions") {
        return r;
    }
    let members = lock(&ctx.service.subscriptions)
        .list
        .keys()
        .map(|id| format!("{SUBSCRIPTIONS}/{id}"))
        .collect();
    ok(collection(
        SUBSCRIPTIONS,
        "#EventDestinationCollection.EventDestinationCollection",
        "Event Subscriptions",
        members,
    ))
}

async fn subscribe(ctx: Ctx, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "POST Subscriptions") {
        return r;
    }
    let request = match SubscriptionRequest::parse(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let (id, body) = {
        let mut subs = lock(&ctx.service.subscriptions);
        let id = subs.add(request);
        (id, subs.list.get(&id).map(|s| s.body()))
    };
    let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(l) = HeaderValue::from_str(&format!("{SUBSCRIPTIONS}/{id}")) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

async fn subscription(ctx: Ctx, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Subscription") {
        return r;
    }
    let body = sid.parse::<u64>().ok().and_then(|id| {
        lock(&ctx.service.subscriptions)
            .list
            .get(&id)
            .map(|s| s.body())
    });
    body.map(ok)
        .unwrap_or_else(|| not_found(&format!("Subscription {sid}")))
}

async fn unsubscribe(ctx: Ctx, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    if let Err(r) = ctx.authorise(&headers, "DELETE Subscription") {
        return r;
    }
    let removed = sid
        .parse::<u64>()
        .is_ok_and(|id| lock(&ctx.service.subscriptions).remove(id));
    if removed {
        no_content()
    } else {
        not_found(&format!("Subscription {sid}"))
    }
}

async fn submit_test_event(
    ctx: Ctx,
    headers: HeaderMap,
    body: Option<axum::Json<Value>>,
) -> Response {
    if let Err(r) = ctx.authorise(&headers, "POST SubmitTestEvent") {
        return r;
    }
    let message = body
        .as_ref()
        .and_then(|b| b.get("Message").and_then(Value::as_str))
        .unwrap_or("A test event.")
        .to_string();
    let event = Event::test(
        usize::MAX,
        "/redfish/v1/EventService",
        &message,
        &timestamp(),
    );
    lock(&ctx.service.subscriptions).publish(&event);
    no_content()
}

pub(super) fn routes() -> Router<Arc<Fleet>> {
    Router::new()
        .route("/redfish", get(root))
        .route("/redfish/v1", get(service_root))
        .route("/redfish/v1/", get(service_root))
        .route("/redfish/v1/SessionService", get(session_service))
        .route(SESSIONS, get(sessions).post(create_session))
        .route(
            &format!("{SESSIONS}/{{sid}}"),
            get(session).delete(delete_session),
        )
        .route("/redfish/v1/Registries", get(registries))
        .route("/redfish/v1/Registries/{rid}", get(registry_file))
        .route("/redfish/v1/Registries/{rid}/{file}", get(registry))
        .route("/redfish/v1/UpdateService", get(update_service))
        .route(
            "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            post(simple_update),
        )
        .route(INVENTORY, get(inventory))
        .route(&format!("{INVENTORY}/{{fid}}"), get(inventory_item))
        .route("/redfish/v1/TaskService", get(task_service))
        .route("/redfish/v1/TaskService/Tasks", get(tasks))
        .route("/redfish/v1/TaskService/Tasks/{tid}", get(task))
        .route(
            "/redfish/v1/TaskService/TaskMonitors/{tid}",
            get(task_monitor),
        )
        .route("/redfish/v1/EventService", get(event_service))
        .route(SUBSCRIPTIONS, get(subscriptions).post(subscribe))
        .route(
            &format!("{SUBSCRIPTIONS}/{{sid}}"),
            get(subscription).delete(unsubscribe),
        )
        .route(
            "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
            post(submit_test_event),
        )
}
