//! The IP address manager against the real API server: pools of every shape, claims of both
//! kinds answered and released, races between claims and between managers, and pools of a
//! Cluster API cluster.

#[path = "../common/mod.rs"]
mod common;

mod claims;
mod cluster;
mod pools;
mod races;
mod scope;
