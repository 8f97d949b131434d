//! The spare simulated servers' manifests: `metal3 up` serves a few servers it does not
//! register, and writes, for each, a ready manifest (its Secret and BareMetalHost, with the BMC
//! address at the port actually used) for the user to apply. Pure: the caller writes the files.

use serde_json::Value;

/// One manifest file per spare server: `(file name, YAML)`. `docs` are the fleet's objects
/// as [`metal3_sim::manifest_objects`] returns them, a Secret and a BareMetalHost per server;
/// the servers from `first_spare` on are the spare ones. The manifests name no namespace, so
/// `kubectl -n NS apply -f` puts them anywhere (the operator of `metal3 up` watches every
/// namespace of its own control plane); `namespace` is the one the hint in the file suggests.
pub fn manifests(docs: &[Value], first_spare: usize, namespace: &str) -> Vec<(String, String)> {
    docs.chunks(2)
        .enumerate()
        .skip(first_spare)
        .map(|(index, objects)| {
            let host = objects
                .iter()
                .find(|o| o["kind"] == "BareMetalHost")
                .and_then(|o| o["metadata"]["name"].as_str())
                .unwrap_or("a spare host");
            let bmc = objects
                .iter()
                .find_map(|o| o["spec"]["bmc"]["address"].as_str())
                .unwrap_or("?");
            let file = file_name(index);
            let yaml = format!(
                "# {host}: a spare simulated server of `metal3 up`, not registered yet; its BMC is\n\
                 # {bmc}\n\
                 # The Secret holds the BMC's credentials. Register the host with:\n\
                 #   kubectl -n {namespace} apply -f {file}\n{}",
                metal3_sim::to_yaml(objects)
            );
            (file, yaml)
        })
        .collect()
}

/// The manifest file of server `index`.
pub fn file_name(index: usize) -> String {
    format!("host-{index}.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(servers: usize, port: u16) -> Vec<Value> {
        let fleet = metal3_sim::Fleet::new(servers, "admin", "password");
        metal3_sim::manifest_objects(
            &fleet,
            &metal3_sim::Addressing {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                per_host_base: None,
                tls: false,
            },
        )
    }

    /// The objects of a multi-document stream as `to_yaml` writes it (JSON documents).
    fn objects(yaml: &str) -> Vec<Value> {
        yaml.split("\n---\n")
            .skip(1)
            .map(|doc| serde_json::from_str(doc).expect("a JSON document"))
            .collect()
    }

    #[test]
    fn one_file_per_spare_server_with_its_secret_and_host_at_the_real_port() {
        let files = manifests(&fleet(4, 8123), 2, "metal3");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["host-2.yaml", "host-3.yaml"]);
        let (_, yaml) = &files[1];
        assert!(yaml.starts_with("# sim-3: a spare"), "{yaml}");
        assert!(
            yaml.contains("kubectl -n metal3 apply -f host-3.yaml"),
            "{yaml}"
        );
        let objects = objects(yaml);
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["kind"], "Secret");
        assert_eq!(objects[0]["metadata"]["name"], "sim-3-bmc-secret");
        assert_eq!(objects[1]["kind"], "BareMetalHost");
        assert_eq!(objects[1]["metadata"]["name"], "sim-3");
        assert_eq!(
            objects[1]["spec"]["bmc"]["credentialsName"],
            "sim-3-bmc-secret"
        );
        let address = objects[1]["spec"]["bmc"]["address"]
            .as_str()
            .expect("address");
        assert!(address.contains("//127.0.0.1:8123/"), "{address}");
        assert!(objects[1]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn no_spare_servers_no_files() {
        assert!(manifests(&fleet(2, 8000), 2, "metal3").is_empty());
    }
}
