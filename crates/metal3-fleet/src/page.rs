//! The fleet page and a host's page, as HTML (pure): server-rendered, one self-contained
//! document each (styles and a few lines of script inline, the chart as inline SVG), so they
//! work with no network and no build step. Everything shown is escaped by `maud`.
//!
//! The fleet page: hosts by state now and over time, the operator's rates, errors grouped,
//! hosts stuck longest, and a table of every host (sortable by clicking a column), each host
//! linking to its page. A host's page: its timeline as `metal3 timeline` tells it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use metal3_api::v1alpha1::BareMetalHost;
use serde::Serialize;

use crate::facts;
use crate::history::{Rates, Sample};
use crate::status::FleetStatus;
use crate::text::{at, one_line, short};
use crate::timeline::Timeline;

/// How often the pages reload themselves, in seconds.
pub const REFRESH_SECONDS: u32 = 15;

/// States in the order the chart stacks them, each with its colour; others come after.
const STATE_COLOURS: &[(&str, &str)] = &[
    ("provisioned", "#2e7d32"),
    ("externally provisioned", "#66bb6a"),
    ("available", "#1565c0"),
    ("ready", "#42a5f5"),
    ("provisioning", "#f9a825"),
    ("preparing", "#fbc02d"),
    ("inspecting", "#8e24aa"),
    ("registering", "#ab47bc"),
    ("deprovisioning", "#ef6c00"),
    ("powering off before delete", "#8d6e63"),
    ("deleting", "#6d4c41"),
    ("unmanaged", "#9e9e9e"),
    ("detached", "#bdbdbd"),
    ("(none)", "#cfd8dc"),
];
const OTHER_COLOUR: &str = "#78909c";

/// One row of the hosts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRow {
    pub namespace: String,
    pub name: String,
    pub state: String,
    pub powered_on: bool,
    pub operational_status: String,
    /// `type: message`, empty without an error.
    pub error: String,
    /// Since when the host is in its state, when known.
    pub since: Option<Timestamp>,
    /// `Kind/name` of what consumes the host, empty when free.
    pub consumer: String,
}

/// The hosts table's rows, sorted by namespace and name.
pub fn host_rows(hosts: &[BareMetalHost]) -> Vec<HostRow> {
    let mut rows: Vec<HostRow> = hosts
        .iter()
        .map(|h| {
            let status = h.status.as_ref();
            let error = facts::last_error(h)
                .map(|e| match (e.error_type.as_str(), e.message.as_str()) {
                    ("", m) => m.to_string(),
                    (t, "") => t.to_string(),
                    (t, m) => format!("{t}: {m}"),
                })
                .unwrap_or_default();
            let consumer = h
                .spec
                .consumer_ref
                .as_ref()
                .map(|c| {
                    format!(
                        "{}/{}",
                        c.kind.as_deref().unwrap_or(""),
                        c.name.as_deref().unwrap_or("")
                    )
                })
                .unwrap_or_default();
            HostRow {
                namespace: h.namespace().unwrap_or_default(),
                name: h.name_any(),
                state: facts::state_name(&h.provisioning_state()),
                powered_on: status.is_some_and(|s| s.powered_on),
                operational_status: h.operational_status().as_str().to_string(),
                error,
                since: facts::state_since(h).map(|s| s.time),
                consumer,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rows
}

/// The path of a host's page.
pub fn host_path(namespace: &str, name: &str) -> String {
    format!("/hosts/{namespace}/{name}")
}

fn colour(state: &str) -> &'static str {
    STATE_COLOURS
        .iter()
        .find(|(s, _)| *s == state)
        .map(|(_, c)| *c)
        .unwrap_or(OTHER_COLOUR)
}

/// The states of `samples` and `now`, in stacking order.
fn chart_states<'a>(samples: &'a [Sample], now: &'a BTreeMap<String, usize>) -> Vec<&'a str> {
    let seen: BTreeSet<&str> = samples
        .iter()
        .flat_map(|s| s.by_state.keys())
        .chain(now.keys())
        .map(String::as_str)
        .collect();
    let mut ordered: Vec<&str> = STATE_COLOURS
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| seen.contains(s))
        .collect();
    ordered.extend(
        seen.iter()
            .filter(|s| !STATE_COLOURS.iter().any(|(k, _)| k == *s)),
    );
    ordered
}

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; margin: 0 0 .5em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; } th, td { padding: 3px 10px; text-align: left; border-bottom: 1px solid #e0e0e0; vertical-align: top; }
th { background: #f5f5f5; } table.sortable th { cursor: pointer; user-select: none; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; }
.tile { border-left: 6px solid; padding: 4px 10px; background: #fafafa; min-width: 7em; }
.tile .count { font-size: 1.5em; font-weight: 600; display: block; }
.muted { color: #757575; } .error { color: #b71c1c; } .legend span { margin-right: 1em; }
.legend i { display: inline-block; width: .8em; height: .8em; margin-right: .3em; }
a { color: #0d47a1; } #timeline td:first-child, #operations td, #states td { white-space: nowrap; }
"#;

const SORT_SCRIPT: &str = r#"
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var descending = th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(descending ? "desc" : "asc");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-sort") || a.cells[column].textContent;
        var y = b.cells[column].getAttribute("data-sort") || b.cells[column].textContent;
        var c = x.localeCompare(y, undefined, { numeric: true });
        return descending ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  table.setAttribute("data-sortable", "ready");
});
"#;

fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

fn since_cell(since: Option<Timestamp>, now: Timestamp) -> Markup {
    match since {
        Some(t) => html! {
            td data-sort=(t.as_second()) title=(at(t)) { (short(now.duration_since(t))) }
        },
        None => html! { td data-sort="0" class="muted" { "unknown" } },
    }
}

/// The fewest bars the chart is divided into.
const MIN_SLOTS: usize = 60;

/// The chart of hosts by state over `samples`, as stacked bars, oldest on the left.
fn chart(samples: &[Sample], now: &BTreeMap<String, usize>) -> Markup {
    const WIDTH: f64 = 720.0;
    const HEIGHT: f64 = 160.0;
    let states = chart_states(samples, now);
    let max = samples
        .iter()
        .map(|s| s.by_state.values().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    // At least five minutes' worth of slots, so a young history does not draw wide blocks.
    let bar = WIDTH / samples.len().max(MIN_SLOTS) as f64;
    html! {
        svg id="chart" xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT + 20.0)
            viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + 20.0)) role="img"
            aria-label="hosts by state over time" {
            rect x="0" y="0" width=(WIDTH) height=(HEIGHT) fill="#fafafa" {}
            @for (i, sample) in samples.iter().enumerate() {
                @let x = i as f64 * bar;
                @let mut y = HEIGHT;
                g {
                    title {
                        (at(sample.at)) ": "
                        @for (state, n) in sample.by_state.iter().filter(|(_, n)| **n > 0) {
                            (state) " " (n) "; "
                        }
                    }
                    @for state in &states {
                        @let n = sample.by_state.get(*state).copied().unwrap_or(0);
                        @if n > 0 {
                            @let h = n as f64 / max * HEIGHT;
                            @let top = { y -= h; y };
                            rect x=(format!("{x:.1}")) y=(format!("{top:.1}"))
                                width=(format!("{:.1}", (bar - 0.5).max(0.5)))
                                height=(format!("{h:.1}")) fill=(colour(state)) {}
                        }
                    }
                }
            }
            @if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
                text x="0" y=(HEIGHT + 15.0) font-size="11" fill="#757575" { (at(first.at)) }
                text x=(WIDTH) y=(HEIGHT + 15.0) font-size="11" fill="#757575"
                    text-anchor="end" { (at(last.at)) }
            }
        }
        p.legend {
            @for state in &states {
                span { i style=(format!("background:{}", colour(state))) {} (state) }
            }
        }
    }
}

fn rate(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The fleet page.
pub fn fleet_page(
    status: &FleetStatus,
    rows: &[HostRow],
    samples: &[Sample],
    rates: &Rates,
    backend: &str,
    now: Timestamp,
) -> String {
    let scope = status.namespace.as_deref().unwrap_or("all namespaces");
    let body = html! {
        h1 { "Metal³ fleet " span.muted { "(" (scope) ", " (backend) " backend)" } }
        p.muted { "At " (at(now)) "; reloads every " (REFRESH_SECONDS) " s." }
        section id="summary" {
            div.tiles {
                div.tile id="hosts-total" style="border-color:#424242" {
                    span.count { (status.hosts) } "hosts"
                }
                @for (state, n) in &status.by_state {
                    div.tile data-state=(state) style=(format!("border-color:{}", colour(state))) {
                        span.count { (n) } (state)
                    }
                }
            }
        }
        h2 { "Hosts by state over time" }
        (chart(samples, &status.by_state))
        h2 { "The operator" }
        table id="rates" {
            tr { th { "reconciles / min" } td data-rate="reconciles" { (rate(rates.reconciles_per_minute)) } }
            tr {
                th { "BMC or Ironic requests / min" }
                td data-rate="backend" {
                    @match rates.backend_requests_per_minute {
                        Some(r) => (rate(r)),
                        None => span.muted { "not counted by this backend" },
                    }
                }
            }
            tr { th { "API server requests / min" } td data-rate="api" { (rate(rates.api_requests_per_minute)) } }
            tr.muted { th { "over" } td { (rates.window_seconds) " s" } }
        }
        @if !status.errors.is_empty() {
            h2 { "Errors" }
            table id="errors" {
                tr { th { "hosts" } th { "type" } th { "message" } th { "for example" } }
                @for g in &status.errors {
                    tr {
                        td { (g.count) } td { (g.error_type) }
                        td.error { (one_line(&g.message, 160)) }
                        td { (g.examples.join(", ")) }
                    }
                }
            }
        }
        @if !status.stuck.is_empty() {
            h2 { "In a transient state longest" }
            table id="stuck" {
                tr { th { "host" } th { "state" } th { "for" } }
                @for s in status.stuck.iter().take(10) {
                    tr {
                        td { (s.host) } td { (s.state) }
                        td { (s.for_seconds.map(|f| short(k8s_openapi::jiff::SignedDuration::from_secs(f))).unwrap_or_else(|| "unknown".into())) }
                    }
                }
            }
        }
        h2 { "Hosts" }
        table id="hosts" class="sortable" {
            thead {
                tr {
                    th { "namespace" } th { "name" } th { "state" } th { "power" }
                    th { "status" } th { "since" } th { "consumer" } th { "error" }
                }
            }
            tbody {
                @for r in rows {
                    tr data-host=(format!("{}/{}", r.namespace, r.name)) data-state=(r.state) {
                        td { (r.namespace) }
                        td { a href=(host_path(&r.namespace, &r.name)) { (r.name) } }
                        td { (r.state) }
                        td { @if r.powered_on { "on" } @else { "off" } }
                        td { (r.operational_status) }
                        (since_cell(r.since, now))
                        td { (r.consumer) }
                        td.error { (one_line(&r.error, 120)) }
                    }
                }
            }
        }
        script { (PreEscaped(SORT_SCRIPT)) }
    };
    document("Metal³ fleet", body).into_string()
}

/// A host's page: its timeline.
pub fn host_page(t: &Timeline, now: Timestamp) -> String {
    let body = html! {
        p { a href="/" { "← the fleet" } }
        h1 { (t.namespace) "/" (t.name) }
        table id="facts" {
            tr { th { "state" } td id="state" { (t.state) } }
            tr {
                th { "since" }
                td {
                    @match &t.since {
                        Some(s) => { (at(s.time)) " (" (short(now.duration_since(s.time))) " ago, from " (s.source) ")" },
                        None => span.muted { "unknown" },
                    }
                }
            }
            tr { th { "power" } td { @if t.powered_on { "on" } @else { "off" } " (wanted " @if t.online { "on" } @else { "off" } ")" } }
            tr { th { "operational status" } td { (t.operational_status) } }
            @if let Some(e) = &t.last_error {
                tr {
                    th { "last error" }
                    td.error id="last-error" {
                        (e.error_type) ": " (e.message)
                        @if let Some(s) = &e.since { " — since " (at(s.time)) }
                        " (" (e.error_count) " so far"
                        @if let Some(next) = e.next_retry { "; next retry " (at(next)) }
                        ")"
                    }
                }
            }
            @if let Some(p) = &t.progressing {
                tr { th { "progressing" } td { (p.status) " " (p.reason) ": " (p.message) } }
            }
        }
        h2 { "Operations" }
        table id="operations" {
            tr { th { "operation" } th { "began" } th { "took" } }
            @for op in &t.operations {
                tr {
                    td { (op.state) }
                    td { (at(op.began)) }
                    td {
                        (short(k8s_openapi::jiff::SignedDuration::from_secs(op.took_seconds)))
                        @if op.running { " so far" }
                    }
                }
            }
        }
        @if !t.states.is_empty() {
            h2 { "States" }
            table id="states" {
                tr { th { "state" } th { "began" } th { "took" } th { "errors" } th { "BMC requests" } }
                @for st in &t.states {
                    tr {
                        td { (st.state) }
                        td { (at(st.began)) }
                        td {
                            (short(k8s_openapi::jiff::SignedDuration::from_secs(st.took_seconds)))
                            @if st.ended.is_none() { " so far" }
                        }
                        td { (st.errors) }
                        td { @match st.requests { Some(r) => (r), None => span.muted { "-" } } }
                    }
                }
            }
        }
        h2 { "Timeline" }
        table id="timeline" {
            tr { th { "time" } th { "what" } th { "" } }
            @for e in &t.entries {
                tr data-kind=(e.kind) { td { (at(e.time)) } td { (e.kind) } td { (e.text) } }
            }
        }
        h2 { "Conditions" }
        table id="conditions" {
            tr { th { "type" } th { "status" } th { "reason" } th { "message" } th { "since" } }
            @for c in &t.conditions {
                tr { td { (c.kind) } td { (c.status) } td { (c.reason) } td { (c.message) } td { (at(c.since)) } }
            }
        }
    };
    document(&format!("{}/{} — Metal³", t.namespace, t.name), body).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixtures::*;
    use crate::history::Counters;
    use crate::{status, timeline};
    use metal3_api::v1alpha1::ErrorType;

    fn with_error(h: &mut BareMetalHost, message: &str) {
        let st = status(h);
        st.error_type = Some(ErrorType::Provisioning);
        st.error_message = message.into();
        st.error_count = 1;
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("time")
    }

    fn fleet_hosts() -> Vec<BareMetalHost> {
        let mut failed = host("ns", "b<script>", "provisioning");
        with_error(&mut failed, "image <bad> & broken");
        vec![
            host("ns", "a", "available"),
            failed,
            host("ns", "c", "available"),
        ]
    }

    fn sample(at_s: i64, available: usize, provisioning: usize) -> Sample {
        Sample {
            at: Timestamp::from_second(1_800_000_000 - 100 + at_s).expect("time"),
            by_state: BTreeMap::from([
                ("available".to_string(), available),
                ("provisioning".to_string(), provisioning),
            ]),
            counters: Counters::default(),
        }
    }

    #[test]
    fn rows_show_each_host_sorted_with_its_error_and_consumer() {
        let mut hosts = fleet_hosts();
        hosts[0].spec.consumer_ref = Some(metal3_api::v1alpha1::ObjectReference {
            kind: Some("Metal3Machine".into()),
            name: Some("m-1".into()),
            ..Default::default()
        });
        let rows = host_rows(&hosts);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b<script>", "c"]);
        assert_eq!(rows[0].consumer, "Metal3Machine/m-1");
        assert_eq!(rows[1].error, "provisioning error: image <bad> & broken");
        assert_eq!(rows[1].state, "provisioning");
        assert_eq!(rows[2].error, "");
    }

    #[test]
    fn the_fleet_page_counts_states_and_escapes_what_hosts_say() {
        let hosts = fleet_hosts();
        let s = status::summarise(Some("ns"), &hosts, &[], now());
        let page = fleet_page(
            &s,
            &host_rows(&hosts),
            &[sample(0, 3, 0), sample(50, 2, 1)],
            &Rates::default(),
            "fixture",
            now(),
        );
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(
            page.contains(r#"<span class="count">3</span>hosts"#),
            "{page}"
        );
        assert!(page.contains(r#"data-state="available" style="border-color:#1565c0"><span class="count">2</span>available"#), "{page}");
        assert!(
            page.contains(r#"href="/hosts/ns/b&lt;script&gt;""#),
            "{page}"
        );
        assert!(page.contains("image &lt;bad&gt; &amp; broken"), "{page}");
        assert!(!page.contains("b<script>"), "host names are escaped");
        assert_eq!(page.matches("<tr data-host=").count(), 3);
        assert!(page.contains("not counted by this backend"));
        // Two samples, two bars; the second stacks two states.
        assert_eq!(page.matches("<g><title>").count(), 2, "{page}");
    }

    #[test]
    fn the_chart_stacks_states_in_a_fixed_order_scaled_to_the_largest_sample() {
        let samples = [sample(0, 4, 0), sample(10, 2, 2)];
        let svg = chart(&samples, &BTreeMap::new()).into_string();
        // One slot of 60 each; the first bar is the full height in the colour of `available`;
        // the second has available at the bottom (half) and provisioning above it (half).
        for bar in [
            r##"<rect x="0.0" y="0.0" width="11.5" height="160.0" fill="#1565c0">"##,
            r##"<rect x="12.0" y="80.0" width="11.5" height="80.0" fill="#1565c0">"##,
            r##"<rect x="12.0" y="0.0" width="11.5" height="80.0" fill="#f9a825">"##,
        ] {
            assert!(svg.contains(bar), "{bar} in {svg}");
        }
        assert_eq!(
            chart_states(&samples, &BTreeMap::from([("weird".to_string(), 1)])),
            ["available", "provisioning", "weird"]
        );
    }

    #[test]
    fn a_host_page_tells_its_timeline() {
        let mut h = host("ns", "a", "provisioning");
        with_error(&mut h, "no <disk>");
        let t = timeline::build(&h, &[], now());
        let page = host_page(&t, now());
        assert!(page.contains("<h1>ns/a</h1>"), "{page}");
        assert!(
            page.contains(r#"<td id="state">provisioning</td>"#),
            "{page}"
        );
        assert!(page.contains("no &lt;disk&gt;"), "{page}");
        assert!(page.contains(r#"id="timeline""#));
        assert!(page.contains(r#"href="/""#));
    }
}
