//! What a run cost outside the BMCs: the peak memory and CPU time of processes (from `/proc`)
//! and the requests the API server answered (from its metrics).

use std::collections::BTreeMap;

use anyhow::Result;

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces): state,
/// ppid, pgrp, … (the 3rd and later fields of the whole line); empty for a process gone.
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after.split_whitespace().map(str::to_string).collect()
}

/// Field `i` of [`stat_fields`] as a number.
fn stat_field<T: std::str::FromStr>(fields: &[String], i: usize) -> Option<T> {
    fields.get(i).and_then(|v| v.parse().ok())
}

/// Every process's id.
fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .collect()
}

/// `(peak RSS in KiB, CPU seconds)` of process `pid`.
pub(crate) fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // utime and stime: the 14th and 15th fields of the whole line.
    let fields = stat_fields(pid);
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| stat_field::<f64>(&fields, i))
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
    let descends = |mut p: u32| {
        for _ in 0..8 {
            match stat_field::<u32>(&stat_fields(p), 1) {
                Some(parent) if parent == pid => return true,
                Some(parent) if parent > 1 => p = parent,
                _ => return false,
            }
        }
        false
    };
    pids()
        .into_iter()
        .find(|p| exe(*p) == ours && descends(*p))
        .unwrap_or(pid)
}

/// `(sum of peak RSS in KiB, CPU seconds)` of every process in process group `pgid` (Ironic
/// forks API workers; the group is all of it).
pub(crate) fn group_usage(pgid: u32) -> (u64, f64) {
    let mut total = (0, 0.0);
    for pid in pids() {
        if stat_field::<u32>(&stat_fields(pid), 2) == Some(pgid) {
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
