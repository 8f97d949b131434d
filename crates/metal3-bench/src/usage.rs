//! What a run cost outside the BMCs: the peak memory and CPU time of processes (from `/proc`)
//! and the requests the API server answered (from its metrics).

use std::collections::BTreeMap;

use anyhow::Result;

/// `(peak RSS in KiB, CPU seconds)` of process `pid`.
pub(crate) fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (hwm, ticks / 100.0)
}

/// The operator's own process for the child `pid`: the child itself, or, when a wrapper
/// (`METAL3_BENCH_OPERATOR_WRAPPER`, e.g. heaptrack) started it, the process under it that
/// runs this binary as `--child-operator`.
pub(crate) fn operator_pid(pid: u32) -> u32 {
    let exe = |p: u32| std::fs::read_link(format!("/proc/{p}/exe")).ok();
    let ours = std::env::current_exe().ok();
    if exe(pid) == ours {
        return pid;
    }
    let parent = |p: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u32>().ok())
    };
    let descends = |mut p: u32| {
        for _ in 0..8 {
            match parent(p) {
                Some(pp) if pp == pid => return true,
                Some(pp) if pp > 1 => p = pp,
                _ => return false,
            }
        }
        false
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pid;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .find(|p| exe(*p) == ours && descends(*p))
        .unwrap_or(pid)
}

/// `(sum of peak RSS in KiB, CPU seconds)` of every process in process group `pgid` (Ironic
/// forks API workers; the group is all of it).
pub(crate) fn group_usage(pgid: u32) -> (u64, f64) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, 0.0);
    };
    let mut total = (0, 0.0);
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        // Fields after the command name: state, ppid, pgrp, …
        if after.split_whitespace().nth(2).and_then(|v| v.parse().ok()) == Some(pgid) {
            let (rss, cpu) = usage(pid);
            total.0 += rss;
            total.1 += cpu;
        }
    }
    total
}

/// Requests the API server has answered (`apiserver_request_total`), by "verb resource".
pub(crate) async fn apiserver_requests(client: &kube::Client) -> Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let label = |line: &str, name: &str| {
        line.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some(value) = line
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse::<f64>().ok())
        else {
            continue;
        };
        let key = format!("{} {}", label(line, "verb"), label(line, "resource"));
        *out.entry(key).or_insert(0.0) += value;
    }
    Ok(out)
}

/// The requests answered since `before`, by kind, most first (kinds with none left out).
pub(crate) async fn apiserver_requests_since(
    client: &kube::Client,
    before: &BTreeMap<String, f64>,
) -> Result<Vec<(String, f64)>> {
    let after = apiserver_requests(client).await?;
    let mut delta: Vec<(String, f64)> = after
        .into_iter()
        .map(|(k, v)| {
            let before = before.get(&k).copied().unwrap_or(0.0);
            (k, v - before)
        })
        .filter(|(_, v)| *v > 0.0)
        .collect();
    delta.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(delta)
}
