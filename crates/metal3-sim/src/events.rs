//! EventService subscriptions and event delivery: each subscription has its own queue and a
//! task that POSTs its events, in order, to the subscriber (three tries each).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Tries per event.
pub const DELIVERY_ATTEMPTS: u32 = 3;
/// Pause between tries.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Something that happened to one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub host: usize,
    pub event_type: &'static str,
    pub origin: String,
    pub message_id: &'static str,
    pub message: String,
    pub args: Vec<String>,
    pub timestamp: String,
}

impl Event {
    /// Server `id` is now in power state `power`.
    pub fn power(host: usize, id: &str, power: &str, timestamp: &str) -> Self {
        let origin = format!("/redfish/v1/Systems/{id}");
        Self {
            host,
            event_type: "Alert",
            message: format!("The power state of resource {origin} has changed to {power}."),
            args: vec![origin.clone(), power.to_string()],
            origin,
            message_id: "ResourceEvent.1.3.ResourcePowerStateChanged",
            timestamp: timestamp.into(),
        }
    }

    /// `EventService.SubmitTestEvent`.
    pub fn test(host: usize, origin: &str, message: &str, timestamp: &str) -> Self {
        Self {
            host,
            event_type: "Alert",
            origin: origin.into(),
            message_id: "Base.1.8.Success",
            message: message.into(),
            args: Vec::new(),
            timestamp: timestamp.into(),
        }
    }
}

/// A subscription as the client asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub destination: String,
    pub context: String,
    pub protocol: String,
    pub event_types: Vec<String>,
    pub origins: Vec<String>,
    /// Sent with every event; never shown back (they often carry credentials).
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Reads a `POST Subscriptions` body, naming the field at fault.
    pub fn parse(body: &Value) -> Result<Self, String> {
        let destination = body
            .get("Destination")
            .and_then(Value::as_str)
            .ok_or("Destination is required: the URL events are POSTed to")?;
        let valid = ["http://", "https://"].iter().any(|s| {
            destination
                .strip_prefix(s)
                .is_some_and(|rest| !rest.is_empty())
        });
        if !valid {
            return Err(format!(
                "Destination {destination:?} is not an http:// or https:// URL"
            ));
        }
        let protocol = body
            .get("Protocol")
            .and_then(Value::as_str)
            .unwrap_or("Redfish");
        if protocol != "Redfish" {
            return Err(format!(
                "Protocol {protocol:?} is not supported; use Redfish"
            ));
        }
        let strings = |field: &str| -> Result<Vec<String>, String> {
            match body.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .or_else(|| i.get("@odata.id").and_then(Value::as_str))
                            .map(str::to_string)
                            .ok_or_else(|| format!("{field}: {i} is not a string"))
                    })
                    .collect(),
                Some(other) => Err(format!("{field}: {other} is not a list")),
            }
        };
        let headers = match body.get("HttpHeaders") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    let map = item
                        .as_object()
                        .ok_or("HttpHeaders: each entry is an object of header names to values")?;
                    for (k, v) in map {
                        let v = v.as_str().ok_or_else(|| {
                            format!("HttpHeaders: the value of {k} is not a string")
                        })?;
                        out.push((k.clone(), v.to_string()));
                    }
                }
                out
            }
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_string()))
                        .ok_or_else(|| format!("HttpHeaders: the value of {k} is not a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("HttpHeaders: expected a list of objects".into()),
        };
        Ok(Self {
            destination: destination.into(),
            context: body
                .get("Context")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            protocol: protocol.into(),
            event_types: strings("EventTypes")?,
            origins: strings("OriginResources")?,
            headers,
        })
    }

    /// Whether `event` is one this subscriber asked for.
    pub fn wants(&self, event: &Event) -> bool {
        let typed =
            self.event_types.is_empty() || self.event_types.iter().any(|t| t == event.event_type);
        let origin = self.origins.is_empty()
            || self
                .origins
                .iter()
                .any(|o| event.origin.starts_with(o.trim_end_matches('/')));
        typed && origin
    }
}

/// Delivery counts of one subscription.
#[derive(Debug, Default)]
pub struct Stats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

/// A live subscription.
#[derive(Debug)]
pub struct Subscription {
    pub id: u64,
    pub request: Request,
    pub stats: Arc<Stats>,
    queue: mpsc::UnboundedSender<Value>,
}

impl Subscription {
    /// The EventDestination resource (without the headers).
    pub fn body(&self) -> Value {
        json!({
            "@odata.id": format!("/redfish/v1/EventService/Subscriptions/{}", self.id),
            "@odata.type": "#EventDestination.v1_7_0.EventDestination",
            "Id": self.id.to_string(),
            "Name": format!("Subscription {}", self.id),
            "Destination": self.request.destination,
            "Context": self.request.context,
            "Protocol": self.request.protocol,
            "EventTypes": self.request.event_types,
            "OriginResources": self.request.origins.iter().map(|o| json!({"@odata.id": o})).collect::<Vec<_>>(),
            "HttpHeaders": [],
            "SubscriptionType": "RedfishEvent",
        })
    }
}

/// The subscriptions of one service.
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub list: BTreeMap<u64, Subscription>,
    next: u64,
    events: u64,
}

impl Subscriptions {
    /// Adds a subscription and starts its delivery task (needs a Tokio runtime).
    pub fn add(&mut self, request: Request) -> u64 {
        self.next += 1;
        let id = self.next;
        let stats = Arc::new(Stats::default());
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(request.clone(), rx, stats.clone()));
        self.list.insert(
            id,
            Subscription {
                id,
                request,
                stats,
                queue,
            },
        );
        id
    }

    /// Removes a subscription; its queue drains and its task ends.
    pub fn remove(&mut self, id: u64) -> bool {
        self.list.remove(&id).is_some()
    }

    /// Queues `event` for every subscriber that wants it.
    pub fn publish(&mut self, event: &Event) {
        for sub in self.list.values().filter(|s| s.request.wants(event)) {
            self.events += 1;
            let body = json!({
                "@odata.type": "#Event.v1_4_0.Event",
                "Id": self.events.to_string(),
                "Name": "Event",
                "Context": sub.request.context,
                "Events": [{
                    "EventType": event.event_type,
                    "EventId": self.events.to_string(),
                    "EventTimestamp": event.timestamp,
                    "Severity": "OK",
                    "MessageSeverity": "OK",
                    "Message": event.message,
                    "MessageId": event.message_id,
                    "MessageArgs": event.args,
                    "OriginOfCondition": {"@odata.id": event.origin},
                }],
            });
            // A closed queue means the task ended; the subscription goes with its service.
            let _ = sub.queue.send(body);
        }
    }
}

async fn deliver(request: Request, mut rx: mpsc::UnboundedReceiver<Value>, stats: Arc<Stats>) {
    // Subscribers in tests use self-signed certificates, as BMCs' subscribers often do.
    let client = match reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    while let Some(body) = rx.recv().await {
        let mut sent = false;
        for attempt in 0..DELIVERY_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
            let mut post = client.post(&request.destination).json(&body);
            for (k, v) in &request.headers {
                post = post.header(k, v);
            }
            if post.send().await.is_ok_and(|r| r.status().is_success()) {
                sent = true;
                break;
            }
        }
        let counter = if sent {
            &stats.delivered
        } else {
            &stats.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_request_is_checked() {
        let r = Request::parse(&json!({
            "Destination": "https://hooks.example/events",
            "Context": "bmh-1",
            "EventTypes": ["Alert"],
            "OriginResources": [{"@odata.id": "/redfish/v1/Systems/a"}],
            "HttpHeaders": [{"Authorization": "Bearer x"}],
        }))
        .expect("valid");
        assert_eq!(r.protocol, "Redfish");
        assert_eq!(r.headers, vec![("Authorization".into(), "Bearer x".into())]);
        let cases = [
            (json!({}), "Destination is required"),
            (
                json!({"Destination": "ftp://x"}),
                "not an http:// or https:// URL",
            ),
            (
                json!({"Destination": "http://x", "Protocol": "SNMPv2c"}),
                "Protocol",
            ),
            (
                json!({"Destination": "http://x", "EventTypes": "Alert"}),
                "EventTypes",
            ),
            (
                json!({"Destination": "http://x", "HttpHeaders": [{"A": 1}]}),
                "HttpHeaders",
            ),
        ];
        for (body, expected) in cases {
            let err = Request::parse(&body).expect_err(expected);
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn filters_by_type_and_origin() {
        let event = Event::power(1, "a", "On", "t");
        let all = Request::parse(&json!({"Destination": "http://x"})).expect("valid");
        assert!(all.wants(&event));
        let other = Request::parse(
            &json!({"Destination": "http://x", "OriginResources": ["/redfish/v1/Systems/b"]}),
        )
        .expect("valid");
        assert!(!other.wants(&event));
        let mine = Request::parse(
            &json!({"Destination": "http://x", "OriginResources": ["/redfish/v1/Systems/a"]}),
        )
        .expect("valid");
        assert!(mine.wants(&event));
        let typed =
            Request::parse(&json!({"Destination": "http://x", "EventTypes": ["StatusChange"]}))
                .expect("valid");
        assert!(!typed.wants(&event));
        assert!(event.message.contains("changed to On"));
    }

    #[test]
    fn headers_are_never_shown() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut subs = Subscriptions::default();
            let id = subs.add(
                Request::parse(&json!({"Destination": "http://127.0.0.1:9/", "HttpHeaders": [{"Authorization": "Basic c2VjcmV0"}]}))
                    .expect("valid"),
            );
            let body = subs.list[&id].body().to_string();
            assert!(!body.contains("c2VjcmV0"), "{body}");
            assert!(subs.remove(id));
            assert!(!subs.remove(id));
        });
    }
}
