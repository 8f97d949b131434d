//! The fleet page of a running `metal3 up` (the simulated fleet behind the native Redfish
//! backend), read as people read it: in a real headless Chromium. The page shows the right
//! counts and one row per host, its script runs, a host's timeline opens, and the JSON behind
//! it agrees. A screenshot is kept where `METAL3_UI_SCREENSHOT` says (how `docs/` got its).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::free_port;
use common::up::up_with;

const HOSTS: usize = 3;

/// Debian's Chromium, headless, in a profile of its own.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new("timeout")
        .arg("180")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Let the page's script run before the DOM is taken.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs (hack/test.sh installs Debian's chromium)");
    assert!(
        out.status.success(),
        "chromium {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get_json(port: u16, path: &str) -> Option<Value> {
    let response = common::http_get(port, path, "")?;
    let body = response.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

/// Waits until the page's JSON says every host is available and the chart has two samples.
fn wait_for_a_settled_fleet(port: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(fleet) = get_json(port, "/api/fleet") {
            let available = fleet["status"]["byState"]["available"].as_u64();
            let samples = fleet["history"].as_array().map_or(0, Vec::len);
            if available == Some(HOSTS as u64) && samples >= 2 {
                return fleet;
            }
            last = fleet;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the fleet did not settle on the page: {last:#}");
}

/// Waits until host `ns/name`'s timeline has `state` in its step log (written a few seconds
/// after the state is entered), and returns the timeline.
fn wait_for_a_logged_state(port: u16, host: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(timeline) = get_json(port, &format!("/api/hosts/{host}")) {
            let logged = timeline["states"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["state"] == state);
            if logged {
                return timeline;
            }
            last = timeline;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{host}'s step log never showed {state}: {last:#}");
}

#[test]
fn the_fleet_page_shows_the_fleet_and_a_host_timeline_in_chromium() {
    let state = tempfile::tempdir().expect("state dir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let hosts = HOSTS.to_string();
    let _up = up_with(
        state.path(),
        free_port(),
        &["--hosts", &hosts, "--ui-addr", &addr],
        Stdio::null(),
    );
    let fleet = wait_for_a_settled_fleet(port);
    assert_eq!(fleet["backend"], "redfish", "{fleet:#}");
    assert_eq!(fleet["hosts"].as_array().map(Vec::len), Some(HOSTS));
    assert!(
        fleet["history"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|s| s["counters"]["backendRequests"].is_u64()),
        "the Redfish backend counts its BMC requests: {fleet:#}"
    );

    let profile = tempfile::tempdir().expect("chromium profile");
    let url = format!("http://{addr}/");
    let dom = chromium(profile.path(), &["--dump-dom"], &url);
    assert!(
        dom.contains(&format!(
            r#"<div class="tile" id="hosts-total" style="border-color:#424242"><span class="count">{HOSTS}</span>hosts</div>"#
        )),
        "{dom}"
    );
    assert!(
        dom.contains(&format!(
            r#"data-state="available" style="border-color:#1565c0"><span class="count">{HOSTS}</span>available"#
        )),
        "{dom}"
    );
    assert_eq!(
        dom.matches("<tr data-host=\"metal3/sim-").count(),
        HOSTS,
        "{dom}"
    );
    assert!(
        dom.contains(r#"data-sortable="ready""#),
        "the script ran: {dom}"
    );
    assert!(dom.contains(r#"<svg id="chart""#), "{dom}");
    assert!(dom.contains(r#"href="/hosts/metal3/sim-0""#), "{dom}");

    let timeline = wait_for_a_logged_state(port, "metal3/sim-0", "available");
    let host = chromium(
        profile.path(),
        &["--dump-dom"],
        &format!("http://{addr}/hosts/metal3/sim-0"),
    );
    assert!(host.contains("<h1>metal3/sim-0</h1>"), "{host}");
    assert!(host.contains(r#"<td id="state">available</td>"#), "{host}");
    for operation in ["registering", "inspecting"] {
        assert!(
            host.contains(&format!("<td>{operation}</td>")),
            "{operation}: {host}"
        );
    }
    assert!(host.contains(r#"<tr data-kind="event">"#), "{host}");
    // The operator's step log: each state the host entered, available the last so far.
    assert!(host.contains(r#"<table id="states">"#), "{host}");
    assert!(host.contains(r#"<tr data-kind="state">"#), "{host}");
    assert!(host.contains("<td>available</td>"), "{host}");

    // The step log counts the requests to the host's BMC per state (Redfish backend).
    let inspecting = timeline["states"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["state"] == "inspecting")
        .unwrap_or_else(|| panic!("an inspecting state: {timeline:#}"));
    assert!(
        inspecting["requests"].as_u64().is_some_and(|n| n > 0),
        "BMC requests while inspecting: {timeline:#}"
    );

    let missing = common::http_get(port, "/hosts/metal3/nope", "").expect("answer");
    assert!(
        missing.lines().next().is_some_and(|l| l.contains(" 404 ")),
        "{missing}"
    );

    let shot = profile.path().join("fleet.png");
    chromium(
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1100",
        ],
        &url,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    if let Some(keep) = std::env::var_os("METAL3_UI_SCREENSHOT") {
        std::fs::copy(&shot, PathBuf::from(keep)).expect("keep the screenshot");
    }
}
