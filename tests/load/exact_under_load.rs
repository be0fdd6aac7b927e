//! Exact counts under load (issue 5, "Reliability"): every request counted once with its
//! outcome, while concurrent scrapes never see a counter, bucket or count go down.
//!
//! * in process: 100,000 requests, 256 in flight, through `InferenceMonitorLayer` on a
//!   multi-thread runtime, into the crate's Prometheus recorder (global in this binary);
//! * over real HTTP: 20,000 requests, 64 keep-alive connections, against the `axum_loan`
//!   example, scraping its `/metrics`.

use crate::{common, load_support};

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use inference_monitor::InferenceMonitorLayer;
use tokio::task::JoinSet;
use tower::{service_fn, Layer, ServiceExt};

use common::loan_api::{GOOD, RISKY};
use load_support::{global_handle, Expected, ScrapeChecker, Scraper};

type Bytes = axum::body::Bytes;

const IN_PROCESS_REQUESTS: usize = 100_000;
const IN_PROCESS_CONCURRENCY: usize = 256;

/// What request `i` of the in-process run gets: its status and reported label.
fn in_process_plan(i: usize) -> (StatusCode, Option<&'static str>) {
    match i % 20 {
        0..=8 => (StatusCode::OK, Some("approved")),
        9..=13 => (StatusCode::OK, Some("rejected")),
        14 => (StatusCode::OK, None),
        15 => (StatusCode::BAD_REQUEST, None),
        16 => (StatusCode::UNPROCESSABLE_ENTITY, None),
        17 => (StatusCode::TOO_MANY_REQUESTS, None),
        18 => (StatusCode::INTERNAL_SERVER_ERROR, None),
        _ => (StatusCode::SERVICE_UNAVAILABLE, None),
    }
}

fn outcome_of(status: StatusCode) -> &'static str {
    if status.is_client_error() {
        "client_error"
    } else if status.is_server_error() {
        "server_error"
    } else {
        "success"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_100k_requests_at_256_in_flight_are_counted_exactly() {
    const MODEL: &str = "load_in_process";
    let handle = global_handle();
    // A small model service: the request's index says what it answers; some yield to the
    // scheduler first, so requests finish out of order and on other threads.
    let svc = InferenceMonitorLayer::new(MODEL).layer(service_fn(
        |req: Request<Full<Bytes>>| async move {
            let i = *req.extensions().get::<usize>().expect("index");
            if i % 3 == 0 {
                tokio::task::yield_now().await;
            }
            let (status, label) = in_process_plan(i);
            let mut res = Response::new(Full::new(Bytes::from_static(b"{\"p\":0.5}")));
            *res.status_mut() = status;
            if let Some(label) = label {
                inference_monitor::Prediction::new(label).insert_into(&mut res);
            }
            Ok::<_, Infallible>(res)
        },
    ));

    let scraper = Scraper::every_millisecond(&handle, MODEL, IN_PROCESS_CONCURRENCY);
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..IN_PROCESS_REQUESTS {
        while set.len() >= IN_PROCESS_CONCURRENCY {
            set.join_next().await.unwrap().unwrap();
        }
        let svc = svc.clone();
        set.spawn(async move {
            let req = Request::builder()
                .extension(i)
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            let res = svc.oneshot(req).await.unwrap();
            assert_eq!(res.status(), in_process_plan(i).0, "request {i}");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"{\"p\":0.5}");
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    let checker = scraper.stop();

    let mut expected = Expected::default();
    for i in 0..IN_PROCESS_REQUESTS {
        let (status, label) = in_process_plan(i);
        expected.count(outcome_of(status), label);
    }
    assert_eq!(expected.total(), IN_PROCESS_REQUESTS as u64);
    let page = ScrapeChecker::default().check(&handle.render());
    expected.assert_exact(&page, MODEL);
    eprintln!(
        "in process: {IN_PROCESS_REQUESTS} requests in {elapsed:?}, {} scrapes checked during the load, in-progress up to {}",
        checker.scrapes, checker.max_inprogress
    );
    assert!(
        checker.scrapes >= 10,
        "only {} scrapes overlapped the load",
        checker.scrapes
    );
}

const HTTP_REQUESTS: usize = 20_000;
const HTTP_CONNECTIONS: usize = 64;

/// What request `i` of the HTTP run sends: content type, extra header, body, and the expected
/// status and label.
struct HttpCase {
    content_type: &'static str,
    fault: bool,
    body: &'static str,
    status: u16,
    label: Option<&'static str>,
}

fn http_plan(i: usize) -> HttpCase {
    let case = |content_type, fault, body, status, label| HttpCase {
        content_type,
        fault,
        body,
        status,
        label,
    };
    match i % 20 {
        0..=7 => case("application/json", false, GOOD, 200, Some("approved")),
        8..=13 => case("application/json", false, RISKY, 200, Some("rejected")),
        14 | 15 => case(
            "application/json",
            false,
            r#"{"applicant_income": 5000}"#,
            422,
            None,
        ),
        16 | 17 => case(
            "application/json",
            false,
            r#"{"applicant_income": "#,
            400,
            None,
        ),
        18 => case("text/plain", false, GOOD, 415, None),
        _ => case("application/json", true, GOOD, 500, None),
    }
}

/// A keep-alive HTTP/1.1 connection: one request at a time, the answer read by its length.
struct Connection {
    addr: SocketAddr,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: SocketAddr) -> Self {
        let writer = TcpStream::connect(addr).expect("connect");
        writer.set_nodelay(true).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Self {
            addr,
            writer,
            reader,
        }
    }

    /// POSTs `case` to `/predict`; the status and body.
    fn predict(&mut self, case: &HttpCase) -> (u16, String) {
        let mut req = format!(
            "POST /predict HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.addr,
            case.content_type,
            case.body.len()
        );
        if case.fault {
            req.push_str("x-inject-fault: model-error\r\n");
        }
        req.push_str("\r\n");
        req.push_str(case.body);
        self.writer.write_all(req.as_bytes()).expect("send");

        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
            .parse()
            .unwrap();
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (k, v) = header.split_once(':').expect("header line");
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.trim().parse::<usize>().unwrap());
            } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
                chunked = true;
            } else if k.eq_ignore_ascii_case("connection") && v.trim() == "close" {
                panic!("the server closed the keep-alive connection");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let size = usize::from_str_radix(line.trim(), 16).expect("chunk size");
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length.expect("content-length"), 0);
            self.reader.read_exact(&mut body).unwrap();
        }
        (status, String::from_utf8(body).unwrap())
    }
}

#[test]
fn over_http_20k_requests_on_64_connections_are_counted_exactly() {
    let server = common::start_example("axum_loan", &[("INJECT_FAULTS", "1")]);
    let addr = server.addr;
    let scraper = Scraper::start(
        ScrapeChecker::with_gauge_bound("loan", HTTP_CONNECTIONS as f64),
        Duration::from_millis(1),
        move || {
            let res = common::http(addr, "GET", "/metrics", &[], b"");
            assert_eq!(res.status, 200, "GET /metrics: {}", res.body);
            res.body
        },
    );

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..HTTP_CONNECTIONS)
        .map(|_| {
            let next = Arc::clone(&next);
            std::thread::spawn(move || {
                let mut conn = Connection::open(addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= HTTP_REQUESTS {
                        break;
                    }
                    let case = http_plan(i);
                    let (status, body) = conn.predict(&case);
                    assert_eq!(status, case.status, "request {i}: {body}");
                    if let Some(label) = case.label {
                        assert!(body.contains(label), "request {i}: {body}");
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let elapsed = started.elapsed();
    let checker = scraper.stop();

    let mut expected = Expected::default();
    for i in 0..HTTP_REQUESTS {
        let case = http_plan(i);
        let outcome = outcome_of(StatusCode::from_u16(case.status).unwrap());
        expected.count(outcome, case.label);
    }
    assert_eq!(expected.total(), HTTP_REQUESTS as u64);
    // Every 200 reports its label: the predictions add up to the successes.
    assert_eq!(
        expected.labels.values().sum::<u64>(),
        expected.outcomes["success"]
    );
    let page =
        ScrapeChecker::default().check(&common::http(addr, "GET", "/metrics", &[], b"").body);
    expected.assert_exact(&page, "loan");
    eprintln!(
        "over HTTP: {HTTP_REQUESTS} requests on {HTTP_CONNECTIONS} connections in {elapsed:?}, {} scrapes checked during the load, in-progress up to {}",
        checker.scrapes, checker.max_inprogress
    );
    assert!(
        checker.scrapes >= 10,
        "only {} scrapes overlapped the load",
        checker.scrapes
    );
}
