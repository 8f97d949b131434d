//! A typed async client of OpenStack Ironic's REST API, as the Ironic provisioner uses it.
//!
//! - [`Config`] is where to find Ironic and how to authenticate, read from the same environment
//!   variables and files upstream Metal³ uses ([`Config::from_env`]).
//! - [`Client`] negotiates the API microversion once (`GET /v1/`: at least 1.89, newer
//!   features when offered, see [`version`]), sends it on every request, retries requests that
//!   found the node locked (HTTP 409 "locked") with growing pauses, and turns Ironic's error
//!   bodies into [`Error`]s that carry Ironic's own message.
//! - [`types`] are the resources, typed leniently: unknown fields are ignored and maps Ironic
//!   owns (`driver_info`, `instance_info`, `properties`) stay JSON.

mod client;
mod config;
mod error;
pub mod types;
pub mod version;

pub use client::{Client, PatchOp};
pub use config::{Auth, Config, ConfigError};
pub use error::Error;
pub use reqwest::Method;
