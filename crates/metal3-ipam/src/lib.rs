//! Metal³'s IP address manager: answers IPClaims (`ipam.metal3.io`) and Cluster API
//! IPAddressClaims (`ipam.cluster.x-k8s.io`) that name an IPPool with an address of the
//! pool, as an IPAddress of the claim's own API group; takes the address back when the claim
//! goes; and serves the webhooks (defaulting, validation) of the `ipam.metal3.io` kinds.
//!
//! Layout: a module at the top is pure — facts in, a value or a decision out, tested without
//! Kubernetes — unless it is one of the edges named below.
//!
//! Pure:
//! - [`range`]: the addresses of one range of a pool, as numbers;
//! - [`alloc`]: one address for one claim (requested, pre-allocated, or the next free one);
//! - [`facts`]: claims and addresses of both kinds reduced to what the allocation needs;
//! - [`plan`]: one pass over a pool (releases, reservations, answers, failures);
//! - [`admission`]: the webhooks' rules and defaults;
//! - [`capi`]: the Cluster API objects read or written, as typed structs of our own.
//!
//! Edges:
//! - [`context`]: [`Config`], [`Context`], [`Error`] and the watches' scope;
//! - [`controller`]: the IPPool controller and [`run`], which starts it;
//! - [`metrics`]: the Prometheus counters;
//! - [`webhook`]: the webhook server's routes (`/mutate-…`, `/validate-…`).

pub mod admission;
pub mod alloc;
pub mod capi;
pub mod context;
pub mod controller;
pub mod facts;
pub mod metrics;
pub mod plan;
pub mod range;
pub mod webhook;

pub use context::{Config, Context, Error};
pub use controller::run;
pub use facts::{ClaimKey, ClaimKind};
pub use metrics::Metrics;
