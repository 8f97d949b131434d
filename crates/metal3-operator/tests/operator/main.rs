//! The operator against a real kube-apiserver, with the fixture backend: the upstream end-to-end
//! scenarios, each in its own namespace with its own operator instance, so they run in parallel.
//!
//! One test binary (each links the whole stack); the scenarios are grouped by theme, with the
//! shared environment in [`common`].

mod annotations;
mod common;
mod companions;
mod firmware;
mod hostclaims;
mod lifecycle;
mod recovery;
