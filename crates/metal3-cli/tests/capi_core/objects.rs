//! The objects a user writes for one workload cluster, in either contract: Cluster API's
//! `cluster.x-k8s.io` kinds and the provider's `infrastructure.cluster.x-k8s.io` kinds as
//! v1beta2, or all as v1beta1 (which the API server converts through Cluster API's and the
//! provider's webhooks).

use serde_json::{Value, json};

/// The Kubernetes version the machines claim to run.
const VERSION: &str = "v1.34.4";
/// The failure domain of every host and machine.
pub const FAILURE_DOMAIN: &str = "rack-a";
pub const CAPI: &str = "cluster.x-k8s.io";
pub const INFRA: &str = "infrastructure.cluster.x-k8s.io";

/// Which version the test writes its objects in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    V1beta2,
    V1beta1,
}

impl Contract {
    pub fn version(self) -> &'static str {
        match self {
            Contract::V1beta2 => "v1beta2",
            Contract::V1beta1 => "v1beta1",
        }
    }

    /// A reference to an infrastructure object of kind `kind` named `name`.
    fn infra_ref(self, kind: &str, name: &str) -> Value {
        match self {
            Contract::V1beta2 => json!({"apiGroup": INFRA, "kind": kind, "name": name}),
            Contract::V1beta1 => {
                json!({"apiVersion": format!("{INFRA}/v1beta1"), "kind": kind, "name": name})
            }
        }
    }

    /// `(apiVersion, kind, metadata, spec)` as one object.
    fn object(self, group: &str, kind: &str, metadata: Value, spec: Value) -> Value {
        json!({
            "apiVersion": format!("{group}/{}", self.version()), "kind": kind,
            "metadata": metadata, "spec": spec,
        })
    }

    pub fn cluster(self, name: &str) -> Value {
        self.object(
            CAPI,
            "Cluster",
            json!({"name": name}),
            json!({"infrastructureRef": self.infra_ref("Metal3Cluster", name)}),
        )
    }

    pub fn metal3_cluster(self, name: &str) -> Value {
        let endpoint = json!({"host": "192.0.2.10", "port": 6443});
        let spec = match self {
            Contract::V1beta2 => json!({
                "controlPlaneEndpoint": endpoint, "cloudProviderEnabled": false,
                "failureDomains": [{"name": FAILURE_DOMAIN}],
            }),
            Contract::V1beta1 => json!({
                "controlPlaneEndpoint": endpoint, "noCloudProvider": true,
                "failureDomains": {FAILURE_DOMAIN: {}},
            }),
        };
        self.object(INFRA, "Metal3Cluster", json!({"name": name}), spec)
    }

    /// Metadata from the pool `pool` and network data whose address comes from it.
    pub fn data_template(self, cluster: &str, name: &str, pool: &str) -> Value {
        let from_pool = json!([{"key": "provisioning-ip", "name": pool}]);
        let mut meta_data = json!({
            "strings": [{"key": "cluster", "value": cluster}],
            "objectNames": [{"key": "machine", "object": "machine"}],
        });
        let mut spec = json!({
            "networkData": {
                "links": {"ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}]},
                "networks": {"ipv4": [{"id": "provisioning", "link": "eth0", "ipAddressFromIPPool": pool,
                    "routes": [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": pool}}]}]},
                "services": {"dnsFromIPPool": pool},
            },
        });
        match self {
            Contract::V1beta2 => meta_data["ipAddressesFromPool"] = from_pool,
            Contract::V1beta1 => {
                // v1beta1 names the pool's kind (upstream's schema requires it).
                meta_data["ipAddressesFromIPPool"] = json!([{
                    "key": "provisioning-ip", "name": pool, "apiGroup": "ipam.metal3.io", "kind": "IPPool",
                }]);
                spec["clusterName"] = json!(cluster);
            }
        }
        spec["metaData"] = meta_data;
        let labels = json!({"cluster.x-k8s.io/cluster-name": cluster});
        self.object(
            INFRA,
            "Metal3DataTemplate",
            json!({"name": name, "labels": labels}),
            spec,
        )
    }

    pub fn machine_template(self, name: &str, data_template: &str) -> Value {
        self.object(
            INFRA,
            "Metal3MachineTemplate",
            json!({"name": name}),
            json!({"template": {"spec": metal3_machine_spec(data_template)}}),
        )
    }

    /// A control plane machine of its own (no control plane provider): its Metal3Machine and
    /// its Machine. Once its Node joins, Cluster API counts the control plane initialized and
    /// reads the workload cluster's Nodes (the MachineHealthCheck needs them).
    pub fn control_plane_machine(
        self,
        cluster: &str,
        name: &str,
        bootstrap: &str,
        data_template: &str,
    ) -> [Value; 2] {
        let labels =
            json!({"cluster.x-k8s.io/cluster-name": cluster, "cluster.x-k8s.io/control-plane": ""});
        [
            self.object(
                INFRA,
                "Metal3Machine",
                json!({"name": name}),
                metal3_machine_spec(data_template),
            ),
            self.object(
                CAPI,
                "Machine",
                json!({"name": name, "labels": labels}),
                json!({
                    "clusterName": cluster,
                    "version": VERSION,
                    "failureDomain": FAILURE_DOMAIN,
                    "bootstrap": {"dataSecretName": bootstrap},
                    "infrastructureRef": self.infra_ref("Metal3Machine", name),
                }),
            ),
        ]
    }

    /// A MachineDeployment of `replicas` machines booting `bootstrap` (a Secret's name).
    pub fn machine_deployment(
        self,
        cluster: &str,
        name: &str,
        replicas: i32,
        template: &str,
        bootstrap: &str,
    ) -> Value {
        let labels = json!({"cluster.x-k8s.io/cluster-name": cluster, "pool": name});
        self.object(
            CAPI,
            "MachineDeployment",
            json!({"name": name}),
            json!({
                "clusterName": cluster,
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "clusterName": cluster,
                        "version": VERSION,
                        "failureDomain": FAILURE_DOMAIN,
                        "bootstrap": {"dataSecretName": bootstrap},
                        "infrastructureRef": self.infra_ref("Metal3MachineTemplate", template),
                    },
                },
            }),
        )
    }

    /// Reboot once, then give up after upstream's shortest timeout (100 s).
    pub fn remediation_template(self, name: &str) -> Value {
        let strategy = match self {
            Contract::V1beta2 => json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 100}),
            Contract::V1beta1 => json!({"type": "Reboot", "retryLimit": 1, "timeout": "100s"}),
        };
        self.object(
            INFRA,
            "Metal3RemediationTemplate",
            json!({"name": name}),
            json!({"template": {"spec": {"strategy": strategy}}}),
        )
    }

    /// A MachineHealthCheck of the deployment `deployment`: a Node not Ready for 5 s is
    /// remediated through `template`.
    pub fn health_check(
        self,
        cluster: &str,
        name: &str,
        deployment: &str,
        template: &str,
    ) -> Value {
        let selector = json!({"matchLabels": {"pool": deployment}});
        let spec = match self {
            Contract::V1beta2 => json!({
                "clusterName": cluster,
                "selector": selector,
                "checks": {
                    "nodeStartupTimeoutSeconds": 600,
                    "unhealthyNodeConditions": [
                        {"type": "Ready", "status": "False", "timeoutSeconds": 5},
                        {"type": "Ready", "status": "Unknown", "timeoutSeconds": 5},
                    ],
                },
                "remediation": {"templateRef": {
                    "apiVersion": format!("{INFRA}/v1beta2"), "kind": "Metal3RemediationTemplate", "name": template,
                }},
            }),
            Contract::V1beta1 => json!({
                "clusterName": cluster,
                "selector": selector,
                "nodeStartupTimeout": "10m",
                "unhealthyConditions": [
                    {"type": "Ready", "status": "False", "timeout": "5s"},
                    {"type": "Ready", "status": "Unknown", "timeout": "5s"},
                ],
                "remediationTemplate": {
                    "apiVersion": format!("{INFRA}/v1beta1"), "kind": "Metal3RemediationTemplate", "name": template,
                },
            }),
        };
        self.object(CAPI, "MachineHealthCheck", json!({"name": name}), spec)
    }
}

/// What every Metal3Machine deploys: an image, and metadata and network data from the template.
fn metal3_machine_spec(data_template: &str) -> Value {
    let image = json!({"url": "http://images.example/ubuntu.qcow2", "checksum": "abc123",
                       "checksumType": "sha256", "diskFormat": "qcow2"});
    json!({"image": image, "dataTemplate": {"name": data_template}})
}

/// A Metal³ IP pool of ten addresses (one more than the test ever uses at once).
pub fn ip_pool(name: &str, third_octet: u8) -> Value {
    json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": name},
        "spec": {
            "namePrefix": name,
            "pools": [{"start": format!("192.168.{third_octet}.10"), "end": format!("192.168.{third_octet}.19")}],
            "prefix": 24,
            "gateway": format!("192.168.{third_octet}.1"),
            "dnsServers": ["192.0.2.53"],
        },
    })
}

/// The bootstrap data every machine of the test boots (a stand-in for kubeadm's cloud-config).
pub fn user_data(cluster: &str) -> String {
    format!("#cloud-config\nruncmd:\n  - echo joining {cluster}\n")
}

/// A Secret for `cluster` with `data` under `value`, as Cluster API names and labels them.
pub fn cluster_secret(cluster: &str, name: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
        "type": "cluster.x-k8s.io/secret",
        "stringData": {"value": value},
    })
}

/// A BareMetalHost of the fixture backend in the failure domain, and its BMC Secret.
pub fn host(name: &str) -> [Value; 2] {
    let secret = format!("{name}-bmc");
    [
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret},
            "stringData": {"username": "admin", "password": format!("pw-{name}")},
        }),
        json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": name, "labels": {"infrastructure.cluster.x-k8s.io/failure-domain": FAILURE_DOMAIN}},
            "spec": {
                "online": false,
                "bmc": {"address": format!("redfish://192.0.2.1/redfish/v1/Systems/{name}"), "credentialsName": secret},
            },
        }),
    ]
}
