//! End to end with the real components: the `axum_loan` demo and the `axum_stream` generator
//! scraped every second by a real Prometheus running the shipped alert and recording rules, a
//! node exporter, and a real Alertmanager that notifies a webhook served by this test. Known
//! traffic goes in; the Prometheus HTTP API must show exactly that traffic, every query of every
//! Grafana panel must return data, and the error-ratio alert must reach the webhook.
//!
//! Which component feeds which panel (`docs/dashboard.md`, "What each panel needs"):
//!
//! | panels | fed by |
//! |---|---|
//! | Requests, Latency, Predictions (confidence included), Pipeline (stages, batch size), Model, Process | `axum_loan` (job `loan_inference_service`): `/predict` and `/predict/batch` |
//! | Prediction drift (PSI) | the recording rules, from `axum_loan`'s predictions |
//! | Generation (tokens, time to first token, time per output token) | `axum_stream` (job `stream`, model `tiny-generator`) |
//! | Host | the node exporter (job `node`) |
//!
//! No panel is exempt: a panel without data fails the test, whatever metric it reads.
//!
//! Needs `prometheus`, `prometheus-alertmanager` and `prometheus-node-exporter` (Debian
//! packages; `.ci/run` installs them). Outside CI the test is skipped with a message when they
//! are missing; in CI (`CI=true`) it fails.

use crate::common;

use std::time::Duration;

use common::stack::{self, eventually, free_port, query, scalar};
use common::{http, post_json, start_example};

use common::loan_api::{GOOD, RISKY};

/// The streaming generator's pace here: quick, far below the 2.5 s of `InferenceSlowFirstToken`.
const STREAM_PACE: [(&str, &str); 2] = [("FIRST_TOKEN_DELAY_MS", "20"), ("TOKEN_DELAY_MS", "10")];

/// A batch of `apps` for `axum_loan`'s `/predict/batch`.
fn batch(apps: &[&str]) -> String {
    format!(r#"{{"applications": [{}]}}"#, apps.join(", "))
}

/// Streams one generation of `max_tokens` tokens from `prompt` to the end; returns the number of
/// events received.
fn stream(addr: std::net::SocketAddr, prompt: &str, max_tokens: u64) -> usize {
    let res = post_json(
        addr,
        "/generate",
        &format!(r#"{{"prompt": "{prompt}", "max_tokens": {max_tokens}}}"#),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    res.body.matches("data: ").count()
}

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// A shipped rule file with every `for:` shortened to 0s, so alerts fire within the test, and
/// every group `interval:` to 1s (the drift recording rules run every minute), so recorded
/// series appear within seconds; the expressions are the shipped ones, unchanged.
fn rules_for_test(path: &str) -> String {
    repo_file(path)
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if trimmed.starts_with("for:") {
                format!("{indent}for: 0s")
            } else if trimmed.starts_with("interval:") {
                format!("{indent}interval: 1s")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every panel expression of the Grafana dashboard, with its variables substituted.
fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard: serde_json::Value = serde_json::from_str(&repo_file(
        "deploy/grafana/dashboards/inference-monitor.json",
    ))
    .unwrap();
    let mut out = Vec::new();
    let mut panels: Vec<serde_json::Value> =
        dashboard["panels"].as_array().cloned().unwrap_or_default();
    while let Some(panel) = panels.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            panels.extend(inner.iter().cloned());
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let expr = expr
                    .replace("${model:regex}", ".*")
                    .replace("${model}", ".*")
                    .replace("$model", ".*")
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "1m")
                    .replace("$__range", "5m");
                out.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr));
            }
        }
    }
    out
}

#[test]
fn prometheus_sees_exactly_the_traffic_and_the_alert_reaches_the_webhook() {
    let (Some(prometheus), Some(alertmanager), Some(node_exporter)) = (
        stack::require("prometheus", "prometheus"),
        stack::require("prometheus-alertmanager", "prometheus-alertmanager"),
        stack::require("prometheus-node-exporter", "prometheus-node-exporter"),
    ) else {
        return;
    };

    let server = start_example("axum_loan", &[("INJECT_FAULTS", "1")]);
    let generator = start_example("axum_stream", &STREAM_PACE);
    let webhook = stack::Webhook::start();
    let am = stack::alertmanager(
        &alertmanager,
        &format!(
            "route:\n  receiver: test\n  group_by: [alertname, model]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: http://{}/alerts\n        send_resolved: false\n",
            webhook.addr
        ),
    );
    let node_port = free_port();
    let _node = {
        let child = std::process::Command::new(&node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start node exporter");
        stack::Process {
            name: "node-exporter",
            child,
            addr: format!("127.0.0.1:{node_port}").parse().unwrap(),
            dir: stack::TempDir::new("node"),
        }
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml, recording_rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\nscrape_configs:\n  - job_name: loan_inference_service\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{}']\n  - job_name: stream\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{}']\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n",
        am.addr, server.addr, generator.addr
    );
    let prom = stack::prometheus(
        &prometheus,
        &config,
        &[
            ("alerts.yml", rules_for_test("deploy/prometheus/alerts.yml")),
            (
                "recording_rules.yml",
                rules_for_test("deploy/prometheus/recording_rules.yml"),
            ),
        ],
    );
    let p = prom.addr;

    // The first scrape must see the counters at zero, or rate() has no increase to show.
    let total = r#"sum(inference_requests_total{job="loan_inference_service",model="loan"})"#;
    eventually(Duration::from_secs(30), "a first scrape at zero", || {
        (scalar(p, total) == Some(0.0)).then_some(())
    });

    // Known traffic: 6 approved, 4 rejected, 3 invalid (422), 2 bad syntax (400), 10 model errors,
    // and one batch of 3 (2 approved, 1 rejected): 26 requests, 13 predictions.
    let fault = [
        ("Content-Type", "application/json"),
        ("X-Inject-Fault", "model-error"),
    ];
    for _ in 0..6 {
        assert_eq!(post_json(server.addr, "/predict", GOOD).status, 200);
    }
    for _ in 0..4 {
        assert_eq!(post_json(server.addr, "/predict", RISKY).status, 200);
    }
    for _ in 0..3 {
        assert_eq!(
            post_json(server.addr, "/predict", r#"{"applicant_income": 1}"#).status,
            422
        );
    }
    for _ in 0..2 {
        assert_eq!(post_json(server.addr, "/predict", "{").status, 400);
    }
    for _ in 0..10 {
        let res = http(server.addr, "POST", "/predict", &fault, GOOD.as_bytes());
        assert_eq!(res.status, 500, "{}", res.body);
        assert!(res.json()["error"].is_string());
    }
    let res = post_json(server.addr, "/predict/batch", &batch(&[GOOD, RISKY, GOOD]));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["predictions"].as_array().map(Vec::len), Some(3));
    // Two streams: 4 and 3 tokens out, 3 and 2 prompt words in.
    assert_eq!(stream(generator.addr, "tell me more", 4), 4);
    assert_eq!(stream(generator.addr, "go on", 3), 3);

    // Prometheus holds exactly the traffic sent, per outcome.
    eventually(
        Duration::from_secs(30),
        "Prometheus to scrape all 26 requests",
        || (scalar(p, total) == Some(26.0)).then_some(()),
    );
    let streamed = |metric: &str| {
        scalar(
            p,
            &format!(r#"sum({metric}{{job="stream",model="tiny-generator"}})"#),
        )
    };
    eventually(
        Duration::from_secs(30),
        "Prometheus to scrape the first two streams",
        || (streamed("inference_time_to_first_token_seconds_count") == Some(2.0)).then_some(()),
    );
    let by_outcome = |o: &str| {
        scalar(
            p,
            &format!(
                r#"sum(inference_requests_total{{job="loan_inference_service",model="loan",outcome="{o}"}})"#
            ),
        )
    };
    assert_eq!(by_outcome("success"), Some(11.0));
    assert_eq!(by_outcome("client_error"), Some(5.0));
    assert_eq!(by_outcome("server_error"), Some(10.0));
    assert_eq!(by_outcome("cancelled"), Some(0.0));
    let label = |l: &str| {
        scalar(
            p,
            &format!(r#"sum(inference_predictions_total{{model="loan",label="{l}"}})"#),
        )
    };
    assert_eq!(label("approved"), Some(8.0));
    assert_eq!(label("rejected"), Some(5.0));
    assert_eq!(
        scalar(
            p,
            r#"sum(inference_request_latency_seconds_count{model="loan"})"#
        ),
        Some(26.0)
    );
    let loan_batches = |part: &str| {
        scalar(
            p,
            &format!(
                r#"sum(inference_batch_size_{part}{{job="loan_inference_service",model="loan"}})"#
            ),
        )
    };
    assert_eq!(loan_batches("count"), Some(1.0));
    assert_eq!(loan_batches("sum"), Some(3.0));
    assert_eq!(
        scalar(p, r#"sum(inference_inprogress_requests{model="loan"})"#),
        Some(0.0)
    );
    let p95 = eventually(Duration::from_secs(20), "a finite p95", || {
        scalar(p, r#"histogram_quantile(0.95, sum by (le) (rate(inference_request_latency_seconds_bucket{model="loan"}[1m])))"#)
            .filter(|v| v.is_finite())
    });
    assert!(p95 > 0.0 && p95 <= 60.0, "{p95}");

    // A second, later burst: a series registered at its first observation (the streaming
    // signals) is scraped for the first time already counting the first burst, so only a later
    // increase gives its rate() something to show. 2 predictions and a batch of 2 (1 approved,
    // 1 rejected); two more streams of 5 and 2 tokens, from 4 and 1 prompt words.
    for _ in 0..2 {
        assert_eq!(post_json(server.addr, "/predict", GOOD).status, 200);
    }
    let res = post_json(server.addr, "/predict/batch", &batch(&[RISKY, GOOD]));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(stream(generator.addr, "one two three four", 5), 5);
    assert_eq!(stream(generator.addr, "again", 2), 2);
    eventually(
        Duration::from_secs(30),
        "Prometheus to scrape the second burst",
        || {
            (scalar(p, total) == Some(29.0)
                && streamed("inference_time_to_first_token_seconds_count") == Some(4.0))
            .then_some(())
        },
    );
    assert_eq!(label("approved"), Some(11.0));
    assert_eq!(label("rejected"), Some(6.0));
    assert_eq!(loan_batches("count"), Some(2.0));
    assert_eq!(loan_batches("sum"), Some(5.0));
    // Exactly the streams sent, on their own job and model.
    let tokens = |kind: &str| {
        scalar(
            p,
            &format!(
                r#"sum(inference_tokens_total{{job="stream",model="tiny-generator",type="{kind}"}})"#
            ),
        )
    };
    assert_eq!(tokens("output"), Some(14.0));
    assert_eq!(tokens("input"), Some(10.0));
    assert_eq!(
        streamed("inference_time_per_output_token_seconds_count"),
        Some(4.0)
    );
    assert_eq!(
        scalar(
            p,
            r#"sum(inference_requests_total{job="stream",model="tiny-generator",outcome="success"})"#
        ),
        Some(4.0)
    );
    assert_eq!(
        scalar(p, r#"sum(inference_requests_total{job="stream"})"#),
        Some(4.0)
    );

    // Every query of every dashboard panel is valid, executes, and returns data.
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 30,
        "only {} dashboard queries",
        queries.len()
    );
    for (title, expr) in &queries {
        let result = eventually(
            Duration::from_secs(30),
            &format!("data for panel {title:?}: {expr}"),
            || {
                let r = query(p, expr);
                (!r.is_empty()).then_some(r)
            },
        );
        assert!(!result.is_empty());
    }

    // The error-ratio alert fires in Prometheus and its notification reaches the webhook.
    eventually(
        Duration::from_secs(60),
        "InferenceHighErrorRatio firing",
        || {
            let res = http(p, "GET", "/api/v1/alerts", &[], b"").json();
            res["data"]["alerts"]
                .as_array()?
                .iter()
                .any(|a| {
                    a["labels"]["alertname"] == "InferenceHighErrorRatio" && a["state"] == "firing"
                })
                .then_some(())
        },
    );
    let body = eventually(
        Duration::from_secs(60),
        "the notification at the webhook",
        || {
            webhook
                .bodies
                .lock()
                .unwrap()
                .iter()
                .find(|b| b.contains("InferenceHighErrorRatio"))
                .cloned()
        },
    );
    let note: serde_json::Value = serde_json::from_str(&body).unwrap();
    let alert = note["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "InferenceHighErrorRatio")
        .unwrap();
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["model"], "loan");
    assert!(alert["annotations"]["runbook"]
        .as_str()
        .unwrap()
        .contains("docs/alerts.md"));
}

/// Starts Prometheus scraping `targets` every second under job `loan_inference_service`.
fn prometheus_scraping(
    prometheus: &std::path::Path,
    targets: &[std::net::SocketAddr],
) -> stack::Process {
    let list = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loan_inference_service\n    metrics_path: /metrics\n    static_configs:\n      - targets: [{list}]\n"
    );
    stack::prometheus(prometheus, &config, &[])
}

/// Sends 3 approved, 2 rejected, 2 invalid and 1 injected model error to `server`.
fn known_traffic(server: std::net::SocketAddr) {
    let fault = [
        ("Content-Type", "application/json"),
        ("X-Inject-Fault", "model-error"),
    ];
    for _ in 0..3 {
        assert_eq!(post_json(server, "/predict", GOOD).status, 200);
    }
    for _ in 0..2 {
        assert_eq!(post_json(server, "/predict", RISKY).status, 200);
    }
    assert_eq!(
        post_json(server, "/predict", r#"{"applicant_income": 1}"#).status,
        422
    );
    assert_eq!(post_json(server, "/predict", "[").status, 400);
    assert_eq!(
        http(server, "POST", "/predict", &fault, GOOD.as_bytes()).status,
        500
    );
}

/// The scrape-and-count part against one example server.
fn scrape_and_count(example: &str) {
    let Some(prometheus) = stack::require("prometheus", "prometheus") else {
        return;
    };
    let server = start_example(example, &[("INJECT_FAULTS", "1")]);
    let prom = prometheus_scraping(&prometheus, &[server.addr]);
    let p = prom.addr;
    let total = r#"sum(inference_requests_total{job="loan_inference_service",model="loan"})"#;
    eventually(Duration::from_secs(30), "a first scrape at zero", || {
        (scalar(p, total) == Some(0.0)).then_some(())
    });
    known_traffic(server.addr);
    eventually(
        Duration::from_secs(30),
        &format!("{example}: all 8 requests in Prometheus"),
        || (scalar(p, total) == Some(8.0)).then_some(()),
    );
    let by = |o: &str| {
        scalar(
            p,
            &format!(r#"sum(inference_requests_total{{model="loan",outcome="{o}"}})"#),
        )
    };
    assert_eq!(by("success"), Some(5.0), "{example}");
    assert_eq!(by("client_error"), Some(2.0), "{example}");
    assert_eq!(by("server_error"), Some(1.0), "{example}");
    assert_eq!(by("cancelled"), Some(0.0), "{example}");
    assert_eq!(
        scalar(
            p,
            r#"sum(inference_predictions_total{model="loan",label="approved"})"#
        ),
        Some(3.0)
    );
    assert_eq!(
        scalar(
            p,
            r#"sum(inference_predictions_total{model="loan",label="rejected"})"#
        ),
        Some(2.0)
    );
    assert_eq!(
        scalar(
            p,
            r#"sum(inference_request_latency_seconds_count{model="loan"})"#
        ),
        Some(8.0)
    );
    assert_eq!(
        scalar(p, r#"sum(inference_inprogress_requests{model="loan"})"#),
        Some(0.0)
    );
}

#[test]
fn hyper_loan_scraped_by_prometheus_counts_exactly() {
    scrape_and_count("hyper_loan");
}

#[test]
fn two_replicas_sum_to_the_traffic_sent_to_both() {
    let Some(prometheus) = stack::require("prometheus", "prometheus") else {
        return;
    };
    let a = start_example("axum_loan", &[("INJECT_FAULTS", "1")]);
    let b = start_example("axum_loan", &[("INJECT_FAULTS", "1")]);
    let prom = prometheus_scraping(&prometheus, &[a.addr, b.addr]);
    let p = prom.addr;
    eventually(
        Duration::from_secs(30),
        "both replicas scraped at zero",
        || {
            (query(
                p,
                r#"inference_requests_total{model="loan",outcome="success"} == 0"#,
            )
            .len()
                == 2)
                .then_some(())
        },
    );
    known_traffic(a.addr);
    known_traffic(b.addr);
    known_traffic(b.addr);
    let total = r#"sum(inference_requests_total{model="loan"})"#;
    eventually(
        Duration::from_secs(30),
        "all 24 requests across both replicas",
        || (scalar(p, total) == Some(24.0)).then_some(()),
    );
    // Per replica and summed across replicas, by outcome — what the recording rules aggregate.
    let per_instance = query(
        p,
        r#"sum by (instance) (inference_requests_total{model="loan"})"#,
    );
    let mut counts: Vec<f64> = per_instance
        .iter()
        .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
        .collect();
    counts.sort_by(f64::total_cmp);
    assert_eq!(counts, [8.0, 16.0]);
    let by = |o: &str| {
        scalar(
            p,
            &format!(r#"sum by (model) (inference_requests_total{{model="loan",outcome="{o}"}})"#),
        )
    };
    assert_eq!(by("success"), Some(15.0));
    assert_eq!(by("client_error"), Some(6.0));
    assert_eq!(by("server_error"), Some(3.0));
    assert_eq!(
        scalar(
            p,
            r#"sum by (model) (inference_predictions_total{model="loan",label="approved"})"#
        ),
        Some(9.0)
    );
    assert_eq!(
        scalar(
            p,
            r#"sum by (model) (inference_request_latency_seconds_count{model="loan"})"#
        ),
        Some(24.0)
    );
    // A quantile from buckets summed across replicas is finite.
    let p95 = eventually(
        Duration::from_secs(20),
        "a finite cross-replica p95",
        || {
            scalar(p, r#"histogram_quantile(0.95, sum by (model, le) (rate(inference_request_latency_seconds_bucket{model="loan"}[1m])))"#)
            .filter(|v| v.is_finite())
        },
    );
    assert!(p95 > 0.0, "{p95}");
}

#[test]
fn actix_loan_scraped_by_prometheus_counts_exactly() {
    scrape_and_count("actix_loan");
}
