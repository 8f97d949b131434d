//! The Cluster API provider Metal3 (CAPM3): controllers that give Cluster API Machines
//! BareMetalHosts, and the webhooks of the `infrastructure.cluster.x-k8s.io` kinds.

pub mod hosts;
pub mod hostspec;
pub mod provider_id;
pub mod render;
pub mod selector;
pub mod webhooks;
