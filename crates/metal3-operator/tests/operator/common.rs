//! What every scenario uses: an [`Env`] (a namespace, the fixture backend and an operator for
//! that namespace) with helpers to create hosts and Secrets and to wait for states and Events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use metal3_api::v1alpha1::{BareMetalHost, OperationalStatus, ProvisioningState as S};
use metal3_fixture::Fixture;
use metal3_operator::{Metrics, OperatorConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Env {
    pub client: Client,
    pub ns: String,
    pub fixture: Fixture,
    pub config: OperatorConfig,
    pub operator: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

pub fn fast_machine() -> metal3_hoststate::Config {
    metal3_hoststate::Config {
        max_provisioning_retries: 5,
        backoff_unit: Duration::from_millis(500),
        missing_secret_retry: Duration::from_millis(300),
        idle_poll: Duration::from_secs(2),
        power_poll: Duration::from_millis(500),
        preprovisioning_wait: Duration::from_millis(500),
    }
}

impl Env {
    pub async fn new(prefix: &str) -> Self {
        Self::new_with(prefix, |_| {}).await
    }

    /// A namespace and an operator for it, with `adjust` applied to the test configuration.
    pub async fn new_with(prefix: &str, adjust: impl FnOnce(&mut OperatorConfig)) -> Self {
        let cp = metal3_testenv::shared();
        let client = cp.client().await.expect("client");
        let ns = cp.namespace(&client, prefix).await.expect("namespace");
        let mut config = OperatorConfig {
            namespace: Some(ns.clone()),
            machine: fast_machine(),
            concurrency: 4,
            instance: Some("test".into()),
            dependency_retry: Duration::from_millis(500),
            ..OperatorConfig::default()
        };
        adjust(&mut config);
        let mut env = Self {
            client,
            ns,
            fixture: Fixture::new(),
            config,
            operator: None,
        };
        env.start_operator();
        env
    }

    pub fn start_operator(&mut self) {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(metal3_operator::run(
            self.client.clone(),
            Arc::new(self.fixture.clone()),
            self.config.clone(),
            Arc::new(Metrics::default()),
            async move {
                let _ = rx.await;
            },
        ));
        self.operator = Some((tx, task));
    }

    pub async fn stop_operator(&mut self) {
        if let Some((tx, task)) = self.operator.take() {
            let _ = tx.send(());
            task.await.expect("operator task");
        }
    }

    pub fn hosts(&self) -> Api<BareMetalHost> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn secret(&self, name: &str, username: &str, password: &str) {
        let mut data = BTreeMap::new();
        data.insert(
            "username".to_string(),
            ByteString(username.as_bytes().to_vec()),
        );
        data.insert(
            "password".to_string(),
            ByteString(password.as_bytes().to_vec()),
        );
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        self.secrets()
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }

    pub async fn host(&self, name: &str, spec: Value, annotations: Value) -> BareMetalHost {
        let obj: BareMetalHost = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec,
        }))
        .expect("host json");
        self.hosts()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create host")
    }

    pub async fn patch_spec(&self, name: &str, spec: Value) {
        self.hosts()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": spec})),
            )
            .await
            .expect("patch spec");
    }

    pub async fn annotate(&self, name: &str, annotations: Value) {
        self.hosts()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .expect("annotate");
    }

    /// Polls the host until `pred` holds (deadline [`WAIT`]).
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&BareMetalHost) -> bool,
    ) -> BareMetalHost {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(h) = self.hosts().get_opt(name).await.expect("get host") {
                if pred(&h) {
                    return h;
                }
                last = Some(h);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{name}: not {what} after {WAIT:?}; last seen status: {}",
            serde_json::to_string_pretty(&last.and_then(|h| h.status)).unwrap_or_default()
        );
    }

    pub async fn wait_state(&self, name: &str, state: S) -> BareMetalHost {
        self.wait_for(name, state.as_str(), |h| h.provisioning_state() == state)
            .await
    }

    pub async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.hosts().get_opt(name).await.expect("get").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} still exists after {WAIT:?}");
    }

    pub async fn event_reasons(&self) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }

    pub async fn wait_event(&self, reason: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.event_reasons().await.iter().any(|r| r == reason) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {reason} event after {WAIT:?}: {:?}",
            self.event_reasons().await
        );
    }
}

pub fn bmc_spec(secret: &str) -> Value {
    json!({
        "online": true,
        "bootMACAddress": "52:54:00:12:34:56",
        "bmc": {
            "address": "redfish-virtualmedia://192.0.2.1/redfish/v1/Systems/1",
            "credentialsName": secret,
        },
    })
}

pub fn op_status(h: &BareMetalHost) -> OperationalStatus {
    h.operational_status()
}
