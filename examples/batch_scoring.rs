//! A batch job: scores a file of loan applications with the `monitor!` macro and pushes its
//! metrics to a Prometheus Pushgateway when it ends — also when it fails part-way.
//!
//! A batch job ends before Prometheus would scrape it, so it pushes instead: once, at the end,
//! whatever the end. Run it:
//!
//! ```sh
//! cargo run --example batch_scoring -- applications.jsonl        # prints the metrics instead
//! prometheus-pushgateway --web.listen-address=127.0.0.1:9091 &
//! PUSHGATEWAY=127.0.0.1:9091 cargo run --example batch_scoring -- applications.jsonl
//! curl -s 127.0.0.1:9091/metrics | grep inference_
//! ```
//!
//! The input holds one JSON application per line (the body of `axum_loan`'s `/predict`; blank
//! lines are skipped). For each line it prints `line,label,probability` on standard output.
//!
//! * A line that is JSON but not a valid application is counted as `client_error`, reported on
//!   standard error, and the job goes on.
//! * A line that is not JSON at all means the file is damaged (truncated, another format): it
//!   is counted as `client_error` too, and the job stops there rather than score the rest of a
//!   damaged file. It pushes what it did and exits with status 1.
//! * An unreadable file exits with status 1, after pushing (the model's info and load time, no
//!   request).
//! * A push that fails exits with status 2 (or stays 1 if the job had failed).
//!
//! Environment: `PUSHGATEWAY` (`host:port`; unset: print the metrics), `JOB` (the Pushgateway
//! job, default `loan_batch_scoring`).
//!
//! Each application is one monitored request of model `loan`, with its predicted label, its
//! confidence (`inference_prediction_confidence`) and the time of its preprocess and predict
//! stages (`inference_stage_duration_seconds`); `inference_model_info` names the model version.

#[path = "loan_model/mod.rs"]
mod loan_model;

use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::time::Instant;

use inference_monitor::{
    exporter::prometheus::Pushgateway, monitor, MetricsHandle, ModelMonitor, Monitor, Outcome,
    Signal, Stage,
};
use serde_json::Value;

use loan_model::{Decision, LoanApplication, LoanModel, LABELS};

/// Why one line was not scored.
#[derive(Debug)]
enum LineError {
    /// JSON, but not a valid application: skip it.
    Invalid(String),
    /// Not JSON: the file is damaged, stop.
    Damaged(String),
}

/// Scores one line, timing its stages on `loan`.
fn score(model: &LoanModel, loan: &ModelMonitor, line: &str) -> Result<Decision, LineError> {
    let signals = loan.signals();
    let application = {
        let _preprocess = signals.time(Stage::Preprocess);
        let value: Value =
            serde_json::from_str(line).map_err(|e| LineError::Damaged(e.to_string()))?;
        LoanApplication::from_json(&value).map_err(|e| LineError::Invalid(e.to_string()))?
    };
    let _predict = signals.time(Stage::Predict);
    Ok(model.predict(&application))
}

/// Scores every line of the file at `path`: `Err` when the job must stop.
fn run(path: &str, model: &LoanModel, loan: &ModelMonitor) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut out = std::io::stdout().lock();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("cannot read line {number} of {path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let scored = monitor!(
            loan,
            score(model, loan, &line),
            label = |r: &Result<Decision, LineError>| r.as_ref().ok().map(|d| d.label),
            confidence =
                |r: &Result<Decision, LineError>| r.as_ref().ok().map(Decision::confidence),
            outcome = |r: &Result<Decision, LineError>| match r {
                Ok(_) => Outcome::Success,
                Err(_) => Outcome::ClientError,
            }
        );
        match scored {
            Ok(decision) => {
                let _ = writeln!(out, "{number},{},{}", decision.label, decision.probability);
            }
            Err(LineError::Invalid(why)) => eprintln!("line {number} skipped: {why}"),
            Err(LineError::Damaged(why)) => {
                return Err(format!(
                    "line {number} is not JSON ({why}): the file is damaged, stopping"
                ))
            }
        }
    }
    Ok(())
}

/// Pushes the metrics to `PUSHGATEWAY` as `JOB`, or prints them when no gateway is set.
fn push(metrics: &MetricsHandle) -> Result<(), String> {
    let Ok(address) = std::env::var("PUSHGATEWAY") else {
        println!(
            "PUSHGATEWAY is not set; the metrics were:\n{}",
            metrics.render()
        );
        return Ok(());
    };
    let job = std::env::var("JOB").unwrap_or_else(|_| "loan_batch_scoring".to_owned());
    metrics
        .push(&Pushgateway::new(address.as_str(), job.as_str()))
        .map_err(|e| format!("metrics not pushed to {address}: {e}"))
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: batch_scoring APPLICATIONS.jsonl  (one JSON application per line)");
        return ExitCode::from(64);
    };
    let monitor = match Monitor::builder()
        .labels(LABELS)
        .signals([Signal::Stages, Signal::Confidence])
        .build()
    {
        Ok(monitor) => monitor,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = match inference_monitor::prometheus().monitor(&monitor).install() {
        Ok(metrics) => metrics,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let loading = Instant::now();
    let model = LoanModel::load();
    let loan = monitor.model("loan");
    loan.loaded_in(loading.elapsed());
    loan.info(model.version());

    // Push whatever happened: the end of a job that failed part-way is worth seeing too.
    let job = run(&path, &model, &loan);
    let pushed = push(&metrics);
    if let Err(why) = &job {
        eprintln!("batch_scoring failed: {why}");
    }
    if let Err(why) = &pushed {
        eprintln!("{why}");
    }
    match (job, pushed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(_), _) => ExitCode::FAILURE,
        (Ok(()), Err(_)) => ExitCode::from(2),
    }
}
