//! Finalizers, annotations, labels, condition types and reasons of CAPM3 and the parts of the
//! Cluster API contract it uses. They are part of the wire contract with upstream.

/// Finalizer of Metal3Cluster.
pub const CLUSTER_FINALIZER: &str = "metal3cluster.infrastructure.cluster.x-k8s.io";
/// Finalizer of Metal3Machine (also put on the Metal3DataClaim it creates).
pub const MACHINE_FINALIZER: &str = "metal3machine.infrastructure.cluster.x-k8s.io";
/// Finalizer of Metal3DataTemplate.
pub const DATA_TEMPLATE_FINALIZER: &str = "metal3datatemplate.infrastructure.cluster.x-k8s.io";
/// Finalizer the template controller puts on Metal3DataClaims and the Metal3Data it renders.
pub const DATA_CLAIM_FINALIZER: &str = "metal3dataclaim.infrastructure.cluster.x-k8s.io";
/// Finalizer of Metal3Data (and of the IP claims it makes).
pub const DATA_FINALIZER: &str = "metal3data.infrastructure.cluster.x-k8s.io";
/// Finalizer of Metal3Remediation.
pub const REMEDIATION_FINALIZER: &str = "metal3remediation.infrastructure.cluster.x-k8s.io";

/// Metal3Machine annotation naming the BareMetalHost it consumes, as `<namespace>/<name>`.
pub const HOST_ANNOTATION: &str = "metal3.io/BareMetalHost";
/// Value of the BareMetalHost paused annotation when CAPM3 paused the host.
pub const PAUSED_BY_CAPM3: &str = "metal3.io/capm3";
/// BareMetalHost annotation marking a host unhealthy: it is never chosen for a Machine.
pub const UNHEALTHY_ANNOTATION: &str = "capm3.metal3.io/unhealthy";
/// Older spelling of [`UNHEALTHY_ANNOTATION`], still honoured.
pub const UNHEALTHY_ANNOTATION_DEPRECATED: &str = "capi.metal3.io/unhealthy";
/// Value CAPM3 writes into [`UNHEALTHY_ANNOTATION`] when remediation gives up.
pub const UNHEALTHY_VALUE: &str = "capm3/UnhealthyNode";
/// BareMetalHost label reserving a released host for a MachineDeployment (`md-<name>`) or a
/// control plane (`cp-<name>`) with node reuse.
pub const NODE_REUSE_LABEL: &str = "infrastructure.cluster.x-k8s.io/node-reuse";
/// BareMetalHost label naming its failure domain.
pub const FAILURE_DOMAIN_LABEL: &str = "infrastructure.cluster.x-k8s.io/failure-domain";
/// Metal3Cluster annotation listing label prefixes synchronised from hosts to Nodes.
pub const LABEL_SYNC_PREFIXES_ANNOTATION: &str = "metal3.io/metal3-label-sync-prefixes";
/// Prefix of the reboot annotation a Metal3Remediation puts on its host
/// (`reboot.metal3.io/metal3-remediation-<uid>`).
pub const REMEDIATION_REBOOT_PREFIX: &str = "reboot.metal3.io/metal3-remediation-";
/// Node backup annotations kept on the Metal3Remediation while a Node is deleted.
pub const NODE_LABELS_BACKUP_ANNOTATION: &str = "remediation.metal3.io/node-labels-backup";
/// See [`NODE_LABELS_BACKUP_ANNOTATION`].
pub const NODE_ANNOTATIONS_BACKUP_ANNOTATION: &str =
    "remediation.metal3.io/node-annotations-backup";
/// Type of the Secrets the data controller renders.
pub const DATA_SECRET_TYPE: &str = "infrastructure.cluster.x-k8s.io/secret";
/// Key of a rendered metadata Secret.
pub const META_DATA_KEY: &str = "metaData";
/// Key of a rendered network data Secret.
pub const NETWORK_DATA_KEY: &str = "networkData";

/// Cluster API: label naming the Cluster an object belongs to.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Cluster API: annotation pausing reconciliation of one object.
pub const CAPI_PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
/// Cluster API: label marking control-plane Machines.
pub const CONTROL_PLANE_LABEL: &str = "cluster.x-k8s.io/control-plane";
/// Cluster API: label of objects managed by something other than their provider.
pub const MANAGED_BY_LABEL: &str = "cluster.x-k8s.io/managed-by";
/// Cluster API: annotation naming the template an object was cloned from.
pub const CLONED_FROM_NAME_ANNOTATION: &str = "cluster.x-k8s.io/cloned-from-name";
/// Cluster API: annotation naming the group and kind of that template.
pub const CLONED_FROM_GROUP_KIND_ANNOTATION: &str = "cluster.x-k8s.io/cloned-from-groupkind";
/// Group and kind of Metal3MachineTemplate, as in [`CLONED_FROM_GROUP_KIND_ANNOTATION`].
pub const MACHINE_TEMPLATE_GROUP_KIND: &str =
    "Metal3MachineTemplate.infrastructure.cluster.x-k8s.io";
/// clusterctl: annotation that stops `clusterctl move` while a host is being worked on.
pub const BLOCK_MOVE_ANNOTATION: &str = "clusterctl.cluster.x-k8s.io/block-move";
/// clusterctl: label of CRDs (and objects) that `clusterctl move` always copies.
pub const MOVE_LABEL: &str = "clusterctl.cluster.x-k8s.io/move";
/// Annotation carrying the v1beta2 form of an object converted down to v1beta1, so the next
/// up-conversion loses nothing (the Cluster API convention).
pub const CONVERSION_DATA_ANNOTATION: &str = "cluster.x-k8s.io/conversion-data";

/// Condition types and reasons (v1beta2 `metav1.Condition`s).
pub mod conditions {
    /// Summary condition of every kind.
    pub const READY: &str = "Ready";
    /// Set while the owner Cluster or the object is paused.
    pub const PAUSED: &str = "Paused";
    /// Metal3Cluster: the control-plane endpoint is known.
    pub const BAREMETAL_INFRASTRUCTURE_READY: &str = "BaremetalInfrastructureReady";
    /// Metal3Machine: a BareMetalHost is associated.
    pub const ASSOCIATE_BMH: &str = "AssociateBareMetalHost";
    /// Metal3Machine: metadata and network data references are in place.
    pub const ASSOCIATE_METADATA: &str = "AssociateMetal3MachineMetaData";
    /// Metal3Machine: the rendered Metal3Data is ready.
    pub const METAL3_DATA_READY: &str = "Metal3DataReady";

    /// Generic reasons of the summary condition.
    pub const READY_REASON: &str = "Ready";
    /// See [`READY_REASON`].
    pub const NOT_READY_REASON: &str = "NotReady";
    /// [`PAUSED`] is true.
    pub const PAUSED_REASON: &str = "Paused";
    /// [`PAUSED`] is false.
    pub const NOT_PAUSED_REASON: &str = "NotPaused";
    /// Being deleted.
    pub const DELETING_REASON: &str = "Deleting";
    /// Deletion failed (retried).
    pub const DELETION_FAILED_REASON: &str = "DeletionFailed";
    /// Metal3Cluster: no usable control-plane endpoint.
    pub const CONTROL_PLANE_ENDPOINT_FAILED: &str = "ControlPlaneEndpointFailed";
    /// Metal3Cluster: the owner Cluster could not be read.
    pub const FAILED_TO_GET_OWNER_CLUSTER: &str = "FailedToGetOwnerCluster";
    /// Metal3Machine: no owner Machine yet.
    pub const WAITING_FOR_OWNER_REF: &str = "WaitingForMetal3MachineOwnerRef";
    /// Metal3Machine: the Cluster's infrastructure is not provisioned yet.
    pub const WAITING_FOR_CLUSTER_INFRASTRUCTURE: &str = "WaitingForClusterInfrastructureReady";
    /// Metal3Machine: the Metal3Cluster is missing.
    pub const WAITING_FOR_METAL3_CLUSTER: &str = "WaitingforMetal3Cluster";
    /// Metal3Machine: the Machine has no bootstrap data yet.
    pub const WAITING_FOR_BOOTSTRAP_DATA: &str = "WaitingForBootstrapData";
    /// Metal3Machine: a host was associated.
    pub const ASSOCIATE_BMH_SUCCESS: &str = "AssociateBareMetalHostSuccess";
    /// Metal3Machine: a host reserved by node reuse was associated.
    pub const ASSOCIATE_BMH_VIA_NODE_REUSE_SUCCESS: &str =
        "AssociateBareMetalHostViaNodeReuseSuccess";
    /// Metal3Machine: no host could be associated.
    pub const ASSOCIATE_BMH_FAILED: &str = "AssociateBareMetalHostFailed";
    /// Metal3Machine: the host's paused annotation could not be set.
    pub const PAUSE_ANNOTATION_SET_FAILED: &str = "BareMetalHostPauseAnnotationSetFailed";
    /// Metal3Machine: the host's paused annotation could not be removed.
    pub const PAUSE_ANNOTATION_REMOVE_FAILED: &str = "BareMetalHostPauseAnnotationRemoveFailed";
    /// Metal3Machine: metadata references are set.
    pub const ASSOCIATE_METADATA_SUCCESS: &str = "AssociateMetal3MachineMetaDataSuccess";
    /// Metal3Machine: metadata references could not be set.
    pub const ASSOCIATE_METADATA_FAILED: &str = "AssociateMetal3MachineMetaDataFailed";
    /// Metal3Machine: waiting for the Metal3Data to be rendered.
    pub const WAITING_FOR_METAL3_DATA: &str = "WaitingForMetal3Data";
    /// Metal3Machine: the rendered Secrets are ready.
    pub const METAL3_DATA_SECRETS_READY: &str = "Metal3DataSecretsReady";
    /// Metal3Machine: the data Secrets were given in the spec.
    pub const SECRETS_SET_EXTERNALLY: &str = "SecretsSetExternally";
    /// Metal3Machine: terminal errors, as in the deprecated `failureReason`.
    pub const CREATE_ERROR: &str = "CreateError";
    /// See [`CREATE_ERROR`].
    pub const UPDATE_ERROR: &str = "UpdateError";
    /// See [`CREATE_ERROR`].
    pub const DELETE_ERROR: &str = "DeleteError";
    /// See [`CREATE_ERROR`].
    pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";
}
