//! `metal3 operator --provisioner redfish` against the simulated BMC fleet and the real API
//! server: many hosts through register → inspect → available → provision (live ISO) →
//! provisioned → deprovision → delete, with no Ironic anywhere.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_sim::fleet::{Power, Running};
use serde_json::json;

mod common;
use common::{create_all, fleet_objects, operator, tail, wait_for};

const ISO: &str = "http://images.example/live.iso";
const HOSTS: usize = 6;

fn total_calls(fleet: &metal3_sim::Fleet) -> u64 {
    (0..fleet.len())
        .filter_map(|i| fleet.host(i))
        .map(|h| h.calls.values().sum::<u64>())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hosts_through_the_lifecycle_over_redfish() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "redfish").await.expect("namespace");

    // The simulated BMCs: each with its own password, a short POST, a little latency.
    let fleet = metal3_sim::Fleet::with_credentials(HOSTS, "admin", "pw", true);
    fleet
        .set_faults(metal3_sim::faults::Faults {
            latency_ms: [1, 5],
            post_ms: 200,
            ..Default::default()
        })
        .expect("knobs");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let objects = fleet_objects(&fleet, addr);
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let names = create_all(&client, &ns, objects).await;

    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut operator = operator(cp, &ns, &logs, &["--provisioner", "redfish"], &[]);
    let mut phases = BTreeMap::new();

    // Register and inspect out of band: available, inventory filled, still powered off.
    wait_for(&hosts, &names, "available", logs.path(), |h| {
        h.provisioning_state().as_str() == "available"
    })
    .await;
    phases.insert("to available", total_calls(&fleet));
    let first = hosts.get(&names[0]).await.expect("host");
    let hardware = first
        .status
        .as_ref()
        .and_then(|s| s.hardware.clone())
        .expect("inspected hardware");
    assert_eq!(hardware.cpu.count, 32);
    assert_eq!(hardware.nics.len(), 2);
    assert_eq!(hardware.storage.len(), 4);
    assert_eq!(hardware.ram_mebibytes, 64 * 1024);

    // Provision live ISOs on four hosts; ask one for a disk image this backend cannot write.
    let (live, rest) = names.split_at(4);
    let before = total_calls(&fleet);
    for name in live {
        let patch = json!({"spec": {"image": {"url": ISO, "format": "live-iso"}}});
        hosts
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
    let disk = &rest[0];
    let patch = json!({"spec": {"image": {"url": "http://images.example/os.qcow2", "checksum": "http://images.example/os.qcow2.sha256sum", "format": "qcow2"}}});
    hosts
        .patch(disk, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    wait_for(&hosts, live, "provisioned", logs.path(), |h| {
        h.provisioning_state().as_str() == "provisioned"
    })
    .await;
    phases.insert("provision 4 live ISOs", total_calls(&fleet) - before);
    for name in live {
        let index: usize = name.trim_start_matches("sim-").parse().expect("index");
        let server = fleet.host(index).expect("server");
        assert_eq!(server.running, Running::VirtualMedia(ISO.into()), "{name}");
        assert_eq!(server.power, Power::On);
    }
    wait_for(
        &hosts,
        std::slice::from_ref(disk),
        "refused",
        logs.path(),
        |h| {
            h.status
                .as_ref()
                .is_some_and(|s| s.error_message.contains("in-band agent"))
        },
    )
    .await;

    // Deprovision: the media is ejected and the hosts are off and available again.
    let before = total_calls(&fleet);
    for name in live {
        let patch = json!({"spec": {"image": null}});
        hosts
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
    wait_for(&hosts, live, "available again", logs.path(), |h| {
        h.provisioning_state().as_str() == "available"
    })
    .await;
    phases.insert("deprovision 4", total_calls(&fleet) - before);
    for name in live {
        let index: usize = name.trim_start_matches("sim-").parse().expect("index");
        let server = fleet.host(index).expect("server");
        assert!(!server.cd.inserted, "{name}: medium ejected");
    }

    // Delete everything; the finalizers go once the backend lets go.
    for name in &names {
        hosts
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = hosts
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .len();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} hosts not deleted\n{}",
            tail(logs.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A clean stop logs out of every BMC.
    let pid = operator.0.id().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if operator.0.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the operator did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fleet.open_sessions(), 0, "no session leaked");
    eprintln!("BMC calls ({HOSTS} hosts): {phases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_faults_show_on_the_host_and_clear_on_their_own() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "redfish-faults")
        .await
        .expect("namespace");
    let fleet = metal3_sim::Fleet::new(2, "admin", "pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    // sim-0 answers 500 to everything; sim-1's BMC no longer takes the Secret's password.
    fleet
        .set_host_faults(
            0,
            Some(metal3_sim::faults::Faults {
                error_rate: 1.0,
                ..Default::default()
            }),
        )
        .expect("knobs");
    fleet.set_credentials(1, "admin", "rotated");
    let mut objects = fleet_objects(&fleet, addr);
    for secret in objects.iter_mut().filter(|o| o["kind"] == "Secret") {
        // The manifests carry the password the BMC has now; the Secrets keep the old one.
        secret["stringData"]["password"] = json!("pw");
    }
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    create_all(&client, &ns, objects).await;
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _operator = operator(
        cp,
        &ns,
        &logs,
        &["--provisioner", "redfish", "--error-backoff-seconds", "1"],
        &[],
    );
    let error_of = |h: &BareMetalHost| {
        h.status
            .as_ref()
            .map(|s| s.error_message.clone())
            .unwrap_or_default()
    };
    // Both errors are waited for together, so the faults clear at the first retry's backoff.
    let both = ["sim-0".to_string(), "sim-1".to_string()];
    wait_for(
        &hosts,
        &both,
        "showing the BMC's reason",
        logs.path(),
        |h| {
            let expected = match h.metadata.name.as_deref() {
                Some("sim-0") => "injected BMC failure",
                _ => "refused the credentials",
            };
            error_of(h).contains(expected)
        },
    )
    .await;
    let shown =
        serde_json::to_string(&hosts.get("sim-1").await.expect("host").status).expect("status");
    assert!(
        !shown.contains("\"pw\"") && !shown.contains("rotated"),
        "{shown}"
    );

    // The faults clear: both hosts go on without anyone touching them.
    fleet.set_host_faults(0, None).expect("knobs");
    fleet.set_credentials(1, "admin", "pw");
    let cleared = Instant::now();
    wait_for(&hosts, &both, "available", logs.path(), |h| {
        h.provisioning_state().as_str() == "available" && error_of(h).is_empty()
    })
    .await;
    eprintln!("recovered {:?} after the faults cleared", cleared.elapsed());
}
