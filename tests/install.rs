//! Installing the global Prometheus recorder: once works and serves what the layer records;
//! a second install is a typed error, not a panic. (Its own test binary: the global recorder
//! is process-wide.)

mod common;

use inference_monitor::{monitor, prometheus, ExporterError, ModelMonitor};

#[test]
fn install_once_then_a_typed_error() {
    // Built before anything is installed: bound to the no-op recorder until a request meets
    // the installed one, then recorded like any other model.
    let early = ModelMonitor::new("early");
    let early_custom = inference_monitor::Monitor::builder()
        .prefix("early")
        .buckets(&[0.25, 0.5])
        .unwrap()
        .build()
        .unwrap()
        .model("early");
    early
        .start()
        .finish(inference_monitor::Outcome::ClientError);
    let handle = prometheus()
        .with_process_metrics()
        .install()
        .expect("first install");
    let loan = ModelMonitor::new("loan");
    // Installed globally, the crate's recorder is the one in effect: the model takes its
    // direct path (latency in nanoseconds, in progress read at render).
    assert!(
        format!("{loan:?}").contains("records_directly: true"),
        "{loan:?}"
    );
    let held = loan.start();
    let m = common::Exposition::parse(&handle.render());
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(1.0)
    );
    held.finish(inference_monitor::Outcome::ClientError);
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

    // Process metrics, collected at render.
    let rss = m
        .value("process_resident_memory_bytes", &[])
        .expect("resident memory");
    assert!(rss > 1_000_000.0, "{rss}");
    let fds = m.value("process_open_fds", &[]).expect("open fds");
    assert!(fds >= 3.0, "{fds}");
    let start = m
        .value("process_start_time_seconds", &[])
        .expect("start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(start <= now && start > now - 3600.0, "{start} vs {now}");
    assert!(m.value("process_cpu_seconds_total", &[]).is_some());
    assert_eq!(
        m.types
            .get("process_resident_memory_bytes")
            .map(String::as_str),
        Some("gauge")
    );

    for _ in 0..3 {
        let mut request = early.start();
        request.predicted("approved");
        request.finish(inference_monitor::Outcome::Success);
    }
    early_custom
        .start()
        .finish(inference_monitor::Outcome::Success);
    assert!(
        format!("{:?}", ModelMonitor::new("early")).contains("records_directly: true"),
        "the same model built after the install is registered directly"
    );
    let text = handle.render();
    let m = common::Exposition::parse(&text);
    let early_success = [("model", "early"), ("outcome", "success")];
    assert_eq!(
        m.value("inference_requests_total", &early_success),
        Some(3.0)
    );
    assert_eq!(
        m.value("inference_request_latency_seconds_count", &early_success),
        Some(3.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "early"), ("label", "approved")]
        ),
        Some(1.0 * 3.0)
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "early")]),
        Some(0.0)
    );
    // The request made before the install went nowhere: there was nothing to record it.
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "early"), ("outcome", "client_error")]
        ),
        Some(0.0)
    );
    // The custom monitor's buckets, learned when its model bound to the exporter.
    assert!(
        text.contains(
            "early_inference_request_latency_seconds_bucket{model=\"early\",outcome=\"success\",le=\"0.25\"} "
        ),
        "{text}"
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
