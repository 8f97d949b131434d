//! Scraping `/metrics` as a cluster's Prometheus would: over HTTPS with a service account's
//! bearer token, the account bound (or not) to the shipped metrics-reader ClusterRole.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// The shipped ClusterRole (`config/rbac/metrics_reader_role.yaml`), applied as it is.
async fn reader_role(client: &Client) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/rbac/metrics_reader_role.yaml");
    let text = std::fs::read_to_string(&path).expect("metrics_reader_role.yaml");
    let role: ClusterRole = serde_saphyr::from_str(&text).expect("a ClusterRole");
    let name = role.metadata.name.clone().expect("named");
    Api::<ClusterRole>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply("metal3-tests").force(),
            &Patch::Apply(&role),
        )
        .await
        .expect("the metrics-reader role applies");
    name
}

/// A token of a new service account `name` in `ns`; with `reader`, the account is bound to
/// the shipped metrics-reader role.
pub async fn token(client: &Client, ns: &str, name: &str, reader: bool) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("account");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    if reader {
        let role = reader_role(client).await;
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": format!("{ns}-{name}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        }))
        .expect("binding");
        Api::<ClusterRoleBinding>::all(client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .expect("binding");
    }
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": []}})).expect("token request");
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("token")
        .status
        .expect("token status")
        .token
}

/// GET `https://127.0.0.1:<port><path>` with `token` as bearer (the certificate is the
/// operator's self-signed one, so not verified): status and body; `None` while nothing answers.
pub async fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("https client");
    let mut request = client.get(format!("https://127.0.0.1:{port}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}
