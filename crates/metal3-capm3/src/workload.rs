//! Clients for workload clusters, from the kubeconfig Secret the control-plane provider writes
//! for every Cluster (`<cluster>-kubeconfig`, key `value`), cached per Cluster and rebuilt when
//! the Secret changes.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Why a workload cluster cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The kubeconfig Secret does not exist (yet).
    #[error("the workload cluster's kubeconfig Secret {0} does not exist yet")]
    NoSecret(String),
    /// The Secret has no usable kubeconfig.
    #[error("the kubeconfig in Secret {secret} cannot be used: {reason}")]
    BadKubeconfig {
        /// Secret name.
        secret: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading the Secret failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Cached clients, keyed by Cluster and the Secret's resourceVersion.
#[derive(Default)]
pub struct Workloads {
    clients: Mutex<HashMap<(String, String), (String, Client)>>,
}

impl Workloads {
    /// A client for Cluster `namespace/name`.
    pub async fn client(
        &self,
        management: &Client,
        namespace: &str,
        cluster: &str,
    ) -> Result<Client, WorkloadError> {
        let name = format!("{cluster}-kubeconfig");
        let secrets: Api<Secret> = Api::namespaced(management.clone(), namespace);
        let secret = secrets
            .get_opt(&name)
            .await?
            .ok_or_else(|| WorkloadError::NoSecret(name.clone()))?;
        let version = secret.metadata.resource_version.clone().unwrap_or_default();
        let key = (namespace.to_string(), cluster.to_string());
        if let Ok(cache) = self.clients.lock()
            && let Some((v, client)) = cache.get(&key)
            && *v == version
        {
            return Ok(client.clone());
        }
        let bad = |reason: String| WorkloadError::BadKubeconfig {
            secret: name.clone(),
            reason,
        };
        let data = secret
            .data
            .as_ref()
            .and_then(|d| d.get("value"))
            .ok_or_else(|| bad("no key `value`".into()))?;
        let text = String::from_utf8(data.0.clone()).map_err(|_| bad("not UTF-8".into()))?;
        let kubeconfig = Kubeconfig::from_yaml(&text).map_err(|e| bad(e.to_string()))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
        let client = metal3_kube::identity::client(config, metal3_kube::identity::CAPM3)
            .map_err(|e| bad(e.to_string()))?;
        if let Ok(mut cache) = self.clients.lock() {
            cache.insert(key, (version, client.clone()));
        }
        Ok(client)
    }
}
