//! End to end: the `batch_scoring` example scores a file of applications and pushes to the real
//! `prometheus-pushgateway`, which then holds the exact counts, both after a job that succeeds
//! and after one that fails part-way (it exits non-zero and has pushed all the same).

use crate::common;

use std::process::{Command, Output};

use common::loan_api::{GOOD, RISKY};
use common::stack::{pushgateway, require, TempDir};
use common::Exposition;

/// Runs the example on `lines` (written to a file), pushing to `gateway` as `job`.
fn run_job(gateway: std::net::SocketAddr, job: &str, lines: &[&str]) -> Output {
    let dir = TempDir::new("batch-scoring");
    let input = dir.path().join("applications.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    Command::new(common::example_path("batch_scoring"))
        .arg(&input)
        .env("PUSHGATEWAY", gateway.to_string())
        .env("JOB", job)
        .output()
        .expect("run batch_scoring")
}

/// What the gateway holds for `job`.
struct Pushed {
    exposition: Exposition,
    job: String,
}

impl Pushed {
    fn fetch(gateway: std::net::SocketAddr, job: &str) -> Self {
        let text = common::http(gateway, "GET", "/metrics", &[], b"").body;
        Self {
            exposition: Exposition::parse(&text),
            job: job.to_owned(),
        }
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut all = vec![("job", self.job.as_str()), ("model", "loan")];
        all.extend_from_slice(labels);
        self.exposition.value(name, &all)
    }

    fn requests(&self, outcome: &str) -> Option<f64> {
        self.value("inference_requests_total", &[("outcome", outcome)])
    }

    fn predictions(&self, label: &str) -> Option<f64> {
        self.value("inference_predictions_total", &[("label", label)])
    }

    fn stage_count(&self, stage: &str) -> Option<f64> {
        self.value(
            "inference_stage_duration_seconds_count",
            &[("stage", stage)],
        )
    }
}

const INVALID: &str = r#"{"applicant_income": 5000}"#;

#[test]
fn the_gateway_holds_the_exact_counts_of_a_job_that_succeeds_and_of_one_that_fails() {
    let Some(binary) = require("prometheus-pushgateway", "prometheus-pushgateway") else {
        return;
    };
    let gateway = pushgateway(&binary);

    // Four applications and one invalid line: the job goes on, and succeeds.
    let ok = run_job(
        gateway.addr,
        "scoring_ok",
        &[GOOD, RISKY, INVALID, "", GOOD, RISKY],
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{stdout}\n{stderr}");
    let scored: Vec<&str> = stdout.lines().collect();
    assert_eq!(scored.len(), 4, "{stdout}");
    assert!(scored[0].starts_with("1,approved,"), "{stdout}");
    assert!(scored[1].starts_with("2,rejected,"), "{stdout}");
    assert!(scored[2].starts_with("5,approved,"), "{stdout}");
    assert!(stderr.contains("line 3 skipped"), "{stderr}");

    let pushed = Pushed::fetch(gateway.addr, "scoring_ok");
    assert_eq!(pushed.requests("success"), Some(4.0));
    assert_eq!(pushed.requests("client_error"), Some(1.0));
    assert_eq!(pushed.requests("server_error"), Some(0.0));
    assert_eq!(pushed.requests("cancelled"), Some(0.0));
    assert_eq!(pushed.predictions("approved"), Some(2.0));
    assert_eq!(pushed.predictions("rejected"), Some(2.0));
    assert_eq!(
        pushed.value(
            "inference_request_latency_seconds_count",
            &[("outcome", "success")]
        ),
        Some(4.0)
    );
    assert_eq!(pushed.stage_count("preprocess"), Some(5.0));
    assert_eq!(pushed.stage_count("predict"), Some(4.0));
    assert_eq!(pushed.stage_count("queue"), Some(0.0));
    assert_eq!(
        pushed.value("inference_prediction_confidence_count", &[]),
        Some(4.0)
    );
    assert_eq!(
        pushed.value("inference_prediction_confidence_bucket", &[("le", "0.4")]),
        Some(0.0)
    );
    assert_eq!(
        pushed.value("inference_model_info", &[("version", "logreg-v1")]),
        Some(1.0)
    );
    assert_eq!(
        pushed.value("inference_inprogress_requests", &[]),
        Some(0.0)
    );

    // A damaged line stops the job after two applications and the invalid one: exit 1, and
    // what it did is pushed.
    let failed = run_job(
        gateway.addr,
        "scoring_failed",
        &[
            GOOD,
            INVALID,
            RISKY,
            "{\"applicant_income\": 50",
            GOOD,
            GOOD,
        ],
    );
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stderr.contains("line 4 is not JSON") && stderr.contains("stopping"),
        "{stderr}"
    );
    let pushed = Pushed::fetch(gateway.addr, "scoring_failed");
    assert_eq!(pushed.requests("success"), Some(2.0));
    assert_eq!(pushed.requests("client_error"), Some(2.0));
    assert_eq!(pushed.predictions("approved"), Some(1.0));
    assert_eq!(pushed.predictions("rejected"), Some(1.0));
    assert_eq!(pushed.stage_count("preprocess"), Some(4.0));
    assert_eq!(pushed.stage_count("predict"), Some(2.0));

    // The first job's group is untouched by the second.
    let first = Pushed::fetch(gateway.addr, "scoring_ok");
    assert_eq!(first.requests("success"), Some(4.0));

    // A file that cannot be read: exit 1, and the push still happens (no request in it).
    let dir = TempDir::new("batch-scoring-missing");
    let missing = Command::new(common::example_path("batch_scoring"))
        .arg(dir.path().join("no-such-file.jsonl"))
        .env("PUSHGATEWAY", gateway.addr.to_string())
        .env("JOB", "scoring_missing")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let pushed = Pushed::fetch(gateway.addr, "scoring_missing");
    assert_eq!(pushed.requests("success"), Some(0.0));
    assert_eq!(
        pushed.value("inference_model_info", &[("version", "logreg-v1")]),
        Some(1.0)
    );
}

#[test]
fn a_gateway_that_is_down_fails_the_job_with_status_2() {
    let port = common::stack::free_port();
    let dir = TempDir::new("batch-scoring-down");
    let input = dir.path().join("applications.jsonl");
    std::fs::write(&input, format!("{GOOD}\n")).unwrap();
    let out = Command::new(common::example_path("batch_scoring"))
        .arg(&input)
        .env("PUSHGATEWAY", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("metrics not pushed"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
