//! `metal3 operator --shards 4` as three processes on one namespace: the shards spread over
//! the replicas, every host is provisioned, a replica SIGKILLed mid-provisioning has its shards
//! taken over within the Lease time and its hosts finish, and the fixture journal that the
//! replicas share shows no host provisioned twice and no two replicas' tenures acting on one
//! host at the same time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use metal3_api::v1alpha1::BareMetalHost;
use metal3_fixture::Operation;
use metal3_fixture::journal::{self, Entry, Event};
use metal3_kube::shard_plan::shard_of;
use serde_json::json;

mod common;
use common::{Killed, exit_status, free_port, http_get, sigterm, tail};

const SHARDS: u32 = 4;
const HOSTS: usize = 12;
const LEASE_SECONDS: u64 = 4;
const RETRY_SECONDS: u64 = 1;

struct Replica {
    name: String,
    process: Option<Killed>,
    metrics: u16,
    logs: tempfile::NamedTempFile,
}

fn start(cp: &metal3_testenv::ControlPlane, ns: &str, name: &str, journal: &str) -> Replica {
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let metrics = free_port();
    let lease = LEASE_SECONDS.to_string();
    let retry = RETRY_SECONDS.to_string();
    let shards = SHARDS.to_string();
    let process = common::operator_with_metrics(
        cp,
        ns,
        &logs,
        metrics,
        &[
            "--provisioner",
            "fixture",
            "--insecure-metrics",
            "--instance",
            name,
            "--leader-election-namespace",
            ns,
            "--shards",
            &shards,
            "--lease-duration-seconds",
            &lease,
            "--renew-deadline-seconds",
            "2",
            "--retry-period-seconds",
            &retry,
            "--error-backoff-seconds",
            "1",
            "--fixture-journal",
            journal,
        ],
        &[],
    );
    Replica {
        name: name.to_string(),
        process: Some(process),
        metrics,
        logs,
    }
}

fn logs(replicas: &[Replica]) -> String {
    replicas
        .iter()
        .map(|r| format!("--- {} ---\n{}", r.name, tail(r.logs.path())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Shard → holder, of the shard Leases whose holder still renews them.
async fn holders(leases: &Api<Lease>) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for i in 0..SHARDS {
        let Some(lease) = leases
            .get_opt(&format!("metal3-operator-shard-{i}"))
            .await
            .expect("get lease")
        else {
            continue;
        };
        let Some(spec) = lease.spec else { continue };
        let fresh = spec.renew_time.is_some_and(|t| {
            let age = k8s_openapi::jiff::Timestamp::now().duration_since(t.0);
            age < k8s_openapi::jiff::SignedDuration::from_secs(LEASE_SECONDS as i64)
        });
        if let (Some(h), true) = (spec.holder_identity, fresh) {
            out.insert(i, h);
        }
    }
    out
}

async fn create_hosts(client: &kube::Client, ns: &str) -> Vec<String> {
    // Long operations last about 2 s each, so a kill lands mid-provisioning.
    let behaviour = json!({"polls": 10, "pollIntervalMs": 200}).to_string();
    let mut objects = vec![json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bmc"},
        "stringData": {"username": "admin", "password": "pw"},
    })];
    objects.extend((0..HOSTS).map(|i| {
        json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": format!("node-{i:02}"), "annotations": {metal3_fixture::BEHAVIOUR_ANNOTATION: behaviour}},
            "spec": {
                "online": true,
                "bootMACAddress": format!("52:54:00:00:10:{i:02x}"),
                "bmc": {"address": format!("redfish://192.0.2.{}/redfish/v1/Systems/1", i + 1), "credentialsName": "bmc"},
                "image": {"url": "http://192.0.2.254/image.qcow2", "checksum": "0".repeat(64), "checksumType": "sha256"},
            },
        })
    }));
    common::create_all(client, ns, objects).await
}

/// For every host, the span (first, last operation) of each actor (replica tenure) that acted
/// on it; two spans on one host overlapping means two replicas acted on it at once.
fn overlapping_tenures(entries: &[Entry]) -> Vec<String> {
    let mut spans: BTreeMap<&str, BTreeMap<&str, (u128, u128)>> = BTreeMap::new();
    for e in entries {
        let span = spans
            .entry(e.host.as_str())
            .or_default()
            .entry(e.actor.as_str())
            .or_insert((e.at_ns, e.at_ns));
        span.0 = span.0.min(e.at_ns);
        span.1 = span.1.max(e.at_ns);
    }
    let mut overlaps = Vec::new();
    for (host, by_actor) in spans {
        let mut ordered: Vec<(&str, (u128, u128))> = by_actor.into_iter().collect();
        ordered.sort_by_key(|(_, (start, _))| *start);
        for pair in ordered.windows(2) {
            let ((a, (_, a_end)), (b, (b_start, _))) = (pair[0], pair[1]);
            if b_start <= a_end {
                overlaps.push(format!("{host}: {a} and {b}"));
            }
        }
    }
    overlaps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_split_the_hosts_and_take_over_a_killed_replicas_shards() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "cli-shards")
        .await
        .expect("namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let journal_path = dir.path().join("journal.jsonl");
    let journal = journal_path.to_str().expect("path");
    let mut replicas: Vec<Replica> = ["replica-a", "replica-b", "replica-c"]
        .iter()
        .map(|n| start(cp, &ns, n, journal))
        .collect();
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);

    // The shards spread: every replica holds one or two of the four.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let held = holders(&leases).await;
        let per_replica: BTreeMap<&str, usize> = held.values().fold(BTreeMap::new(), |mut m, h| {
            *m.entry(h.as_str()).or_default() += 1;
            m
        });
        if held.len() == SHARDS as usize
            && per_replica.len() == 3
            && per_replica.values().all(|n| (1..=2).contains(n))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shards not spread: {held:?}\n{}",
            logs(&replicas)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let names = create_hosts(&client, &ns).await;
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);

    // Kill the holder of a host that is provisioning.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (victim, victim_shards) = loop {
        let held = holders(&leases).await;
        let mut found = None;
        for name in &names {
            let h = hosts.get(name).await.expect("get host");
            if h.provisioning_state().as_str() == "provisioning"
                && let Some(holder) = held.get(&shard_of(&ns, name, SHARDS))
            {
                found = Some(holder.clone());
                break;
            }
        }
        if let Some(victim) = found {
            let shards: BTreeSet<u32> = held
                .iter()
                .filter(|(_, h)| **h == victim)
                .map(|(s, _)| *s)
                .collect();
            break (victim, shards);
        }
        assert!(
            Instant::now() < deadline,
            "no host reached provisioning\n{}",
            logs(&replicas)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let victim_index = replicas
        .iter()
        .position(|r| r.name == victim)
        .expect("the victim is one of ours");
    let mut killed = replicas[victim_index].process.take().expect("running");
    let killed_at = Instant::now();
    killed.0.kill().expect("SIGKILL");
    killed.0.wait().expect("reaped");
    drop(killed);

    // Its shards are taken over by the others within the Lease time (plus a renewal round).
    let deadline = killed_at + Duration::from_secs(LEASE_SECONDS + 4 * RETRY_SECONDS);
    loop {
        let held = holders(&leases).await;
        let taken = victim_shards
            .iter()
            .all(|s| held.get(s).is_some_and(|h| *h != victim));
        if taken {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{victim}'s shards {victim_shards:?} not taken over {:?} after the kill: {held:?}\n{}",
            killed_at.elapsed(),
            logs(&replicas)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let takeover = killed_at.elapsed();
    eprintln!(
        "{victim} (shards {victim_shards:?}) SIGKILLed; its shards taken over after {takeover:?}"
    );

    // Every host reaches its desired state.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut pending = Vec::new();
        for name in &names {
            let h = hosts.get(name).await.expect("get host");
            let state = h.provisioning_state().as_str().to_string();
            if state != "provisioned" {
                pending.push(format!("{name}: {state}"));
            }
        }
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not provisioned: {pending:?}\n{}",
            logs(&replicas)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let entries = journal::read(&journal_path).expect("journal");
    let host_key = |n: &str| format!("{ns}/{n}");
    // Every backend operation was made inside a tenure of the host's shard.
    let outside: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            let name = e.host.rsplit('/').next().unwrap_or_default();
            let shard = shard_of(&ns, name, SHARDS);
            !e.actor
                .starts_with(&format!("{}/shard-{shard}/tenure-", e.replica))
        })
        .collect();
    assert!(outside.is_empty(), "outside a tenure: {outside:?}");
    // No host provisioned twice.
    for name in &names {
        let done: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                e.host == host_key(name)
                    && e.op == Operation::Provision
                    && e.event == Event::Completed
            })
            .collect();
        assert_eq!(
            done.len(),
            1,
            "{name} provisioned {} times: {done:?}",
            done.len()
        );
    }
    // No two tenures acted on one host at once.
    let overlaps = overlapping_tenures(&entries);
    assert!(overlaps.is_empty(), "tenures overlapping: {overlaps:?}");
    // The hosts were spread, and the killed replica's work was finished by another.
    let provisioners: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.op == Operation::Provision && e.event == Event::Completed)
        .map(|e| e.replica.as_str())
        .collect();
    assert!(
        provisioners.len() >= 2,
        "one replica did everything: {provisioners:?}"
    );
    let taken_over: Vec<&str> = names
        .iter()
        .filter(|n| {
            let acted = |r: &str| {
                entries
                    .iter()
                    .any(|e| e.host == host_key(n) && e.replica == r)
            };
            acted(&victim)
                && entries
                    .iter()
                    .any(|e| e.host == host_key(n) && e.replica != victim)
        })
        .map(String::as_str)
        .collect();
    assert!(
        !taken_over.is_empty(),
        "no host of {victim} was finished by another replica"
    );
    eprintln!(
        "{} journal lines; provisioned by {provisioners:?}; hosts acted on by {victim} and another: {taken_over:?}",
        entries.len()
    );

    // The survivors report the shards they hold.
    let held_total: i64 = replicas
        .iter()
        .filter(|r| r.process.is_some())
        .map(|r| {
            let body = http_get(r.metrics, "/metrics", "").expect("metrics");
            body.lines()
                .find_map(|l| l.strip_prefix("metal3_operator_shards_held "))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or_else(|| panic!("no metal3_operator_shards_held:\n{body}"))
        })
        .sum();
    assert_eq!(
        held_total,
        i64::from(SHARDS),
        "the survivors hold every shard"
    );

    // SIGTERM: the survivors give their shards back and end their memberships (the killed
    // one's expired membership was removed by them).
    for r in replicas.iter_mut() {
        let Some(process) = &mut r.process else {
            continue;
        };
        sigterm(&process.0);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for r in replicas.iter_mut() {
        let Some(process) = &mut r.process else {
            continue;
        };
        let status = exit_status(&mut process.0, deadline, &r.name, r.logs.path()).await;
        assert!(status.success(), "{}: {status}", r.name);
    }
    let left: Vec<(String, Option<String>)> = leases
        .list(&kube::api::ListParams::default().labels("metal3.io/shard-lease"))
        .await
        .expect("list leases")
        .into_iter()
        .map(|l| {
            let holder = l.spec.and_then(|s| s.holder_identity);
            (l.metadata.name.unwrap_or_default(), holder)
        })
        .collect();
    let still: Vec<&(String, Option<String>)> = left
        .iter()
        .filter(|(name, holder)| name.contains("-member-") || holder.is_some())
        .collect();
    assert!(
        still.is_empty(),
        "after SIGTERM, shards still held or memberships left: {still:?}"
    );
    assert_eq!(left.len(), SHARDS as usize, "the shard Leases stay, free");
    replicas.clear();
}

#[test]
fn shard_flags_that_cannot_work_are_refused_before_anything_starts() {
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_metal3"))
            .args([
                "operator",
                "--provisioner",
                "fixture",
                "--webhook-port",
                "0",
            ])
            .args(["--kubeconfig", "/nonexistent"])
            .args(extra)
            .env_remove("POD_NAMESPACE")
            .env_remove("WATCH_NAMESPACE")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--shards",
                "4",
                "--namespace",
                "ns",
                "--enable-leader-election",
            ],
            "choose one of them",
        ),
        (
            &["--shards", "4"],
            "--shards needs a namespace for its Leases",
        ),
        (
            &[
                "--shards",
                "4",
                "--namespace",
                "ns",
                "--lease-duration-seconds",
                "5",
                "--renew-deadline-seconds",
                "5",
            ],
            "must be shorter than --lease-duration-seconds",
        ),
        (
            &["--fixture-journal", "/nonexistent/dir/journal.jsonl"],
            "--fixture-journal /nonexistent/dir/journal.jsonl",
        ),
    ];
    for (extra, expected) in cases {
        let stderr = run(extra);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["operator", "--shards", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "clap refuses 0 shards");
}
