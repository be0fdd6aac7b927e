//! Pushing to a Pushgateway: the real `prometheus-pushgateway` receives the exact values, and a
//! gateway that is down, hangs or refuses gives a typed error quickly instead of hanging.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::stack::{self, free_port, require};
use inference_monitor::{
    exporter::prometheus::{PushError, Pushgateway},
    monitor, Monitor,
};

/// A monitor with three successes and one failure of model `batch`, recorded into its own
/// Prometheus recorder.
fn batch_metrics() -> inference_monitor::MetricsHandle {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        let monitor = Monitor::builder().labels(["approved"]).build().unwrap();
        let model = monitor.model("batch");
        for i in 0..4 {
            let _ = monitor!(
                model,
                if i < 3 {
                    Ok("approved")
                } else {
                    Err("bad row")
                },
                label = |r: &Result<&str, &str>| r.ok()
            );
        }
    });
    metrics
}

#[test]
fn the_real_pushgateway_receives_the_exact_values() {
    let Some(binary) = require("prometheus-pushgateway", "prometheus-pushgateway") else {
        return;
    };
    let gateway_process = stack::pushgateway(&binary);
    let addr = gateway_process.addr;

    let metrics = batch_metrics();
    let gateway = Pushgateway::new(addr.to_string(), "loan/batch").grouping("shard", "3");
    metrics.push(&gateway).expect("push");

    let text = common::http(addr, "GET", "/metrics", &[], b"").body;
    let exposition = common::Exposition::parse(&text);
    let group = [("job", "loan/batch"), ("shard", "3"), ("model", "batch")];
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = group.to_vec();
        labels.push(extra);
        labels
    };
    assert_eq!(
        exposition.value("inference_requests_total", &with(("outcome", "success"))),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        exposition.value(
            "inference_requests_total",
            &with(("outcome", "server_error"))
        ),
        Some(1.0)
    );
    assert_eq!(
        exposition.value("inference_predictions_total", &with(("label", "approved"))),
        Some(3.0)
    );
    assert_eq!(
        exposition.value(
            "inference_request_latency_seconds_count",
            &with(("outcome", "success"))
        ),
        Some(3.0)
    );
    drop(gateway_process);
}

/// The suite's gateway keeps what it receives in memory only: nothing is left on the machine.
#[test]
fn the_test_pushgateway_persists_nothing() {
    let Some(binary) = require("prometheus-pushgateway", "prometheus-pushgateway") else {
        return;
    };
    let gateway = stack::pushgateway(&binary);
    let status = common::http(gateway.addr, "GET", "/api/v1/status", &[], b"");
    assert_eq!(status.status, 200, "{}", status.body);
    let flags = &status.json()["data"]["flags"];
    assert_eq!(flags["persistence.file"], "", "{flags}");
}

#[test]
fn a_gateway_that_is_down_is_a_connect_error_at_once() {
    // `free_port` bound the port and let it go: nothing listens on `addr`.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let started = Instant::now();
    let error = batch_metrics()
        .push(&Pushgateway::new(addr.to_string(), "batch"))
        .unwrap_err();
    assert!(matches!(error, PushError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_gateway_that_hangs_is_a_timeout_not_a_hang() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and reads, never answers.
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    });
    let started = Instant::now();
    let error = batch_metrics()
        .push(&Pushgateway::new(addr.to_string(), "batch").timeout(Duration::from_millis(300)))
        .unwrap_err();
    assert!(matches!(error, PushError::TimedOut { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(server);
}

#[test]
fn a_refusal_carries_the_status_and_message_and_the_request_is_a_put_of_the_text() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 65536];
        // Read the head and the body announced by content-length.
        loop {
            let n = stream.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() >= length {
                    break;
                }
            }
            assert!(n > 0, "the request ended early");
        }
        stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 21\r\nconnection: close\r\n\r\ninvalid metric family")
            .unwrap();
        String::from_utf8(request).unwrap()
    });
    let metrics = batch_metrics();
    let error = metrics
        .push(&Pushgateway::new(addr.to_string(), "batch"))
        .unwrap_err();
    match &error {
        PushError::Rejected { status, message } => {
            assert_eq!(*status, 400);
            assert_eq!(message, "invalid metric family");
        }
        other => panic!("{other:?}"),
    }
    let request = server.join().unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("PUT /metrics/job@base64/YmF0Y2g HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    // Valid text format (the shared strict parser panics otherwise), and the same text as a
    // render (the exporter's counters come in no fixed order).
    common::Exposition::parse(body);
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(body), sorted(&metrics.render()));
}
