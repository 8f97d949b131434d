//! The controllers, one per kind reconciled, each in the file of its kind: they read what the
//! pure modules need, call them, and write the result with optimistic concurrency. [`run`]
//! starts them all.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::Client;
use tracing::{debug, info, warn};

use crate::context::{Config, Context, error_policy};
use crate::workload;

pub mod addresses;
pub mod cluster;
pub mod data;
pub mod datatemplate;
pub mod labelsync;
pub mod machine;
pub mod machinetemplate;
pub mod remediation;

/// Whether the API server is Kubernetes 1.28 or newer (the out-of-service taint is GA there).
async fn taint_supported(client: &Client) -> bool {
    match client.apiserver_version().await {
        Ok(v) => {
            let major: u32 = v.major.trim_end_matches('+').parse().unwrap_or(0);
            let minor: u32 = v.minor.trim_end_matches('+').parse().unwrap_or(0);
            major > 1 || (major == 1 && minor >= 28)
        }
        Err(e) => {
            warn!(error = %e, "cannot read the server version; remediating by deleting Nodes");
            false
        }
    }
}

/// Runs every CAPM3 controller until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let out_of_service_taint = match config.out_of_service_taint {
        Some(v) => v,
        None => taint_supported(&client).await,
    };
    let ctx = Arc::new(Context {
        client,
        config,
        workloads: workload::Workloads::default(),
        out_of_service_taint,
        claims: tokio::sync::Mutex::new(()),
    });
    info!(
        namespace = ctx.config.namespace.as_deref().unwrap_or("<all>"),
        out_of_service_taint, "starting the Cluster API provider controllers"
    );
    let concurrency =
        kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency);
    macro_rules! drive {
        ($module:ident) => {
            $module::controller(&ctx)
                .with_config(concurrency.clone())
                .graceful_shutdown_on(shutdown.clone())
                .run($module::reconcile, error_policy, ctx.clone())
                .for_each(|r| async move {
                    if let Ok((obj, _)) = r {
                        debug!(object = %obj, "reconciled");
                    }
                })
        };
    }
    futures::join!(
        drive!(cluster),
        drive!(machine),
        drive!(datatemplate),
        drive!(data),
        drive!(remediation),
        drive!(machinetemplate),
        drive!(labelsync),
    );
    info!("Cluster API provider controllers stopped");
}
