//! The fleet and one host as people read them, from the objects the operator keeps in
//! Kubernetes (hosts, Events, the operator's Lease) — so `metal3 status`/`timeline` and the
//! operator's fleet page say the same things from the same code.
//!
//! Pure, unit-tested modules:
//! - [`facts`]: what is read off one host (since when in its state, last error, retries);
//! - [`status`]: the fleet summed up, and its text;
//! - [`timeline`]: one host's life, and its text;
//! - [`steps`]: a host's step log (states entered, errors), as the operator keeps it;
//! - [`history`]: hosts by state over time, and the operator's rates, sampled in memory;
//! - [`page`]: the fleet page and a host's page, as HTML;
//! - [`text`]: aligned columns, durations, times.
//!
//! One edge: [`read`], the calls for a host's Events and step log and the operator's Lease.

pub mod facts;
pub mod history;
pub mod page;
pub mod read;
pub mod status;
pub mod steps;
pub mod text;
pub mod timeline;
