//! Installing the global Prometheus recorder: once works and serves what the layer records;
//! a second install is a typed error, not a panic. (Its own test binary: the global recorder
//! is process-wide.)

mod common;

use inference_monitor::{monitor, prometheus, ExporterError, ModelMonitor};

#[test]
fn install_once_then_a_typed_error() {
    let handle = prometheus().install().expect("first install");
    let loan = ModelMonitor::new("loan");
    for _ in 0..2 {
        monitor!(loan, 1 + 1, label = |_| "approved");
    }
    let m = common::Exposition::parse(&handle.render());
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(2.0)
    );
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_count",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(2.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(2.0)
    );

    let err = prometheus().install().unwrap_err();
    assert!(matches!(err, ExporterError::AlreadyInstalled), "{err}");
    assert!(err.to_string().contains("already installed"));
    // The first recorder is still the one in use.
    monitor!(loan, 3);
    let m = common::Exposition::parse(&handle.render());
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(3.0)
    );
}
