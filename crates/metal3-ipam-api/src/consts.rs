//! Finalizers, annotations and labels of the IP address manager. They are part of the wire
//! contract with upstream: objects written by either manager carry the same ones.

/// Finalizer of an IPPool while addresses of it exist.
pub const POOL_FINALIZER: &str = "ippool.ipam.metal3.io";
/// Finalizer of an IPClaim while it holds an address.
pub const CLAIM_FINALIZER: &str = "ipclaim.ipam.metal3.io";
/// Finalizer of an IPAddress (`ipam.metal3.io`) until its claim releases it.
pub const ADDRESS_FINALIZER: &str = "ipaddress.ipam.metal3.io";
/// Finalizer of a Cluster API IPAddressClaim answered from an IPPool.
pub const CAPI_CLAIM_FINALIZER: &str = "ipam.metal3.io/ipaddressclaim";
/// Finalizer of a Cluster API IPAddress allocated from an IPPool.
pub const CAPI_ADDRESS_FINALIZER: &str = "ipam.metal3.io/ipaddress";
/// Claim annotation asking for one address in particular (either claim kind).
pub const REQUESTED_ADDRESS_ANNOTATION: &str = "ipAddress";
/// Value of the Cluster API provider label (`cluster.x-k8s.io/provider`) on pools of a cluster.
pub const PROVIDER_NAME: &str = "ipam-metal3";

/// Cluster API: label naming the Cluster an object belongs to.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Cluster API: label naming the provider an object belongs to.
pub const PROVIDER_LABEL: &str = "cluster.x-k8s.io/provider";
/// Cluster API: annotation pausing reconciliation of one object.
pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
/// Cluster API: label a controller started with `--watch-filter <value>` requires.
pub const WATCH_FILTER_LABEL: &str = "cluster.x-k8s.io/watch-filter";

/// Cluster API IPAM (`ipam.cluster.x-k8s.io`): the group of IPAddressClaim and IPAddress.
pub const CAPI_IPAM_GROUP: &str = "ipam.cluster.x-k8s.io";
/// Cluster API: the condition type of an answered (or failed) IPAddressClaim.
pub const CAPI_READY_CONDITION: &str = "Ready";
/// Cluster API: reason of a claim that got its address.
pub const CAPI_READY_REASON: &str = "Ready";
/// Cluster API: reason of a claim that cannot be answered for another reason than a full pool.
pub const CAPI_ALLOCATION_FAILED_REASON: &str = "AllocationFailed";
/// Cluster API: reason of a claim whose pool has no free address left.
pub const CAPI_POOL_EXHAUSTED_REASON: &str = "PoolExhausted";
