//! The monitoring deployment files in `deploy/` are valid, tested and documented:
//!
//! - `promtool check config`, `promtool check rules`, `promtool test rules` and
//!   `amtool check-config` all pass on them;
//! - a rule file with a broken expression is refused, so the checks can fail;
//! - every alert has a `severity` label, `summary`, `description` and `runbook` annotations,
//!   a runbook section in `docs/alerts.md`, and unit tests where it fires and stays quiet;
//! - the Prometheus Operator copy of the recording rules (`deploy/kubernetes/recording-rules.yaml`)
//!   holds the same groups, intervals, rule names and expressions as the unit-tested
//!   `deploy/prometheus/recording_rules.yml`.
//!
//! `promtool` and `amtool` come from the Debian packages `prometheus` and
//! `prometheus-alertmanager`. Without them the tests that need them print a "skipped" message
//! and pass, unless the environment variable `CI` is `true`: then they fail.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const ALERT_RULES: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts_test.yml";
const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";
const RECORDING_RULES: &str = "deploy/prometheus/recording_rules.yml";
const RECORDING_RULES_KUBERNETES: &str = "deploy/kubernetes/recording-rules.yaml";
const RUNBOOKS: &str = "docs/alerts.md";
const RUNBOOK_BASE: &str =
    "https://github.com/inference-monitor/inference-monitor/blob/main/docs/alerts.md#";

/// The alerts the deployment must provide, whatever else it adds.
const REQUIRED_ALERTS: [&str; 10] = [
    "InferenceHighErrorRatio",
    "InferenceHighLatencyP95",
    "InferenceTargetDown",
    "InferenceNoTraffic",
    "InferenceRequestsPilingUp",
    "InferencePredictionShift",
    "InferenceHighClientErrorRatio",
    "InferencePredictionDrift",
    "InferenceConfidenceCollapse",
    "InferenceSlowFirstToken",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Running the tools
// ------------------------------------------------------------------------------------------

/// The Debian package that installs `tool`.
fn debian_package(tool: &str) -> &'static str {
    match tool {
        "amtool" | "prometheus-alertmanager" => "prometheus-alertmanager",
        _ => "prometheus",
    }
}

/// Runs `tool args…` in the crate root. `None` when the tool is not installed and the test
/// should be skipped; panics instead when `CI` is `true`.
fn run(tool: &str, args: &[&str]) -> Option<Output> {
    match Command::new(tool).args(args).current_dir(root()).output() {
        Ok(output) => Some(output),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let package = debian_package(tool);
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "`{tool}` is not installed, and CI=true requires it: install the Debian \
                 package `{package}` (`sudo apt-get install {package}`)"
            );
            eprintln!(
                "skipped: `{tool}` (Debian package `{package}`) is not installed; install with \
                 `sudo apt-get install prometheus prometheus-alertmanager`"
            );
            None
        }
        Err(e) => panic!("cannot run `{tool}`: {e}"),
    }
}

/// The command line and both output streams, for failure messages.
fn report(tool: &str, args: &[&str], output: &Output) -> String {
    format!(
        "`{tool} {}` exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

/// Runs the command and asserts it exits 0; returns its stdout and stderr together.
fn check(tool: &str, args: &[&str]) -> Option<String> {
    let output = run(tool, args)?;
    assert!(output.status.success(), "{}", report(tool, args, &output));
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

#[test]
fn promtool_check_config() {
    check("promtool", &["check", "config", PROMETHEUS_CONFIG]);
}

#[test]
fn promtool_check_rules() {
    let Some(output) = check("promtool", &["check", "rules", ALERT_RULES]) else {
        return;
    };
    // promtool and the text parser below see the same rules: the parser missed none.
    let found = output
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("SUCCESS: ")?
                .strip_suffix(" rules found")
        })
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no \"SUCCESS: N rules found\" line in:\n{output}"));
    let rules = parse_rules(&read(ALERT_RULES));
    assert_eq!(
        found,
        rules.alerts.len() + rules.records,
        "promtool found {found} rules, the text parser {} alerts and {} recording rules",
        rules.alerts.len(),
        rules.records
    );
}

#[test]
fn promtool_test_rules() {
    check("promtool", &["test", "rules", ALERT_TESTS]);
}

#[test]
fn amtool_check_config() {
    check("amtool", &["check-config", ALERTMANAGER_CONFIG]);
}

#[test]
fn the_compose_variants_and_the_recording_rules_are_valid() {
    check(
        "promtool",
        &[
            "check",
            "config",
            "deploy/prometheus/prometheus.compose.yml",
        ],
    );
    check(
        "promtool",
        &["check", "rules", "deploy/prometheus/recording_rules.yml"],
    );
    check(
        "promtool",
        &[
            "test",
            "rules",
            "deploy/prometheus/recording_rules_test.yml",
        ],
    );
    check(
        "amtool",
        &[
            "check-config",
            "deploy/alertmanager/alertmanager.compose.yml",
        ],
    );
}

// ------------------------------------------------------------------------------------------
// The checks can fail
// ------------------------------------------------------------------------------------------

/// A directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("inference-monitor-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The rule file with an unclosed parenthesis opened in the first alert's expression.
fn break_first_expression(rules: &str) -> String {
    let mut out = Vec::new();
    let mut broken = false;
    let mut open_block = false;
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if broken {
            out.push(line.to_owned());
        } else if open_block && !trimmed.is_empty() {
            // First line of a block scalar `expr: |`.
            let indent = line.len() - trimmed.len();
            out.push(format!("{}({trimmed}", &line[..indent]));
            broken = true;
        } else if let Some(value) = trimmed.strip_prefix("expr:") {
            let value = value.trim();
            if value.starts_with('|') || value.starts_with('>') {
                out.push(line.to_owned());
                open_block = true;
            } else {
                let indent = line.len() - trimmed.len();
                out.push(format!("{}expr: ({value}", &line[..indent]));
                broken = true;
            }
        } else {
            out.push(line.to_owned());
        }
    }
    assert!(broken, "no `expr:` found to break in {ALERT_RULES}");
    out.join("\n") + "\n"
}

#[test]
fn promtool_refuses_a_broken_rule_file() {
    let dir = TempDir::new("deploy-rules-broken");
    let rules = read(ALERT_RULES);

    // The copy as it is passes: the failure below comes from the broken expression.
    let intact = dir.0.join("intact.yml");
    fs::write(&intact, &rules).expect("write the intact copy");
    let intact = intact.to_string_lossy().into_owned();
    if check("promtool", &["check", "rules", &intact]).is_none() {
        return;
    }

    let broken = dir.0.join("alerts.yml");
    fs::write(&broken, break_first_expression(&rules)).expect("write the broken copy");
    let broken = broken.to_string_lossy().into_owned();
    let args = ["check", "rules", broken.as_str()];
    let Some(output) = run("promtool", &args) else {
        return;
    };
    assert!(
        !output.status.success(),
        "promtool accepted a rule with an unclosed parenthesis:\n{}",
        report("promtool", &args, &output)
    );
    let text = report("promtool", &args, &output);
    assert!(
        text.contains("parse error") || text.contains("unclosed"),
        "promtool failed, but not on the expression:\n{text}"
    );
}

// ------------------------------------------------------------------------------------------
// Every alert is labelled, annotated, documented and unit-tested
// ------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Alert {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Rules {
    alerts: Vec<Alert>,
    records: usize,
}

fn unquote(value: &str) -> String {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner.to_owned();
        }
    }
    value.to_owned()
}

/// A minimal reader for the shape of a Prometheus rule file: list items `- alert: NAME` and
/// `- record: NAME`, and under an alert, the maps `labels:` and `annotations:` of
/// `key: value` lines (quoted, plain, or a block scalar `|` / `>` on the following lines).
fn parse_rules(text: &str) -> Rules {
    let mut rules = Rules::default();
    // Indentation of the current alert's keys (`expr`, `labels`, …), when inside an alert.
    let mut key_indent: Option<usize> = None;
    // The current map (`labels` or `annotations`) and the indentation of its keys.
    let mut section: Option<(String, Option<usize>)> = None;
    // The map entry whose block scalar is being read, and the indentation of its keys.
    let mut block: Option<(String, usize)> = None;

    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();

        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rules.alerts.push(Alert {
                name: unquote(name),
                ..Alert::default()
            });
            key_indent = Some(indent + 2);
            section = None;
            block = None;
            continue;
        }
        if trimmed.starts_with("- record:") {
            rules.records += 1;
            key_indent = None;
            continue;
        }
        let (Some(keys), Some(alert)) = (key_indent, rules.alerts.last_mut()) else {
            continue;
        };
        if indent < keys {
            // Back to the rule list or the group list: the alert is over.
            key_indent = None;
            continue;
        }
        if indent == keys {
            let key = trimmed.split(':').next().unwrap_or_default().trim();
            section = matches!(key, "labels" | "annotations").then(|| (key.to_owned(), None));
            block = None;
            continue;
        }
        let Some((map_name, map_indent)) = section.as_mut() else {
            continue;
        };
        let map = if map_name == "labels" {
            &mut alert.labels
        } else {
            &mut alert.annotations
        };
        let map_indent = *map_indent.get_or_insert(indent);
        if indent > map_indent {
            // A line of a block scalar value.
            if let Some((key, _)) = &block {
                let value = map.entry(key.clone()).or_default();
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(trimmed);
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let key = key.trim().to_owned();
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            map.insert(key.clone(), String::new());
            block = Some((key, map_indent));
        } else {
            map.insert(key, unquote(value));
            block = None;
        }
    }
    rules
}

/// GitHub's anchor for a Markdown heading: lowercase, only letters, digits, `-` and `_`
/// kept, spaces become `-`.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of every heading of a Markdown text, outside fenced code blocks.
fn heading_anchors(markdown: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let text = trimmed.trim_start_matches('#');
        let level = trimmed.len() - text.len();
        if (1..=6).contains(&level) && text.starts_with(' ') {
            anchors.push(github_anchor(text));
        }
    }
    anchors
}

#[test]
fn the_text_parser_reads_labels_and_annotations() {
    let rules = parse_rules(
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n\
         \x20     - alert: A\n        expr: up == 0\n        labels:\n          severity: warning\n\
         \x20       annotations:\n          summary: \"a {{ $labels.job }}\"\n\
         \x20         description: |\n            two\n            lines\n\
         \x20         runbook: 'https://x/y#a'\n        for: 1m\n\
         \x20     - alert: 'B'\n        expr: up\n  - name: h\n    rules: []\n",
    );
    assert_eq!(rules.records, 1);
    assert_eq!(rules.alerts.len(), 2);
    let a = &rules.alerts[0];
    assert_eq!(a.name, "A");
    assert_eq!(
        a.labels.get("severity").map(String::as_str),
        Some("warning")
    );
    assert_eq!(
        a.annotations.get("summary").map(String::as_str),
        Some("a {{ $labels.job }}")
    );
    assert_eq!(
        a.annotations.get("description").map(String::as_str),
        Some("two\nlines")
    );
    assert_eq!(
        a.annotations.get("runbook").map(String::as_str),
        Some("https://x/y#a")
    );
    assert_eq!(rules.alerts[1].name, "B");
    assert!(rules.alerts[1].labels.is_empty());
    assert_eq!(
        heading_anchors("# Title\n```sh\n# comment\n```\n## Inference Foo_Bar (x)\n#nope\n"),
        ["title", "inference-foo_bar-x"]
    );
}

#[test]
fn every_alert_is_labelled_annotated_and_documented() {
    let rules = parse_rules(&read(ALERT_RULES));
    let anchors = heading_anchors(&read(RUNBOOKS));
    let mut problems = Vec::new();

    for required in REQUIRED_ALERTS {
        if !rules.alerts.iter().any(|a| a.name == required) {
            problems.push(format!("{required}: missing from {ALERT_RULES}"));
        }
    }
    let mut seen = Vec::new();
    for alert in &rules.alerts {
        let name = &alert.name;
        if seen.contains(&name) {
            problems.push(format!("{name}: defined twice"));
        }
        seen.push(name);

        match alert.labels.get("severity").map(String::as_str) {
            Some("critical" | "warning" | "info") => {}
            other => problems.push(format!(
                "{name}: label severity is {other:?}, expected critical, warning or info"
            )),
        }
        for key in ["summary", "description", "runbook"] {
            if alert
                .annotations
                .get(key)
                .is_none_or(|v| v.trim().is_empty())
            {
                problems.push(format!("{name}: annotation {key} is missing or empty"));
            }
        }
        let Some(runbook) = alert.annotations.get("runbook") else {
            continue;
        };
        match runbook.strip_prefix(RUNBOOK_BASE) {
            None => problems.push(format!(
                "{name}: runbook {runbook:?} does not start with {RUNBOOK_BASE}"
            )),
            Some(anchor) => {
                if anchor != name.to_lowercase() {
                    problems.push(format!(
                        "{name}: runbook anchor #{anchor}, expected #{}",
                        name.to_lowercase()
                    ));
                }
                if !anchors.iter().any(|a| a == anchor) {
                    problems.push(format!(
                        "{name}: no heading in {RUNBOOKS} has the anchor #{anchor}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let rules = parse_rules(&read(ALERT_RULES));
    let tests = read(ALERT_TESTS);

    // For each alert name: (a case where it fires, a case where it stays quiet). A case is
    // an item of an `alert_rule_test` list: its `alertname`, and its `exp_alerts` (absent or
    // `[]` when no alert is expected).
    let mut cases: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let mut record = |name: Option<String>, fires: bool| {
        if let Some(name) = name {
            let entry = cases.entry(name).or_default();
            if fires {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    };
    let (mut name, mut fires) = (None, false);
    for line in tests.lines() {
        let trimmed = line.trim_start();
        let item = trimmed.strip_prefix("- ");
        let field = item.unwrap_or(trimmed);
        let key = field.split(':').next().unwrap_or_default().trim();
        if item.is_some() && matches!(key, "eval_time" | "alertname" | "exp_alerts") {
            // A new case begins.
            record(name.take(), fires);
            fires = false;
        }
        if let Some(value) = field.strip_prefix("alertname:") {
            name = Some(unquote(value));
        } else if let Some(value) = field.strip_prefix("exp_alerts:") {
            fires = value.trim() != "[]";
        }
    }
    record(name, fires);

    let mut problems = Vec::new();
    for alert in &rules.alerts {
        let (fires, quiet) = cases.get(&alert.name).copied().unwrap_or_default();
        if !fires {
            problems.push(format!("{}: no unit test where it fires", alert.name));
        }
        if !quiet {
            problems.push(format!(
                "{}: no unit test where it stays quiet (`exp_alerts: []`)",
                alert.name
            ));
        }
    }
    for name in cases.keys() {
        if !rules.alerts.iter().any(|a| &a.name == name) {
            problems.push(format!("{ALERT_TESTS} tests {name}, which is not an alert"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------------------------------------------------
// The Kubernetes recording rules are the tested ones
// ------------------------------------------------------------------------------------------

/// A rule group as far as recording rules go: its name, its `interval` (if set) and its rules,
/// each as (record name, expression with every run of whitespace made one space).
#[derive(Debug, Default, PartialEq)]
struct RecordingGroup {
    name: String,
    interval: Option<String>,
    rules: Vec<(String, String)>,
}

/// Reads the groups of a Prometheus rule file, or of the `spec` of a `PrometheusRule` (the same
/// shape, indented deeper): `- name:` starts a group, `interval:` sets its interval, `- record:`
/// starts a rule, and `expr:` is a plain value or a block scalar (`|` / `>`) on the lines below.
/// Comment lines are skipped.
fn recording_groups(text: &str) -> Vec<RecordingGroup> {
    let mut groups: Vec<RecordingGroup> = Vec::new();
    // Indentation of the `expr:` key whose block scalar is being read.
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(key_indent) = block {
            if indent > key_indent {
                if let Some((_, expr)) = groups.last_mut().and_then(|g| g.rules.last_mut()) {
                    expr.push(' ');
                    expr.push_str(trimmed);
                }
                continue;
            }
            block = None;
        }
        if let Some(name) = trimmed.strip_prefix("- name:") {
            groups.push(RecordingGroup {
                name: unquote(name),
                ..RecordingGroup::default()
            });
        } else if let Some(interval) = trimmed.strip_prefix("interval:") {
            if let Some(group) = groups.last_mut() {
                group.interval = Some(unquote(interval));
            }
        } else if let Some(record) = trimmed.strip_prefix("- record:") {
            if let Some(group) = groups.last_mut() {
                group.rules.push((unquote(record), String::new()));
            }
        } else if let Some(expr) = trimmed.strip_prefix("expr:") {
            let expr = expr.trim();
            if expr.starts_with('|') || expr.starts_with('>') {
                block = Some(indent);
            } else if let Some((_, e)) = groups.last_mut().and_then(|g| g.rules.last_mut()) {
                e.push_str(&unquote(expr));
            }
        }
    }
    for group in &mut groups {
        for (_, expr) in &mut group.rules {
            *expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    groups
}

#[test]
fn the_recording_rule_reader_reads_groups_intervals_and_block_expressions() {
    let groups = recording_groups(
        "groups:\n  - name: a\n    rules:\n      # c\n      - record: x:y:rate5m\n\
         \x20       expr: sum by (m) (rate(y[5m]))\n  - name: 'b'\n    interval: 1m\n\
         \x20   rules:\n      - record: z\n        expr: |\n          sum(\n\n            x:y:rate5m\n\
         \x20         )\n      - record: w\n        expr: \"up\"\n",
    );
    assert_eq!(
        groups,
        [
            RecordingGroup {
                name: "a".into(),
                interval: None,
                rules: vec![("x:y:rate5m".into(), "sum by (m) (rate(y[5m]))".into())],
            },
            RecordingGroup {
                name: "b".into(),
                interval: Some("1m".into()),
                rules: vec![
                    ("z".into(), "sum( x:y:rate5m )".into()),
                    ("w".into(), "up".into()),
                ],
            },
        ]
    );
}

/// The `PrometheusRule` has no unit tests of its own: it must be the tested file, rule for rule.
#[test]
fn the_kubernetes_recording_rules_are_the_tested_ones() {
    let tested = recording_groups(&read(RECORDING_RULES));
    let kubernetes = recording_groups(&read(RECORDING_RULES_KUBERNETES));
    let records = |groups: &[RecordingGroup]| groups.iter().map(|g| g.rules.len()).sum::<usize>();
    assert!(
        records(&tested) >= 15,
        "only {} recording rules read from {RECORDING_RULES}",
        records(&tested)
    );
    assert_eq!(
        kubernetes, tested,
        "{RECORDING_RULES_KUBERNETES} differs from {RECORDING_RULES} (left: Kubernetes, right: \
         the tested file): copy the groups, intervals and expressions over"
    );
}
