//! The Grafana dashboard `deploy/grafana/dashboards/inference-monitor.json`.
//!
//! Its structure is checked here, always: unique panel ids, panels inside the 24-column grid, the
//! `datasource` and `model` variables, the panels an operator expects, a non-empty expression on
//! every target and no `or vector(0)`. Grafana's own schema (`@grafana/schema`, through
//! TypeScript) and the `PromQL` syntax (through `promtool`) are checked by
//! `deploy/grafana/check/check.mjs`, run here when Node.js and npm are installed; without them
//! that part is skipped with a message, except in CI (`CI=true`), where it fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DASHBOARD: &str = "deploy/grafana/dashboards/inference-monitor.json";
const CHECK_DIR: &str = "deploy/grafana/check";
const GRID_COLUMNS: u64 = 24;

/// Panels the dashboard must have: title and panel type.
const REQUIRED_PANELS: &[(&str, &str)] = &[
    ("Request rate by outcome", "timeseries"),
    ("Server error ratio", "stat"),
    ("In-progress requests", "timeseries"),
    ("Latency p50 / p95 / p99", "timeseries"),
    ("Latency heatmap", "heatmap"),
    ("Prediction distribution", "timeseries"),
    ("Predictions per second by label", "timeseries"),
    ("Prediction confidence", "heatmap"),
    ("Low-confidence share (< 0.6)", "timeseries"),
    ("Prediction drift (PSI, 1h vs 7d)", "timeseries"),
    ("Pipeline", "row"),
    ("Stage latency p50 / p95", "timeseries"),
    ("Mean time per stage", "timeseries"),
    ("Batch size", "timeseries"),
    ("Generation", "row"),
    ("Tokens per second", "timeseries"),
    ("Time to first token p50 / p95", "timeseries"),
    ("Time per output token p50 / p95", "timeseries"),
    ("Model", "row"),
    ("Model versions", "table"),
    ("Model load time", "stat"),
    ("Process CPU", "timeseries"),
    ("Resident memory", "timeseries"),
    ("Open file descriptors", "timeseries"),
    ("Host", "row"),
    ("Host CPU busy", "timeseries"),
    ("Host memory used", "timeseries"),
    ("Disk used (/)", "gauge"),
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn dashboard() -> Value {
    let path = repo_path(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not valid JSON: {e}", path.display()))
}

/// Every panel: the top-level ones and those nested in collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"]
        .as_array()
        .expect("`panels` is an array")
    {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

fn panel_by_title<'a>(dashboard: &'a Value, title: &str) -> &'a Value {
    panels(dashboard)
        .into_iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel titled {title:?}"))
}

fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["expr"].as_str())
        .collect()
}

fn label(panel: &Value) -> String {
    format!("panel {} ({})", panel["id"], panel["title"])
}

#[test]
fn dashboard_identity() {
    let d = dashboard();
    assert_eq!(d["uid"], "inference-monitor");
    assert_eq!(d["title"], "Inference monitor");
    let schema_version = d["schemaVersion"]
        .as_u64()
        .expect("schemaVersion is a number");
    assert!(
        schema_version >= 36,
        "schemaVersion {schema_version} is too old"
    );
}

#[test]
fn datasource_and_model_variables() {
    let d = dashboard();
    let variables = d["templating"]["list"]
        .as_array()
        .expect("templating.list is an array");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` variable"))
    };

    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    let model = variable("model");
    assert_eq!(model["type"], "query");
    assert_eq!(
        model["query"],
        "label_values(inference_requests_total, model)"
    );
    assert_eq!(model["multi"], true, "the model variable is multi-value");
    assert_eq!(model["includeAll"], true, "the model variable has \"All\"");
    assert_eq!(model["datasource"]["uid"], "${datasource}");
}

#[test]
fn panel_ids_are_unique_and_panels_fit_the_grid() {
    let d = dashboard();
    let mut seen: HashMap<u64, String> = HashMap::new();
    for panel in panels(&d) {
        let what = label(panel);
        assert!(
            panel["type"].as_str().is_some_and(|t| !t.is_empty()),
            "{what} has no type"
        );
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what} has no integer id"));
        if let Some(other) = seen.insert(id, what.clone()) {
            panic!("{what} reuses the id of {other}");
        }
        let grid = &panel["gridPos"];
        let field = |name: &str| {
            grid[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: gridPos.{name} is not a non-negative integer"))
        };
        let (x, w, h) = (field("x"), field("w"), field("h"));
        field("y");
        assert!(w >= 1 && h >= 1, "{what}: gridPos w={w} h={h}");
        assert!(
            x + w <= GRID_COLUMNS,
            "{what}: gridPos x + w = {x} + {w} > {GRID_COLUMNS}"
        );
    }
}

#[test]
fn required_panels_are_present() {
    let d = dashboard();
    for (title, kind) in REQUIRED_PANELS {
        let panel = panel_by_title(&d, title);
        assert_eq!(panel["type"], *kind, "panel {title:?}");
    }
}

#[test]
fn every_panel_queries_prometheus_without_a_zero_fallback() {
    let d = dashboard();
    let mut queries = 0;
    for panel in panels(&d) {
        if panel["type"] == "row" {
            continue;
        }
        let what = label(panel);
        assert_eq!(panel["datasource"]["type"], "prometheus", "{what}");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{what}");
        let targets = panel["targets"]
            .as_array()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("{what} has no targets"));
        for target in targets {
            let ref_id = target["refId"].as_str().unwrap_or_default();
            assert!(!ref_id.is_empty(), "{what}: a target has no refId");
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                !expr.trim().is_empty(),
                "{what} target {ref_id}: empty expr"
            );
            let compact: String = expr
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_lowercase();
            assert!(
                !compact.contains("orvector(0"),
                "{what} target {ref_id}: `or vector(0)` hides a misspelled metric: {expr}"
            );
            queries += 1;
        }
    }
    assert!(queries >= 10, "only {queries} queries");
}

#[test]
fn key_queries_are_the_documented_ones() {
    let d = dashboard();

    let rate = panel_by_title(&d, "Request rate by outcome");
    assert_eq!(
        exprs(rate),
        [r#"sum by (outcome) (rate(inference_requests_total{model=~"$model"}[$__rate_interval]))"#]
    );

    let errors = panel_by_title(&d, "Server error ratio");
    assert_eq!(errors["fieldConfig"]["defaults"]["unit"], "percentunit");
    assert!(exprs(errors)[0].contains(r#"outcome="server_error""#));

    let latency = panel_by_title(&d, "Latency p50 / p95 / p99");
    assert_eq!(latency["fieldConfig"]["defaults"]["unit"], "s");
    let latency_exprs = exprs(latency);
    for quantile in ["0.5", "0.95", "0.99"] {
        let wanted = format!("histogram_quantile({quantile}, sum by (le) (rate(inference_request_latency_seconds_bucket");
        assert!(
            latency_exprs.iter().any(|e| e.starts_with(&wanted)),
            "no {quantile} quantile over summed buckets in {latency_exprs:?}"
        );
    }

    let heatmap = panel_by_title(&d, "Latency heatmap");
    assert_eq!(heatmap["targets"][0]["format"], "heatmap");
    assert!(
        exprs(heatmap)[0].starts_with("sum by (le) (rate(inference_request_latency_seconds_bucket")
    );

    let share = panel_by_title(&d, "Prediction distribution");
    assert_eq!(
        share["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"],
        "percent"
    );

    let disk = panel_by_title(&d, "Disk used (/)");
    assert!(exprs(disk)[0].contains(r#"mountpoint="/""#));
}

/// The steps of a panel's thresholds: `None` for the base step, then each value.
fn threshold_steps(panel: &Value) -> Vec<Option<f64>> {
    panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["value"].as_f64())
        .collect()
}

#[test]
fn the_opt_in_signal_panels_query_the_documented_series() {
    let d = dashboard();

    let confidence = panel_by_title(&d, "Prediction confidence");
    assert_eq!(confidence["targets"][0]["format"], "heatmap");
    assert_eq!(
        exprs(confidence),
        [
            r#"sum by (le) (rate(inference_prediction_confidence_bucket{model=~"$model"}[$__rate_interval]))"#
        ]
    );

    // The alert InferenceConfidenceCollapse's share, with its 30% as the red line.
    let low = panel_by_title(&d, "Low-confidence share (< 0.6)");
    assert_eq!(
        exprs(low),
        [concat!(
            r#"sum by (model) (rate(inference_prediction_confidence_bucket{model=~"$model",le="0.6"}[$__rate_interval]))"#,
            "\n  / ",
            r#"(sum by (model) (rate(inference_prediction_confidence_count{model=~"$model"}[$__rate_interval])) > 0)"#
        )]
    );
    assert_eq!(low["fieldConfig"]["defaults"]["unit"], "percentunit");
    assert_eq!(threshold_steps(low), [None, Some(0.3)]);

    // The recorded PSI, orange from 0.1 (moderate) and red from 0.2 (the alert's threshold).
    let drift = panel_by_title(&d, "Prediction drift (PSI, 1h vs 7d)");
    assert_eq!(
        exprs(drift),
        [r#"model:inference_predictions:psi_1h_7d{model=~"$model"}"#]
    );
    assert_eq!(threshold_steps(drift), [None, Some(0.1), Some(0.2)]);

    let stages = panel_by_title(&d, "Stage latency p50 / p95");
    assert_eq!(stages["fieldConfig"]["defaults"]["unit"], "s");
    assert_eq!(
        exprs(stages),
        [
            r#"histogram_quantile(0.5, sum by (stage, le) (rate(inference_stage_duration_seconds_bucket{model=~"$model"}[$__rate_interval])))"#,
            r#"histogram_quantile(0.95, sum by (stage, le) (rate(inference_stage_duration_seconds_bucket{model=~"$model"}[$__rate_interval])))"#,
        ]
    );

    let mean_stage = panel_by_title(&d, "Mean time per stage");
    assert_eq!(
        mean_stage["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"],
        "normal"
    );
    assert_eq!(
        exprs(mean_stage),
        [concat!(
            r#"sum by (stage) (rate(inference_stage_duration_seconds_sum{model=~"$model"}[$__rate_interval]))"#,
            "\n  / ",
            r#"(sum by (stage) (rate(inference_stage_duration_seconds_count{model=~"$model"}[$__rate_interval])) > 0)"#
        )]
    );

    let batch = panel_by_title(&d, "Batch size");
    assert_eq!(
        exprs(batch),
        [
            concat!(
                r#"sum(rate(inference_batch_size_sum{model=~"$model"}[$__rate_interval]))"#,
                "\n  / ",
                r#"(sum(rate(inference_batch_size_count{model=~"$model"}[$__rate_interval])) > 0)"#
            ),
            r#"histogram_quantile(0.95, sum by (le) (rate(inference_batch_size_bucket{model=~"$model"}[$__rate_interval])))"#,
        ]
    );

    let tokens = panel_by_title(&d, "Tokens per second");
    assert_eq!(
        exprs(tokens),
        [r#"sum by (type) (rate(inference_tokens_total{model=~"$model"}[$__rate_interval]))"#]
    );

    // Time to first token, with the alert InferenceSlowFirstToken's 2.5 s as the red line.
    let ttft = panel_by_title(&d, "Time to first token p50 / p95");
    assert_eq!(
        exprs(ttft),
        [
            r#"histogram_quantile(0.5, sum by (le) (rate(inference_time_to_first_token_seconds_bucket{model=~"$model"}[$__rate_interval])))"#,
            r#"histogram_quantile(0.95, sum by (le) (rate(inference_time_to_first_token_seconds_bucket{model=~"$model"}[$__rate_interval])))"#,
        ]
    );
    assert_eq!(threshold_steps(ttft), [None, Some(2.5)]);

    let tpot = panel_by_title(&d, "Time per output token p50 / p95");
    assert_eq!(
        exprs(tpot),
        [
            r#"histogram_quantile(0.5, sum by (le) (rate(inference_time_per_output_token_seconds_bucket{model=~"$model"}[$__rate_interval])))"#,
            r#"histogram_quantile(0.95, sum by (le) (rate(inference_time_per_output_token_seconds_bucket{model=~"$model"}[$__rate_interval])))"#,
        ]
    );

    // One row per (model, version), counting the replicas that serve it.
    let versions = panel_by_title(&d, "Model versions");
    assert_eq!(
        exprs(versions),
        [r#"count by (model, version) (inference_model_info{model=~"$model"})"#]
    );
    assert_eq!(versions["targets"][0]["format"], "table");
    assert_eq!(versions["targets"][0]["instant"], true);

    let load = panel_by_title(&d, "Model load time");
    assert_eq!(load["fieldConfig"]["defaults"]["unit"], "s");
    assert_eq!(
        exprs(load),
        [r#"max by (model) (inference_model_load_duration_seconds{model=~"$model"})"#]
    );
}

/// Every recorded series a panel reads (a name with a colon, `level:metric:operations`) is
/// recorded by `deploy/prometheus/recording_rules.yml`.
#[test]
fn recorded_series_the_dashboard_reads_are_recorded() {
    let rules = std::fs::read_to_string(repo_path("deploy/prometheus/recording_rules.yml"))
        .expect("read recording_rules.yml");
    let recorded: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(str::trim)
        .collect();
    let d = dashboard();
    let mut read = Vec::new();
    for panel in panels(&d) {
        for expr in exprs(panel) {
            // Template variables such as ${model:regex} are not series names.
            let mut text = expr.to_owned();
            while let Some(start) = text.find("${") {
                let end = text[start..]
                    .find('}')
                    .map_or(text.len(), |e| start + e + 1);
                text.replace_range(start..end, " ");
            }
            for name in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                if name.contains(':') && !name.starts_with(|c: char| c.is_ascii_digit()) {
                    assert!(
                        recorded.contains(&name),
                        "{}: reads {name}, which recording_rules.yml does not record",
                        label(panel)
                    );
                    read.push(name.to_owned());
                }
            }
        }
    }
    assert_eq!(read, ["model:inference_predictions:psi_1h_7d"]);
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("$ {program} {}\n{printed}", args.join(" "));
    assert!(
        out.status.success(),
        "`{program} {}` in {} failed ({}):\n{printed}",
        args.join(" "),
        dir.display(),
        out.status
    );
}

/// True when `node_modules` is missing, or older than `package-lock.json` (pinned versions
/// changed since the last `npm ci`).
fn needs_install(dir: &Path) -> bool {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(dir.join("node_modules/.package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

/// Grafana's schema and the `PromQL` syntax, through `deploy/grafana/check/check.mjs`.
#[test]
fn grafana_schema_and_promql_check() {
    if !runs("node") || !runs("npm") {
        let why = "Node.js and npm are not installed, so the dashboard's Grafana schema check \
                   (deploy/grafana/check/check.mjs) cannot run; install them: apt-get install nodejs npm";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
        return;
    }
    let dir = repo_path(CHECK_DIR);
    if needs_install(&dir) {
        run("npm", &["ci", "--no-audit", "--no-fund"], &dir);
    }
    run("node", &["check.mjs"], &dir);
}
