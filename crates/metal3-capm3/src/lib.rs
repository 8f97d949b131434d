//! The Cluster API provider Metal3 (CAPM3): the controllers that give Cluster API Machines
//! BareMetalHosts, render their metadata and network data, remediate unhealthy ones, and the
//! webhook server (conversion, defaulting, validation) of the `infrastructure.cluster.x-k8s.io`
//! kinds.
//!
//! Layout: a module at the top is pure — facts in, a value or a decision out, tested without
//! Kubernetes — unless it is one of the edges named below; the controllers, which read what
//! the pure modules need, call them and write the result with optimistic concurrency, live in
//! [`controller`], one file (or directory) per kind reconciled. The admission rules the webhook
//! server applies are pure too and live with the other admission rules in
//! [`metal3_admission::capm3`].
//!
//! Pure:
//! - [`capi`]: the read-only views of Cluster API's own objects (Cluster, Machine, MachineSet);
//! - [`conditions`]: setting and summarising `metav1.Condition`s as Kubernetes does;
//! - [`hosts`]: which BareMetalHost a Metal3Machine gets;
//! - [`hostspec`]: what a machine does to its host, as edits of a host value and their patch;
//! - [`ippool`]: IPClaim names (BareMetalHost-name-based preallocation), whose a claim is, and
//!   the DNS servers of a Cluster API address from its Metal3 IPPool;
//! - [`labelsync`]: which host labels a workload Node mirrors, and the change that makes it;
//! - [`provider_id`]: the `metal3://` provider IDs;
//! - [`remediation`]: the next step of a reboot remediation;
//! - [`render`]: a Metal3DataTemplate rendered for one machine (metadata, network data);
//! - [`selector`]: a `hostSelector`'s label requirements, parsed and matched;
//! - [`v1beta1conditions`]: the v1beta1 condition mirrors upstream keeps for v1beta1 readers.
//!
//! Edges:
//! - [`context`]: [`Config`], [`Context`], [`Error`] and the reconcile plumbing;
//! - [`controller`]: the seven controllers and [`run`], which starts them;
//! - [`patch`]: merge patches from the object read to the object wanted, and the write;
//! - [`webhook`]: the webhook server (`/convert`, `/mutate-…`, `/validate-…`);
//! - [`workload`]: clients for workload clusters.

pub mod capi;
pub mod conditions;
pub mod context;
pub mod controller;
pub mod hostclaim;
pub mod hosts;
pub mod hostspec;
pub mod ippool;
pub mod labelsync;
pub mod patch;
pub mod provider_id;
pub mod remediation;
pub mod render;
pub mod selector;
pub mod v1beta1conditions;
pub mod webhook;
pub mod workload;

pub use context::{Config, Context, Error};
pub use controller::run;
