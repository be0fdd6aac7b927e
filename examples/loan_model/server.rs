//! Start-up shared by the example servers: the listen address, the monitor and exporter, and
//! the banner, so the three servers start and introduce themselves the same way.

use std::net::SocketAddr;

use inference_monitor::{MetricsHandle, Monitor};

use super::{api, LABELS};

/// A sample request body, as in the banner's `curl` lines.
pub const SAMPLE: &str = r#"{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}"#;

/// The address from `ADDR`, or `127.0.0.1:8000` (the seed's scrape target; loopback only).
pub fn addr_from_env() -> Result<SocketAddr, String> {
    std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8000".to_owned())
        .parse()
        .map_err(|e| format!("ADDR must be an address like 127.0.0.1:8000: {e}"))
}

/// The monitor (with the model's two classes declared, so their series start at 0) and the
/// installed Prometheus exporter, with process metrics.
pub fn install_monitoring() -> Result<(Monitor, MetricsHandle), Box<dyn std::error::Error>> {
    let monitor = Monitor::builder().labels(LABELS).build()?;
    let metrics = inference_monitor::prometheus()
        .monitor(&monitor)
        .with_process_metrics()
        .install()?;
    Ok((monitor, metrics))
}

/// Prints the start-up banner of `example` listening on `local`; `extra` lines go after the
/// `predict` line. The `listening on` line comes last: scripts and tests wait for it.
pub fn print_banner(example: &str, what: &str, local: SocketAddr, extra: &[String]) {
    println!("{example}: {what}, monitored by inference-monitor");
    println!(
        "  predict: curl -s http://{local}/predict -H 'content-type: application/json' -d '{SAMPLE}'"
    );
    for line in extra {
        println!("  {line}");
    }
    println!("  metrics: curl -s http://{local}/metrics");
    println!("  health:  curl -s http://{local}/healthz");
    println!(
        "  faults:  {} (INJECT_FAULTS=1 makes requests with header '{}: model-error' fail with 500)",
        if api::faults_enabled() { "on" } else { "off" },
        api::FAULT_HEADER
    );
    println!("  stop:    Ctrl-C (in-flight requests finish first)");
    println!("{example} listening on http://{local}");
}
