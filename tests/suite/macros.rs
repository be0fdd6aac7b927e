//! `monitor!` and the function API it stands on: sync, async, Result-aware, labels, classifiers.

use std::sync::LazyLock;

use inference_monitor::testing::TestRecorder;
use inference_monitor::{monitor, ModelMonitor, Monitor, Outcome};

use crate::common::recorded::{latency_count, predictions, requests};

// A user's own `metrics` module in scope must not break the macro.
#[allow(dead_code)]
mod metrics {
    pub fn counter() {}
}

#[derive(Debug, Clone, PartialEq)]
struct Decision {
    label: &'static str,
    probability: f64,
}

fn predict(income: f64) -> Decision {
    let probability = (income / 10_000.0).clamp(0.0, 1.0);
    Decision {
        label: if probability >= 0.5 {
            "approved"
        } else {
            "rejected"
        },
        probability,
    }
}

fn try_predict(income: f64) -> Result<Decision, String> {
    if income < 0.0 {
        Err("negative income".into())
    } else {
        Ok(predict(income))
    }
}

#[test]
fn sync_calls_record_outcome_latency_and_label() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");

    let d = monitor!(loan, predict(8_000.0), label = |d| d.label);
    assert_eq!(d.label, "approved");
    let d = monitor!(
        &loan,
        predict(1_000.0),
        label = |d: &Decision| d.label.to_string()
    );
    assert_eq!(d.label, "rejected");
    let plain = monitor!(loan, 40 + 2);
    assert_eq!(plain, 42);

    assert_eq!(requests(&rec, "loan", "success"), Some(3));
    assert_eq!(latency_count(&rec, "loan", "success"), Some(3));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(1));
    assert_eq!(predictions(&rec, "loan", "rejected"), Some(1));
    assert_eq!(
        rec.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

#[test]
fn results_are_recognised_err_is_a_server_error() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");

    let ok = monitor!(
        loan,
        try_predict(9_000.0),
        label = |r| r.as_ref().ok().map(|d| d.label)
    );
    assert!(ok.is_ok());
    let err = monitor!(
        loan,
        try_predict(-5.0),
        label = |r| r.as_ref().ok().map(|d| d.label)
    );
    assert_eq!(err, Err("negative income".to_string()));

    assert_eq!(requests(&rec, "loan", "success"), Some(1));
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(1));
    assert_eq!(
        rec.counter_sum("inference_predictions_total", &[("model", "loan")]),
        1
    );
}

#[test]
fn a_classifier_overrides_the_outcome() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");
    // Invalid input is the caller's fault: client_error.
    let r = monitor!(
        loan,
        try_predict(-1.0),
        outcome = |r| match r {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::ClientError,
        }
    );
    assert!(r.is_err());
    let _ = monitor!(
        loan,
        predict(7_000.0),
        label = |d| d.label,
        outcome = |d| {
            if d.probability > 0.6 {
                Outcome::Success
            } else {
                Outcome::ServerError
            }
        }
    );
    assert_eq!(requests(&rec, "loan", "client_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "success"), Some(1));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(1));
}

#[test]
fn a_panicking_call_is_a_server_error_and_keeps_unwinding() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        monitor!(loan, {
            if loan.name() == "loan" {
                panic!("weights missing");
            }
            1
        })
    }));
    assert!(caught.is_err());
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(0));
    assert_eq!(
        rec.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn async_blocks_are_awaited_and_recorded() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");
    let income = 6_000.0;

    let d = monitor!(loan, async { predict(income) }, label = |d| d.label).await;
    assert_eq!(d.label, "approved");
    let r = monitor!(loan, async move { try_predict(-income) }).await;
    assert!(r.is_err());
    // `income` was only borrowed by the first block.
    assert_eq!(income, 6_000.0);

    assert_eq!(requests(&rec, "loan", "success"), Some(1));
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(1));
}

#[tokio::test]
async fn an_async_call_dropped_before_completion_is_cancelled() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");
    let fut = monitor!(loan, async {
        std::future::pending::<()>().await;
        1
    });
    assert_eq!(
        rec.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(1.0)
    );
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(1), fut).await;
    assert!(timed_out.is_err());
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(1));
    assert_eq!(
        rec.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

static STATIC_MODEL: LazyLock<ModelMonitor> = LazyLock::new(|| ModelMonitor::new("static"));

#[test]
fn a_static_lazy_monitor_and_a_literal_name_work() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    for _ in 0..3 {
        monitor!(STATIC_MODEL, predict(5_000.0), label = |d| d.label);
        monitor!("literal", predict(100.0), label = |d| d.label);
    }
    assert_eq!(requests(&rec, "static", "success"), Some(3));
    assert_eq!(requests(&rec, "literal", "success"), Some(3));
    assert_eq!(predictions(&rec, "literal", "rejected"), Some(3));
}

#[test]
fn the_function_api_does_the_same_without_the_macro() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::builder()
        .labels(["approved", "rejected"])
        .build()
        .unwrap();
    let loan = monitor.model("loan");
    assert_eq!(predictions(&rec, "loan", "rejected"), Some(0));

    let d = loan.observe(
        || predict(9_500.0),
        |d, mut request| {
            request.predicted(d.label);
            request.finish(Outcome::Success);
        },
    );
    assert_eq!(d.label, "approved");

    let mut request = loan.start();
    request.predicted("rejected");
    assert!(request.elapsed() < std::time::Duration::from_secs(60));
    request.finish(Outcome::ClientError);

    assert_eq!(requests(&rec, "loan", "success"), Some(1));
    assert_eq!(requests(&rec, "loan", "client_error"), Some(1));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(1));
    assert_eq!(predictions(&rec, "loan", "rejected"), Some(1));
}

#[tokio::test]
async fn observe_future_reports_the_output() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");
    let out = loan
        .observe_future(async { try_predict(-1.0) }, |r, request| {
            request.finish(Outcome::of_result(r));
        })
        .await;
    assert!(out.is_err());
    let pending = loan.observe_future(std::future::pending::<u8>(), |_, r| {
        r.finish(Outcome::Success);
    });
    drop(pending);
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(1));
    assert_eq!(requests(&rec, "loan", "success"), Some(0));
}

/// A panic in the monitored future's poll is `server_error` even when whoever catches it keeps
/// the future and drops it only after the unwind (as tower-http's `CatchPanic` does), when
/// nothing shows a panic any more.
#[test]
fn an_async_call_panicking_in_poll_is_a_server_error_even_if_dropped_later() {
    use std::future::Future;
    use std::task::{Context, Waker};

    let rec = TestRecorder::new();
    let _local = rec.local();
    let loan = ModelMonitor::new("loan");
    let mut future = Box::pin(monitor!(loan, async {
        if std::hint::black_box(true) {
            panic!("the model failed");
        }
        1
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = future.as_mut().poll(&mut cx);
    }));
    assert!(caught.is_err());
    // Recorded while unwinding, before the future is dropped.
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    drop(future);
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(0));
    assert_eq!(
        rec.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}
