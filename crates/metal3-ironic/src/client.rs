//! The HTTP side: one `reqwest` client, the negotiated microversion, locked-node retries.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::debug;

use crate::config::{Auth, Config};
use crate::error::{Error, is_lock_message, message_of};
use crate::types::{
    BiosSetting, BiosSettings, DriverList, FirmwareComponent, FirmwareComponents, History,
    HistoryEvent, InventoryData, Node, NodeList, Port, PortList, ProvisionRequest, Validation,
};
use crate::version::{self, Version};

/// The header carrying the microversion.
pub const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";

/// Pauses before retrying a request that found the node locked.
const LOCK_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// One JSON-patch operation on a node (`add` replaces an existing value too).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// Sets `path` to `value`.
    pub fn add(path: impl Into<String>, value: Value) -> Self {
        Self {
            op: "add",
            path: path.into(),
            value: Some(value),
        }
    }

    /// Removes `path`.
    pub fn remove(path: impl Into<String>) -> Self {
        Self {
            op: "remove",
            path: path.into(),
            value: None,
        }
    }
}

/// A client of one Ironic service.
pub struct Client {
    http: reqwest::Client,
    root: String,
    auth: Auth,
    version: Mutex<Option<Version>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("root", &self.root)
            .field("auth", &self.auth)
            .finish()
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Decode(format!("cannot read {}: {e}", path.display())))
}

impl Client {
    /// A client for `config`. Fails when a certificate file cannot be used.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .danger_accept_invalid_certs(config.insecure)
            .danger_accept_invalid_hostnames(config.skip_san_verify);
        if let Some(ca) = &config.ca_file {
            let pem = read_file(ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Decode(format!(
                    "{}: not a PEM certificate bundle: {e}",
                    ca.display()
                ))
            })?;
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &config.client_identity {
            let mut pem = read_file(cert)?;
            pem.push(b'\n');
            pem.extend(read_file(key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Decode(format!(
                    "{} and {}: not a PEM certificate and key: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Decode(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            root: config.api_root(),
            auth: config.auth.clone(),
            version: Mutex::new(None),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests sent to Ironic so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The API root (`…/v1`).
    pub fn root(&self) -> &str {
        &self.root
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        // reqwest's message names the URL; the chain has the cause.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        Error::Unreachable {
            endpoint: self.root.clone(),
            reason,
        }
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut rb = self.http.request(method, url);
        if let Auth::Basic { username, password } = &self.auth {
            rb = rb.basic_auth(username, Some(password));
        }
        rb
    }

    /// Asks Ironic which microversions it offers and picks ours. Done once; again after
    /// [`Client::forget_version`].
    pub async fn negotiate(&self) -> Result<Version, Error> {
        if let Some(v) = *self.version.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(v);
        }
        let url = format!("{}/", self.root);
        let reply = self
            .request(Method::GET, &url)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = reply.status();
        let text = reply.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(refusal(status, &text));
        }
        let body: Value =
            serde_json::from_str(&text).map_err(|e| Error::Decode(format!("GET {url}: {e}")))?;
        let max = body
            .pointer("/version/version")
            .and_then(Value::as_str)
            .and_then(Version::parse)
            .ok_or_else(|| Error::Decode(format!("GET {url}: no version.version")))?;
        let chosen = version::choose(max).ok_or_else(|| Error::TooOld {
            endpoint: self.root.clone(),
            max: max.to_string(),
            min: version::MINIMUM.to_string(),
        })?;
        debug!(%max, %chosen, "negotiated the Ironic API version");
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(chosen);
        Ok(chosen)
    }

    /// Forgets the negotiated version (Ironic may have been upgraded).
    pub fn forget_version(&self) {
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The negotiated version, negotiating first when needed.
    pub async fn version(&self) -> Result<Version, Error> {
        self.negotiate().await
    }

    /// Sends a request; `None` for an empty (204/202) reply. A 409 about a locked node is
    /// retried a few times before it becomes [`Error::Locked`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, Error> {
        let version = self.version().await?;
        let url = format!("{}{}", self.root, path);
        let mut pauses = LOCK_RETRIES.iter();
        loop {
            let mut rb = self
                .request(method.clone(), &url)
                .header(VERSION_HEADER, version.to_string());
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let reply = rb.send().await.map_err(|e| self.unreachable(&e))?;
            let status = reply.status();
            let text = reply.text().await.map_err(|e| self.unreachable(&e))?;
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(None);
                }
                return serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| Error::Decode(format!("{method} {path}: {e}")));
            }
            let error = refusal(status, &text);
            if let Error::Locked(_) = &error
                && let Some(pause) = pauses.next()
            {
                debug!(%method, path, "node locked; retrying");
                tokio::time::sleep(*pause).await;
                continue;
            }
            return Err(error);
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let value = self
            .send(Method::GET, path, None)
            .await?
            .unwrap_or(Value::Null);
        crate::types::decode(&value).map_err(|e| Error::Decode(format!("GET {path}: {e}")))
    }

    /// Names of the enabled drivers (hardware types).
    pub async fn drivers(&self) -> Result<Vec<String>, Error> {
        let list: DriverList = self.get("/drivers").await?;
        Ok(list.drivers.into_iter().map(|d| d.name).collect())
    }

    /// A node by UUID or name; `None` when Ironic does not know it.
    pub async fn node(&self, ident: &str) -> Result<Option<Node>, Error> {
        match self.get(&format!("/nodes/{ident}")).await {
            Ok(n) => Ok(Some(n)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// All nodes, with only `fields`.
    pub async fn nodes(&self, fields: &[&str]) -> Result<Vec<Node>, Error> {
        let list: NodeList = self
            .get(&format!("/nodes?fields={}", fields.join(",")))
            .await?;
        Ok(list.nodes)
    }

    /// Creates a node from `body` (driver, name, interfaces, driver_info, properties, …).
    pub async fn create_node(&self, body: &Value) -> Result<Node, Error> {
        let value = self
            .send(Method::POST, "/nodes", Some(body))
            .await?
            .unwrap_or(Value::Null);
        crate::types::decode(&value).map_err(|e| Error::Decode(format!("POST /nodes: {e}")))
    }

    /// Applies a JSON patch to a node.
    pub async fn patch_node(&self, ident: &str, ops: &[PatchOp]) -> Result<Node, Error> {
        let body = serde_json::to_value(ops).map_err(|e| Error::Decode(e.to_string()))?;
        let path = format!("/nodes/{ident}");
        let value = self
            .send(Method::PATCH, &path, Some(&body))
            .await?
            .unwrap_or(Value::Null);
        crate::types::decode(&value).map_err(|e| Error::Decode(format!("PATCH {path}: {e}")))
    }

    /// Deletes a node; one that is already gone is fine.
    pub async fn delete_node(&self, ident: &str) -> Result<(), Error> {
        match self
            .send(Method::DELETE, &format!("/nodes/{ident}"), None)
            .await
        {
            Ok(_) | Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Asks for a provision state change.
    pub async fn set_provision_state(
        &self,
        ident: &str,
        request: &ProvisionRequest,
    ) -> Result<(), Error> {
        let body = serde_json::to_value(request).map_err(|e| Error::Decode(e.to_string()))?;
        self.send(
            Method::PUT,
            &format!("/nodes/{ident}/states/provision"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Asks for a power state change (`timeout` in seconds, for soft power off).
    pub async fn set_power_state(
        &self,
        ident: &str,
        target: &str,
        timeout: Option<u64>,
    ) -> Result<(), Error> {
        let mut body = json!({"target": target});
        if let Some(t) = timeout {
            body["timeout"] = json!(t);
        }
        self.send(
            Method::PUT,
            &format!("/nodes/{ident}/states/power"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Sets the target RAID configuration (`logical_disks`).
    pub async fn set_raid(&self, ident: &str, logical_disks: &Value) -> Result<(), Error> {
        let body = json!({"logical_disks": logical_disks});
        self.send(
            Method::PUT,
            &format!("/nodes/{ident}/states/raid"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Puts the node into maintenance (with a reason) or takes it out.
    pub async fn set_maintenance(&self, ident: &str, on: bool, reason: &str) -> Result<(), Error> {
        let path = format!("/nodes/{ident}/maintenance");
        if on {
            self.send(Method::PUT, &path, Some(&json!({"reason": reason})))
                .await
                .map(|_| ())
        } else {
            self.send(Method::DELETE, &path, None).await.map(|_| ())
        }
    }

    /// Validates the node's interfaces.
    pub async fn validate(&self, ident: &str) -> Result<Validation, Error> {
        self.get(&format!("/nodes/{ident}/validate")).await
    }

    /// The node's inspection data; `None` before any inspection.
    pub async fn inventory(&self, ident: &str) -> Result<Option<InventoryData>, Error> {
        match self.get(&format!("/nodes/{ident}/inventory")).await {
            Ok(d) => Ok(Some(d)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// BIOS settings, with their schema fields when `detail`.
    pub async fn bios(&self, ident: &str, detail: bool) -> Result<Vec<BiosSetting>, Error> {
        let query = if detail { "?detail=true" } else { "" };
        let list: BiosSettings = self.get(&format!("/nodes/{ident}/bios{query}")).await?;
        Ok(list.bios)
    }

    /// Firmware components and their versions.
    pub async fn firmware(&self, ident: &str) -> Result<Vec<FirmwareComponent>, Error> {
        let list: FirmwareComponents = self.get(&format!("/nodes/{ident}/firmware")).await?;
        Ok(list.firmware)
    }

    /// The node's history, oldest first (API 1.78 and later).
    pub async fn history(&self, ident: &str) -> Result<Vec<HistoryEvent>, Error> {
        let list: History = self.get(&format!("/nodes/{ident}/history")).await?;
        Ok(list.history)
    }

    /// Ports with the MAC `address`.
    pub async fn ports_by_address(&self, address: &str) -> Result<Vec<Port>, Error> {
        let list: PortList = self
            .get(&format!(
                "/ports?address={}&fields=uuid,address,node_uuid,pxe_enabled",
                address.to_ascii_lowercase()
            ))
            .await?;
        Ok(list.ports)
    }

    /// Ports of the node `node_uuid`.
    pub async fn ports_of(&self, node_uuid: &str) -> Result<Vec<Port>, Error> {
        let list: PortList = self
            .get(&format!(
                "/ports?node_uuid={node_uuid}&fields=uuid,address,node_uuid,pxe_enabled,\
                 local_link_connection,extra"
            ))
            .await?;
        Ok(list.ports)
    }

    /// Creates a port.
    pub async fn create_port(
        &self,
        node_uuid: &str,
        address: &str,
        pxe_enabled: bool,
    ) -> Result<Port, Error> {
        let body = json!({
            "node_uuid": node_uuid,
            "address": address.to_ascii_lowercase(),
            "pxe_enabled": pxe_enabled,
        });
        let value = self
            .send(Method::POST, "/ports", Some(&body))
            .await?
            .unwrap_or(Value::Null);
        crate::types::decode(&value).map_err(|e| Error::Decode(format!("POST /ports: {e}")))
    }

    /// Applies a JSON patch to a port.
    pub async fn patch_port(&self, uuid: &str, ops: &[PatchOp]) -> Result<(), Error> {
        let body = serde_json::to_value(ops).map_err(|e| Error::Decode(e.to_string()))?;
        self.send(Method::PATCH, &format!("/ports/{uuid}"), Some(&body))
            .await?;
        Ok(())
    }

    /// Calls a vendor passthru method of the node.
    pub async fn vendor_passthru(
        &self,
        ident: &str,
        method: &str,
        http_method: Method,
        body: &Value,
    ) -> Result<Option<Value>, Error> {
        self.send(
            http_method,
            &format!("/nodes/{ident}/vendor_passthru?method={method}"),
            Some(body),
        )
        .await
    }

    /// Attaches virtual media (a `CDROM` or `USB` image at `image_url`).
    pub async fn attach_vmedia(
        &self,
        ident: &str,
        device_type: &str,
        image_url: &str,
    ) -> Result<(), Error> {
        let body = json!({"device_type": device_type, "image_url": image_url});
        self.send(Method::POST, &format!("/nodes/{ident}/vmedia"), Some(&body))
            .await
            .map(|_| ())
    }

    /// Detaches virtual media of `device_type`.
    pub async fn detach_vmedia(&self, ident: &str, device_type: &str) -> Result<(), Error> {
        self.send(
            Method::DELETE,
            &format!("/nodes/{ident}/vmedia?device_types={device_type}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// The attached virtual media (API 1.93 and later).
    pub async fn vmedia(&self, ident: &str) -> Result<Value, Error> {
        self.get(&format!("/nodes/{ident}/vmedia")).await
    }
}

fn refusal(status: StatusCode, body: &str) -> Error {
    let message = message_of(body);
    match status.as_u16() {
        404 => Error::NotFound(message),
        409 if is_lock_message(&message) => Error::Locked(message),
        code => Error::Refused {
            status: code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_ops_serialise_as_json_patch() {
        let ops = vec![
            PatchOp::add("/instance_info/image_source", json!("http://i")),
            PatchOp::remove("/instance_info/boot_iso"),
        ];
        assert_eq!(
            serde_json::to_value(&ops).expect("json"),
            json!([
                {"op": "add", "path": "/instance_info/image_source", "value": "http://i"},
                {"op": "remove", "path": "/instance_info/boot_iso"},
            ])
        );
    }

    #[test]
    fn refusals_are_classified() {
        let locked = r#"{"error_message": "{\"faultstring\": \"Node n is locked by host h, please retry after the current operation is completed.\"}"}"#;
        assert!(matches!(
            refusal(StatusCode::CONFLICT, locked),
            Error::Locked(_)
        ));
        let exists = r#"{"error_message": "{\"faultstring\": \"A port with MAC address aa already exists.\"}"}"#;
        assert!(refusal(StatusCode::CONFLICT, exists).is_conflict());
        assert!(matches!(
            refusal(StatusCode::NOT_FOUND, "{}"),
            Error::NotFound(_)
        ));
    }

    #[test]
    fn debug_output_has_no_password() {
        let mut config = Config::new("http://127.0.0.1:1");
        config.auth = Auth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        let client = Client::new(&config).expect("client");
        assert!(!format!("{client:?}").contains("hunter2"));
        assert_eq!(client.root(), "http://127.0.0.1:1/v1");
    }
}
