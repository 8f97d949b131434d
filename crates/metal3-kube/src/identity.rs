//! Who our Kubernetes clients say they are: every request carries the User-Agent
//! `<component>/<version>`, which the API server shows in its audit log and takes as the field
//! manager (in `metadata.managedFields`) of every write that names none — instead of `unknown`.
//! The requests of every client made here are counted ([`api_requests`]).

use std::sync::atomic::{AtomicU64, Ordering};

use kube::client::ClientBuilder;
use kube::{Client, Config};
use tower::util::MapRequestLayer;

/// Requests sent by this process's clients made by [`client`].
static API_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// The BareMetalHost operator (`metal3 operator`).
pub const OPERATOR: &str = "metal3-operator";
/// The Cluster API provider (`metal3 capm3`), also towards workload clusters.
pub const CAPM3: &str = "metal3-capm3";
/// The IP address manager (`metal3 ipam`).
pub const IPAM: &str = "metal3-ipam";
/// The command-line tools (`metal3 up`, `metal3 control-plane`, …).
pub const CLI: &str = "metal3";

/// The User-Agent of `component`: `<component>/<version of this build>`.
pub fn user_agent(component: &str) -> String {
    format!("{component}/{}", env!("CARGO_PKG_VERSION"))
}

/// `config` with the User-Agent of `component` (replacing any it had).
pub fn identify(mut config: Config, component: &str) -> Config {
    config
        .headers
        .retain(|(name, _)| name != ::http::header::USER_AGENT);
    if let Ok(value) = ::http::HeaderValue::from_str(&user_agent(component)) {
        config.headers.push((::http::header::USER_AGENT, value));
    }
    config
}

/// A client of `config` that says it is `component`, its requests counted.
pub fn client(config: Config, component: &str) -> Result<Client, kube::Error> {
    throttled_client(config, component, None)
}

/// [`client`], its requests held to `throttle` when one is given (`--kube-api-qps`).
pub fn throttled_client(
    config: Config,
    component: &str,
    throttle: Option<crate::throttle::Throttle>,
) -> Result<Client, kube::Error> {
    let builder = ClientBuilder::try_from(identify(config, component))?
        .with_layer(&MapRequestLayer::new(count));
    Ok(match throttle {
        Some(limit) => builder
            .with_layer(&crate::throttle::ThrottleLayer::new(limit))
            .build(),
        None => builder.build(),
    })
}

/// Requests sent to API servers so far by the clients this process made with [`client`].
pub fn api_requests() -> u64 {
    API_REQUESTS.load(Ordering::Relaxed)
}

fn count<B>(request: ::http::Request<B>) -> ::http::Request<B> {
    API_REQUESTS.fetch_add(1, Ordering::Relaxed);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_names_the_component_and_replaces_any_other() {
        let mut config = Config::new("https://127.0.0.1:6443".parse().expect("url"));
        config.headers.push((
            ::http::header::USER_AGENT,
            ::http::HeaderValue::from_static("other/1"),
        ));
        let config = identify(config, CAPM3);
        let agents: Vec<_> = config
            .headers
            .iter()
            .filter(|(n, _)| n == ::http::header::USER_AGENT)
            .map(|(_, v)| v.to_str().expect("ascii").to_string())
            .collect();
        assert_eq!(
            agents,
            [format!("metal3-capm3/{}", env!("CARGO_PKG_VERSION"))]
        );
        // The API server takes what comes before the `/` as the field manager.
        assert_eq!(
            user_agent(OPERATOR).split('/').next(),
            Some("metal3-operator")
        );
    }
}
