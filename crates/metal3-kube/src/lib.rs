//! Kubernetes helpers that every controller of the binary shares — the Bare Metal Operator's
//! and the Cluster API provider's — and nothing specific to either: metadata operations
//! ([`meta`]), serving admission and conversion webhooks over TLS ([`webhook`]), leader
//! election and the stop signal ([`leader`]), shards held on Leases ([`shards`], with the pure
//! [`shard_plan`]), the probe and metrics endpoints ([`http`]), metrics over HTTPS for callers
//! the API server vouches for ([`metrics_access`]), the name our clients give the API server
//! ([`identity`]), the rate they may call it at ([`throttle`]), and objects held packed in
//! watch caches ([`packed`]).

pub mod http;
pub mod identity;
pub mod leader;
pub mod meta;
pub mod metrics_access;
pub mod packed;
pub mod shard_plan;
pub mod shards;
pub mod throttle;
pub mod webhook;
