//! `config/monitoring`: the alert rules and the dashboard parse, every alert says what is wrong
//! and how bad, and every `metal3_*` series their PromQL names is one that a running
//! `metal3 operator` or `metal3 ipam` exports (and the dashboard shows every exported family).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_ipam_api::v1alpha1::{IPClaim, IPPool};
use serde_json::{Value, json};

mod common;
use common::{Killed, free_port, http_get, tail};

fn monitoring_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/monitoring")
}

fn read(name: &str) -> String {
    let path = monitoring_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The alert rules file, as a value.
fn alerts() -> Value {
    serde_saphyr::from_str(&read("alerts.yaml")).expect("alerts.yaml is YAML")
}

/// The dashboard, as a value.
fn dashboard() -> Value {
    serde_json::from_str(&read("dashboard.json")).expect("dashboard.json is JSON")
}

/// Every rule of every group of a PrometheusRule.
fn rules(rule: &Value) -> Vec<&Value> {
    rule["spec"]["groups"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect()
        })
        .unwrap_or_default()
}

/// Every `expr` string anywhere in `v` (panels, nested rows' panels, targets).
fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

/// The `metal3_*` metric names a PromQL expression selects, outside string literals (label
/// values, `label_replace` arguments).
fn series_names(expr: &str) -> BTreeSet<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            if c == '\\' && q != '`' {
                chars.next();
            } else if c == q {
                quote = None;
            }
        } else if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
        } else if !ident(prev) && expr[i..].starts_with("metal3_") {
            let end = expr[i..]
                .find(|c: char| !ident(c))
                .map_or(expr.len(), |n| i + n);
            names.insert(expr[i..end].to_string());
            while chars.peek().is_some_and(|&(j, _)| j < end) {
                chars.next();
            }
            prev = 'x';
            continue;
        }
        prev = c;
    }
    names
}

/// The series names an exposition (text or OpenMetrics format) has, by its `# TYPE` lines
/// (so a family with no labelled child yet counts) and its samples: a counter's series ends in
/// `_total`, a histogram's in `_bucket`, `_sum` and `_count`.
fn exported_series(exposition: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut families, mut series) = (BTreeSet::new(), BTreeSet::new());
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                continue;
            };
            families.insert(name.to_string());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["", "_sum", "_count", "_created"],
                _ => &[""],
            };
            series.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            if end > 0 {
                series.insert(line[..end].to_string());
            }
        }
    }
    (families, series)
}

/// The family a series belongs to, by the suffix conventions.
fn family_of(series: &str) -> &str {
    ["_total", "_bucket", "_sum", "_count", "_created"]
        .iter()
        .find_map(|s| series.strip_suffix(s))
        .unwrap_or(series)
}

#[test]
fn the_extractor_finds_metric_names_and_skips_strings() {
    let found = series_names(
        r#"sum by (s) (label_replace(rate(metal3_a_total{x="metal3_not"}[5m]), "s", "$1", "p", "(.+)"))
           / ignore(metal3_b_bucket) + my_metal3_c + metal3_d:rate5m"#,
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["metal3_a_total", "metal3_b_bucket", "metal3_d:rate5m"]
    );
    let (families, series) = exported_series(
        "# HELP metal3_x X.\n# TYPE metal3_x counter\n# TYPE metal3_h histogram\n\
         metal3_h_bucket{le=\"30.0\"} 1\nmetal3_g 3\n# EOF\n",
    );
    assert!(families.contains("metal3_x") && families.contains("metal3_h"));
    for s in [
        "metal3_x_total",
        "metal3_h_bucket",
        "metal3_h_count",
        "metal3_g",
    ] {
        assert!(series.contains(s), "{s}: {series:?}");
    }
    assert!(!series.contains("metal3_x"));
    assert_eq!(family_of("metal3_h_count"), "metal3_h");
}

#[test]
fn every_alert_has_a_severity_a_summary_and_a_description() {
    let rule = alerts();
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let rules = rules(&rule);
    assert!(rules.len() >= 10, "{} rules", rules.len());
    let mut names = BTreeSet::new();
    for r in rules {
        let name = r["alert"].as_str().expect("every rule is an alert");
        assert!(names.insert(name), "{name} twice");
        assert!(
            r["expr"]
                .as_str()
                .is_some_and(|e| !series_names(e).is_empty()),
            "{name}: its expr names no metal3_* metric"
        );
        assert!(
            matches!(
                r["labels"]["severity"].as_str(),
                Some("critical" | "warning" | "info")
            ),
            "{name}: severity {}",
            r["labels"]["severity"]
        );
        for a in ["summary", "description"] {
            assert!(
                r["annotations"][a].as_str().is_some_and(|s| s.len() > 10),
                "{name}: no {a}"
            );
        }
    }
    let d = dashboard();
    assert_eq!(d["templating"]["list"][0]["type"], "datasource");
    let mut all = Vec::new();
    exprs(&d, &mut all);
    assert!(all.len() >= 20, "{} dashboard queries", all.len());
    // Every panel queries the data source chosen in the variable.
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    let kustomization: Value =
        serde_saphyr::from_str(&read("kustomization.yaml")).expect("kustomization is YAML");
    assert!(
        kustomization["resources"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("alerts.yaml"))),
        "{kustomization}"
    );
}

/// Polls `port`'s `/metrics` until every series in `wanted` is exported (families without a
/// labelled child are not listed yet) or a deadline passes; returns the last scrape.
async fn scrape(port: u16, wanted: &BTreeSet<String>, log: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = http_get(port, "/metrics", "").unwrap_or_default();
        let body = response
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_string());
        let (_, series) = exported_series(&body);
        if wanted.iter().all(|w| series.contains(w)) || Instant::now() > deadline {
            assert!(
                body.contains("# TYPE metal3_"),
                "no metrics\nlog:\n{}",
                tail(log)
            );
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `metal3 operator` (fixture backend) with one host driven to available through an inspection
/// error, so the labelled families have children too; returns its scrape.
async fn operator_metrics(
    cp: &metal3_testenv::ControlPlane,
    client: &kube::Client,
    wanted: &BTreeSet<String>,
) -> String {
    let ns = cp.namespace(client, "monitoring").await.expect("namespace");
    let metrics = free_port();
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _operator = Killed(
        Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("operator")
            .args(["--provisioner", "fixture", "--namespace", &ns])
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .arg("--insecure-metrics")
            .args(["--webhook-port", "0", "--log-format", "json"])
            .args(["--error-backoff-seconds", "1"])
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .expect("operator starts"),
    );
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "bmc"},
        "stringData": {"username": "admin", "password": "pw"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let host: BareMetalHost = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": "node-0", "annotations": {
            "fixture.metal3.io/behaviour": r#"{"failures": {"inspect": {"message": "no disk", "times": 1}}}"#,
        }},
        "spec": {"online": true, "bmc": {"address": "ipmi://192.0.2.9", "credentialsName": "bmc"}},
    }))
    .expect("host");
    hosts
        .create(&PostParams::default(), &host)
        .await
        .expect("host");
    common::wait_for(&hosts, &["node-0".into()], "available", logs.path(), |h| {
        h.provisioning_state().as_str() == "available"
    })
    .await;
    scrape(metrics, wanted, logs.path()).await
}

/// `metal3 ipam` with a one-address pool: one claim answered then deleted, one refused; returns
/// its scrape.
async fn ipam_metrics(
    cp: &metal3_testenv::ControlPlane,
    client: &kube::Client,
    wanted: &BTreeSet<String>,
) -> String {
    cp.install_crds(&metal3_testenv::crd_dir().join("ipam"))
        .await
        .expect("the IPAM CRDs install");
    let ns = cp
        .namespace(client, "monitoring-ipam")
        .await
        .expect("namespace");
    let metrics = free_port();
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _ipam = Killed(
        Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("ipam")
            .args(["--namespace", &ns, "--log-format", "json"])
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .arg("--insecure-metrics")
            .args(["--webhook-port", "0"])
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .expect("metal3 ipam starts"),
    );
    let pool: IPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "one"},
        "spec": {"namePrefix": "one", "prefix": 24, "pools": [{"start": "192.168.30.10", "end": "192.168.30.10"}]},
    }))
    .expect("pool");
    Api::<IPPool>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &pool)
        .await
        .expect("create pool");
    let claims: Api<IPClaim> = Api::namespaced(client.clone(), &ns);
    for name in ["c-0", "c-1"] {
        let claim: IPClaim = serde_json::from_value(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
            "metadata": {"name": name}, "spec": {"pool": {"name": "one"}},
        }))
        .expect("claim");
        claims
            .create(&PostParams::default(), &claim)
            .await
            .expect("create claim");
        // The first claim is answered before the second asks; the second is refused (the
        // pool is full) before the first gives its address back.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = claims.get(name).await.expect("get claim").status;
            let settled = status.is_some_and(|s| {
                if name == "c-0" {
                    s.address.is_some()
                } else {
                    s.error_message.is_some()
                }
            });
            if settled {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} unsettled\n{}",
                tail(logs.path())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    claims
        .delete("c-0", &Default::default())
        .await
        .expect("delete claim");
    scrape(metrics, wanted, logs.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_and_the_dashboard_name_is_exported() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let mut used = Vec::new();
    for r in rules(&alerts()) {
        let expr = r["expr"].as_str().expect("expr");
        used.extend(
            series_names(expr)
                .into_iter()
                .map(|s| (r["alert"].clone(), s)),
        );
    }
    let mut queries = Vec::new();
    exprs(&dashboard(), &mut queries);
    for q in &queries {
        used.extend(series_names(q).into_iter().map(|s| (json!("dashboard"), s)));
    }
    let wanted: BTreeSet<String> = used.iter().map(|(_, s)| s.clone()).collect();
    let (wanted_ipam, wanted_operator) = wanted
        .iter()
        .cloned()
        .partition(|s| s.starts_with("metal3_ipam_"));
    let operator = operator_metrics(cp, &client, &wanted_operator).await;
    let ipam = ipam_metrics(cp, &client, &wanted_ipam).await;
    let (mut families, mut series) = exported_series(&operator);
    let (ipam_families, ipam_series) = exported_series(&ipam);
    families.extend(ipam_families);
    series.extend(ipam_series);

    let missing: Vec<_> = used
        .iter()
        .filter(|(_, s)| !series.contains(s))
        .map(|(who, s)| format!("{who}: {s} (family {})", family_of(s)))
        .collect();
    assert!(
        missing.is_empty(),
        "named but not exported: {missing:#?}\nexported: {series:#?}"
    );

    // And the dashboard shows every family the two processes export.
    let shown: BTreeSet<&str> = used
        .iter()
        .filter(|(who, _)| who == "dashboard")
        .map(|(_, s)| family_of(s))
        .collect();
    let unshown: Vec<_> = families
        .iter()
        .filter(|f| f.starts_with("metal3_") && !shown.contains(f.as_str()))
        .collect();
    assert!(unshown.is_empty(), "not on the dashboard: {unshown:?}");
}
