//! A small typed Redfish client for managing many BMCs from one process.
//!
//! - [`Pool`] keeps one entry per BMC and set of credentials: a session (`X-Auth-Token`, logged
//!   in once and reused, logged out when idle or at shutdown; basic authentication when the BMC
//!   has no session service), a limit on concurrent requests, and a circuit breaker
//!   ([`breaker`]) that holds calls back after failures in a row.
//! - [`Connection`] sends requests: idempotent ones are retried with growing pauses on
//!   connection failures and server errors, any request on `503` (the BMC was busy and did
//!   nothing); a stale session is renewed once; `If-Match` carries ETags; task monitors are
//!   read with [`Connection::task`].
//! - [`types`] are the resources the provisioner reads, typed leniently.
//!
//! Errors ([`Error`]) carry the BMC's own reason, never the credentials.
//!
//! The client knows nothing of BareMetalHosts: it is given an [`Endpoint`] (the service's base
//! URL and whether to verify its TLS certificate) and the path of the system to manage.
//!
//! Modules:
//!
//! - `client`: the [`Pool`], its [`Config`], [`Endpoint`], [`Connection`] and [`Reply`].
//! - [`breaker`]: the circuit breaker's rules (pure, the clock passed in).
//! - `error`: [`Error`] and the reason a Redfish error body gives ([`reason`]).
//! - [`types`]: the Redfish resources, typed leniently.
//! - `limits`: what a BMC may send back: bodies read up to `Config::max_body`, no redirects
//!   followed (credentials stay with the BMC's address); `Config::timeout` is a total deadline.
//!
//! No existing crate fitted: the Redfish crates we looked at are either vendor-specific or
//! thin wrappers without session pooling, per-BMC limits or breakers, which are what managing
//! thousands of BMCs from one replica needs.

pub mod breaker;
mod client;
mod error;
mod limits;
pub mod types;

pub use client::{Config, Connection, Endpoint, Pool, Reply, TaskProgress, decode};
pub use error::{Error, reason};
