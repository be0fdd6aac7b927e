//! The exporter is pluggable: a recorder that is not Prometheus, installed globally, receives
//! exactly what the layer and the macro record. (Its own test binary: the global recorder is
//! process-wide.)

use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use inference_monitor::testing::TestRecorder;
use inference_monitor::{monitor, InferenceMonitorLayer, ModelMonitor, Prediction};
use tower::{service_fn, Layer, ServiceExt};

type Bytes = axum::body::Bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_non_prometheus_recorder_gets_every_value() {
    let recorder = TestRecorder::new();
    metrics::set_global_recorder(recorder.clone()).expect("no other global recorder");

    let svc =
        InferenceMonitorLayer::new("loan").layer(service_fn(|_req: Request<Full<Bytes>>| async {
            let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
            Prediction::new("approved").insert_into(&mut res);
            Ok::<_, Infallible>(res)
        }));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let res = svc
                .oneshot(Request::new(Full::new(Bytes::new())))
                .await
                .unwrap();
            res.into_body().collect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let batch = ModelMonitor::new("batch");
    for i in 0..7 {
        monitor!(
            batch,
            i * 2,
            label = |v| if v % 4 == 0 { "even" } else { "odd" }
        );
    }

    let success = [("model", "loan"), ("outcome", "success")];
    assert_eq!(
        recorder.counter("inference_requests_total", &success),
        Some(50)
    );
    assert_eq!(
        recorder
            .histogram("inference_request_latency_seconds", &success)
            .map(|h| h.len()),
        Some(50)
    );
    assert_eq!(
        recorder.counter(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(50)
    );
    assert_eq!(
        recorder.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
    assert_eq!(
        recorder.counter(
            "inference_requests_total",
            &[("model", "batch"), ("outcome", "success")]
        ),
        Some(7)
    );
    assert_eq!(
        recorder.counter(
            "inference_predictions_total",
            &[("model", "batch"), ("label", "even")]
        ),
        Some(4)
    );
    assert_eq!(
        recorder.counter(
            "inference_predictions_total",
            &[("model", "batch"), ("label", "odd")]
        ),
        Some(3)
    );
}
