//! The exporter is pluggable end to end: the same traffic through `InferenceMonitorLayer`,
//! recorded once by the Prometheus exporter and once by the OTLP exporter (feature `otlp`),
//! gives the same exact values. The OTLP payloads are received by a plain HTTP server on
//! loopback and decoded from protobuf here, as a collector would.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::by_hand::{call, drain, noop_waker, now};
use common::Exposition;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use inference_monitor::{exporter::otlp::OtlpError, InferenceMonitorLayer, Monitor, Prediction};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality};
use prost::Message;
use tower::{service_fn, Layer, Service};

type Bytes = axum::body::Bytes;

/// Buckets far above any latency of these tests, so every sample lands in the first one and the
/// bucket counts are exact, whatever the machine's speed.
const BUCKETS: [f64; 2] = [60.0, 120.0];

/// The traffic: `(status, predicted label)`, then one request cancelled before its answer.
const TRAFFIC: [(u16, Option<&str>); 6] = [
    (200, Some("approved")),
    (200, Some("approved")),
    (200, Some("rejected")),
    (422, None),
    (422, None),
    (500, None),
];

fn monitor() -> Monitor {
    Monitor::builder()
        .buckets(&BUCKETS)
        .unwrap()
        .labels(["approved", "rejected"])
        .build()
        .unwrap()
}

/// Sends [`TRAFFIC`] through the layer for model `loan` of `monitor`.
fn send_traffic(monitor: &Monitor) {
    let waker = noop_waker();
    let inner = service_fn(|request: Request<()>| {
        let (status, label) = *request.extensions().get::<(u16, Option<&str>)>().unwrap();
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        if let Some(label) = label {
            Prediction::new(label.to_owned()).insert_into(&mut response);
        }
        std::future::ready(Ok::<_, std::convert::Infallible>(response))
    });
    let mut service = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(inner);
    for step in TRAFFIC {
        let mut request = Request::new(());
        request.extensions_mut().insert(step);
        drain(call(&mut service, request, &waker).into_body(), &waker);
    }
    now(std::future::poll_fn(|cx| service.poll_ready(cx)), &waker).unwrap();
    let mut request = Request::new(());
    request.extensions_mut().insert((200u16, None::<&str>));
    drop(service.call(request)); // the client went away before the answer
}

/// What both exporters must show, by outcome: requests and latency samples.
const EXPECTED_REQUESTS: [(&str, u64); 4] = [
    ("success", 3),
    ("client_error", 2),
    ("server_error", 1),
    ("cancelled", 1),
];
const EXPECTED_PREDICTIONS: [(&str, u64); 2] = [("approved", 2), ("rejected", 1)];

/// A one-connection-at-a-time HTTP server that answers 200 and hands each request body over.
fn collector() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            if tx.send((head, body)).is_err() {
                return;
            }
        }
    });
    (endpoint, rx)
}

fn attributes(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// One data point of the decoded payload, flattened: metric name, attributes, and its values.
#[derive(Debug, Clone)]
enum Point {
    Sum(f64),
    Gauge(f64),
    Histogram {
        count: u64,
        bounds: Vec<f64>,
        buckets: Vec<u64>,
    },
}

fn points(request: &ExportMetricsServiceRequest) -> Vec<(String, BTreeMap<String, String>, Point)> {
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsDouble(d)) => *d,
        #[allow(clippy::cast_precision_loss)]
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        None => f64::NAN,
    };
    let mut out = Vec::new();
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                match &m.data {
                    Some(metric::Data::Sum(sum)) => {
                        assert!(sum.is_monotonic, "{} is a monotonic sum", m.name);
                        assert_eq!(
                            sum.aggregation_temporality,
                            AggregationTemporality::Cumulative as i32,
                            "{} is cumulative, as Prometheus counters are",
                            m.name
                        );
                        for p in &sum.data_points {
                            out.push((
                                m.name.clone(),
                                attributes(&p.attributes),
                                Point::Sum(number(&p.value)),
                            ));
                        }
                    }
                    Some(metric::Data::Gauge(gauge)) => {
                        for p in &gauge.data_points {
                            out.push((
                                m.name.clone(),
                                attributes(&p.attributes),
                                Point::Gauge(number(&p.value)),
                            ));
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            out.push((
                                m.name.clone(),
                                attributes(&p.attributes),
                                Point::Histogram {
                                    count: p.count,
                                    bounds: p.explicit_bounds.clone(),
                                    buckets: p.bucket_counts.clone(),
                                },
                            ));
                        }
                    }
                    other => panic!("unexpected data for {}: {other:?}", m.name),
                }
            }
        }
    }
    out
}

fn find<'a>(
    points: &'a [(String, BTreeMap<String, String>, Point)],
    name: &str,
    labels: &[(&str, &str)],
) -> &'a Point {
    let found: Vec<_> = points
        .iter()
        .filter(|(n, attrs, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| attrs.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    &found[0].2
}

#[test]
fn otlp_export_shows_exactly_what_prometheus_shows() {
    // Prometheus.
    let monitor_p = monitor();
    let (recorder, handle) = inference_monitor::prometheus()
        .monitor(&monitor_p)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || send_traffic(&monitor_p));
    let text = Exposition::parse(&handle.render());

    // OTLP, to the loopback collector.
    let (endpoint, received) = collector();
    let monitor_o = monitor();
    let (recorder, otlp) = inference_monitor::otlp(&endpoint)
        .monitor(&monitor_o)
        .service_name("loan-api")
        .interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || send_traffic(&monitor_o));
    otlp.flush().unwrap();
    let (head, body) = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(head.starts_with("POST /v1/metrics HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{head}"
    );
    let request = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
    let service = request.resource_metrics[0]
        .resource
        .as_ref()
        .map(|r| attributes(&r.attributes))
        .unwrap_or_default();
    assert_eq!(
        service.get("service.name").map(String::as_str),
        Some("loan-api")
    );
    let decoded = points(&request);

    for (outcome, expected) in EXPECTED_REQUESTS {
        let labels = [("model", "loan"), ("outcome", outcome)];
        let prometheus = text.value("inference_requests_total", &labels);
        #[allow(clippy::cast_precision_loss)]
        let expected_f = expected as f64;
        assert_eq!(prometheus, Some(expected_f), "prometheus {outcome}");
        let Point::Sum(otlp_value) = find(&decoded, "inference_requests_total", &labels) else {
            panic!("inference_requests_total is a sum");
        };
        assert_eq!(*otlp_value, expected_f, "otlp {outcome}");

        // Latency: the same count, every sample in the first bucket, the same bounds.
        let Point::Histogram {
            count,
            bounds,
            buckets,
        } = find(&decoded, "inference_request_latency_seconds", &labels)
        else {
            panic!("the latency is a histogram");
        };
        assert_eq!(*count, expected, "otlp latency count {outcome}");
        assert_eq!(bounds, &BUCKETS.to_vec());
        assert_eq!(buckets, &vec![expected, 0, 0], "otlp buckets {outcome}");
        assert_eq!(
            text.value("inference_request_latency_seconds_count", &labels),
            Some(expected_f)
        );
        for (le, cumulative) in [("60", expected), ("120", expected), ("+Inf", expected)] {
            let mut with_le = labels.to_vec();
            with_le.push(("le", le));
            #[allow(clippy::cast_precision_loss)]
            let cumulative = cumulative as f64;
            assert_eq!(
                text.value("inference_request_latency_seconds_bucket", &with_le),
                Some(cumulative),
                "prometheus bucket {le} {outcome}"
            );
        }
    }
    for (label, expected) in EXPECTED_PREDICTIONS {
        let labels = [("model", "loan"), ("label", label)];
        #[allow(clippy::cast_precision_loss)]
        let expected = expected as f64;
        assert_eq!(
            text.value("inference_predictions_total", &labels),
            Some(expected)
        );
        let Point::Sum(otlp_value) = find(&decoded, "inference_predictions_total", &labels) else {
            panic!("inference_predictions_total is a sum");
        };
        assert_eq!(*otlp_value, expected, "otlp predictions {label}");
    }
    let labels = [("model", "loan")];
    assert_eq!(
        text.value("inference_inprogress_requests", &labels),
        Some(0.0)
    );
    let Point::Gauge(inprogress) = find(&decoded, "inference_inprogress_requests", &labels) else {
        panic!("inference_inprogress_requests is a gauge");
    };
    assert_eq!(*inprogress, 0.0);

    // Shutting down exports a last time; a second shutdown is an error, not a hang.
    otlp.shutdown().unwrap();
    let (_, last) = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let last = points(&ExportMetricsServiceRequest::decode(last.as_slice()).unwrap());
    let success = [("model", "loan"), ("outcome", "success")];
    assert!(matches!(
        find(&last, "inference_requests_total", &success),
        Point::Sum(v) if *v == 3.0
    ));
    assert!(matches!(otlp.shutdown(), Err(OtlpError::Export(_))));
}

#[test]
fn an_unreachable_collector_is_a_clear_export_error() {
    let port = common::stack::free_port();
    let (recorder, otlp) = inference_monitor::otlp(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(2))
        .interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs_total").increment(1);
    });
    let error = otlp.flush().unwrap_err();
    assert!(matches!(error, OtlpError::Export(_)), "{error}");
    let _ = otlp.shutdown();
}

#[test]
fn invalid_endpoints_are_refused_when_building() {
    for endpoint in ["https://collector:4318", "collector:4318"] {
        let Err(error) = inference_monitor::otlp(endpoint).build() else {
            panic!("{endpoint} was accepted");
        };
        assert!(matches!(error, OtlpError::InvalidEndpoint(_)), "{error}");
    }
}
