//! The end-to-end scenarios every loan example server must pass, run against each of them by
//! `tests/suite/axum_loan.rs`, `tests/suite/hyper_loan.rs` and `tests/suite/actix_loan.rs`.

use super::{http, post_json, scrape, start_example};

pub const GOOD: &str = r#"{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}"#;
pub const RISKY: &str = r#"{"applicant_income": 1200, "coapplicant_income": 0, "loan_amount": 700, "loan_term_months": 120, "credit_history": false, "dependents": 3, "education": "not_graduate", "self_employed": true, "property_area": "rural"}"#;

/// Two valid and one invalid `/predict`: exact answers, and exact `/metrics`.
pub fn serves_predictions_and_exact_metrics(example: &str) {
    let server = start_example(example, &[]);
    let addr = server.addr;
    assert_ne!(addr.port(), 0, "the banner must show the real port");
    assert!(
        server.banner.iter().any(|l| l.contains("curl")),
        "banner: {:?}",
        server.banner
    );
    assert!(
        server
            .banner
            .last()
            .is_some_and(|l| l.starts_with(&format!("{example} listening on http://"))),
        "banner: {:?}",
        server.banner
    );

    let health = http(addr, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    // Two valid requests and one invalid.
    let a = post_json(addr, "/predict", GOOD);
    assert_eq!(a.status, 200, "{}", a.body);
    let a = a.json();
    assert_eq!(a["label"], "approved");
    let p = a["probability"].as_f64().unwrap();
    assert!(p > 0.5 && p < 1.0, "{p}");
    let b = post_json(addr, "/predict", RISKY);
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.json()["label"], "rejected");
    let bad = post_json(addr, "/predict", r#"{"applicant_income": 5000}"#);
    assert_eq!(bad.status, 422, "{}", bad.body);
    let err = bad.json();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("coapplicant_income")
            || err["field"].is_string(),
        "{err}"
    );
    assert!(bad
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));

    let m = scrape(addr);
    let loan = |outcome: &str| {
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", outcome)],
        )
    };
    assert_eq!(loan("success"), Some(2.0));
    assert_eq!(loan("client_error"), Some(1.0));
    assert_eq!(loan("server_error"), Some(0.0));
    assert_eq!(loan("cancelled"), Some(0.0));
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        2.0
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "rejected")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
    assert_eq!(
        m.sum(
            "inference_request_latency_seconds_count",
            &[("model", "loan")]
        ),
        3.0
    );
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_bucket",
            &[("model", "loan"), ("outcome", "success"), ("le", "+Inf")]
        ),
        Some(2.0)
    );
    for name in [
        "inference_requests_total",
        "inference_request_latency_seconds",
        "inference_predictions_total",
        "inference_inprogress_requests",
    ] {
        assert!(m.help.contains_key(name), "no HELP for {name}");
        assert!(m.types.contains_key(name), "no TYPE for {name}");
    }
}

/// Every rejected request is a JSON 4xx, counted as `client_error` (405 included).
pub fn rejects_with_json_4xx_counted_as_client_error(example: &str) {
    let server = start_example(example, &[]);
    let addr = server.addr;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            "bad syntax",
            vec![("Content-Type", "application/json")],
            b"{\"applicant_income\": ".to_vec(),
            400,
        ),
        (
            "wrong content type",
            vec![("Content-Type", "text/plain")],
            GOOD.as_bytes().to_vec(),
            415,
        ),
        (
            "wrong type",
            vec![("Content-Type", "application/json")],
            GOOD.replace("5000", "\"5000\"").into_bytes(),
            422,
        ),
        (
            "negative amount",
            vec![("Content-Type", "application/json")],
            GOOD.replace("\"loan_amount\": 120", "\"loan_amount\": -5")
                .into_bytes(),
            422,
        ),
        (
            "unknown enum",
            vec![("Content-Type", "application/json")],
            GOOD.replace("urban", "moon").into_bytes(),
            422,
        ),
        (
            "not an object",
            vec![("Content-Type", "application/json")],
            b"[1, 2, 3]".to_vec(),
            422,
        ),
        (
            "too large",
            vec![("Content-Type", "application/json")],
            format!("{{\"pad\": \"{}\"}}", "x".repeat(20 * 1024)).into_bytes(),
            413,
        ),
    ];
    for (what, headers, body, status) in &cases {
        let res = http(addr, "POST", "/predict", headers, body);
        assert_eq!(res.status, *status, "{what}: {}", res.body);
        let json = res.json();
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {json}"
        );
    }
    let wrong_method = http(addr, "GET", "/predict", &[], b"");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert!(wrong_method.json()["error"].is_string());
    let missing = http(addr, "GET", "/nope", &[], b"");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());
    // Outside the monitored route too: not counted.
    let wrong_health = http(addr, "POST", "/healthz", &[], b"");
    assert_eq!(wrong_health.status, 405);
    assert_eq!(wrong_health.header("allow"), Some("GET,HEAD"));
    assert!(wrong_health.json()["error"].is_string());

    let m = scrape(addr);
    // Every rejected /predict request, the 405 included; the 404 and the /healthz 405 are
    // outside the monitored route.
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "client_error")]
        ),
        Some(cases.len() as f64 + 1.0)
    );
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        0.0
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

/// SIGTERM after a request: the process exits 0.
#[cfg(unix)]
pub fn shuts_down_gracefully_on_sigterm(example: &str) {
    let mut server = start_example(example, &[]);
    assert_eq!(post_json(server.addr, "/predict", GOOD).status, 200);
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

// --- Hardening (issue 17): bounded memory, timeouts, the connection limit, the drain. ---

/// A raw TCP connection to `addr`, with Nagle off (each write leaves as its own segment).
fn raw(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// The head of a JSON `POST /predict` announcing `length` bytes of body.
fn predict_head(length: usize) -> String {
    format!(
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Reads one HTTP/1.1 response framed by `Content-Length` (without waiting for the connection
/// to close), within `limit`: the status and the body.
fn read_response(stream: &mut std::net::TcpStream, limit: std::time::Duration) -> (u16, String) {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a content-length");
            if raw.len() >= end + 4 + length {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                let body = String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned();
                return (status, body);
            }
        }
        let n = stream
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("no whole response within {limit:?}: {e}"));
        assert!(n > 0, "closed before a whole response: {raw:?}");
        raw.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until the server closes `stream` (EOF or reset), failing past `limit`; how long it
/// took, and what the server sent.
fn wait_for_close(
    stream: &mut std::net::TcpStream,
    limit: std::time::Duration,
) -> (std::time::Duration, Vec<u8>) {
    use std::io::Read;
    let started = std::time::Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sent = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (started.elapsed(), sent),
            Ok(n) => sent.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "still open {limit:?} later; sent {:?}",
                    String::from_utf8_lossy(&sent)
                )
            }
            Err(_) => return (started.elapsed(), sent),
        }
    }
}

/// `inference_requests_total{model="loan"}` for each outcome: `success`, `client_error`,
/// `server_error`, `cancelled`.
fn loan_counts(addr: std::net::SocketAddr) -> [f64; 4] {
    let m = scrape(addr);
    ["success", "client_error", "server_error", "cancelled"]
        .map(|outcome| m.requests("loan", outcome).unwrap_or(f64::NAN))
}

/// 50 connections send a valid 4,000-byte body one byte per TCP segment, in turn. The
/// server's resident memory may not grow by more than 16 MiB while all of them are in flight
/// (before the fix, `hyper_loan` kept an 8 KiB read buffer per segment: about 300 MB here), and
/// every request is then answered 200 and counted.
#[cfg(target_os = "linux")]
pub fn memory_stays_bounded_under_a_fragmented_upload(example: &str) -> (u64, u64) {
    use std::io::Write;
    const CONNECTIONS: usize = 50;
    const LENGTH: usize = 4_000;
    let server = start_example(example, &[]);
    let addr = server.addr;
    assert_eq!(post_json(addr, "/predict", GOOD).status, 200);
    let before = server.rss_bytes();
    // A valid application padded with spaces (JSON white space) to LENGTH bytes.
    let body = format!("{GOOD:<LENGTH$}");
    assert_eq!(body.len(), LENGTH);
    let mut streams: Vec<_> = (0..CONNECTIONS).map(|_| raw(addr)).collect();
    for stream in &mut streams {
        stream.write_all(predict_head(LENGTH).as_bytes()).unwrap();
    }
    for (i, byte) in body.as_bytes()[..LENGTH - 1].iter().enumerate() {
        for stream in &mut streams {
            stream.write_all(std::slice::from_ref(byte)).unwrap();
        }
        if i % 100 == 0 {
            // Let the server read each segment on its own, as a slow network would deliver it.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let during = server.rss_bytes();
    for stream in &mut streams {
        stream.write_all(&body.as_bytes()[LENGTH - 1..]).unwrap();
    }
    for stream in &mut streams {
        let (status, body) = read_response(stream, std::time::Duration::from_secs(10));
        assert_eq!(status, 200, "{body}");
    }
    let growth = during.saturating_sub(before);
    eprintln!(
        "{example}: resident memory {before} -> {during} bytes (+{growth}) with {CONNECTIONS} x {LENGTH} bytes in flight"
    );
    assert!(
        growth < 16 << 20,
        "{example}: resident memory grew by {growth} bytes ({before} -> {during}) for {} bytes in flight",
        CONNECTIONS * LENGTH
    );
    assert_eq!(loan_counts(addr), [(CONNECTIONS + 1) as f64, 0.0, 0.0, 0.0]);
    (before, during)
}

/// A `Content-Length` over the limit is a JSON 413 at once, before any of the body is sent, and
/// one client error.
pub fn rejects_an_over_limit_content_length_at_once(example: &str) {
    use std::io::Write;
    let server = start_example(example, &[]);
    let mut stream = raw(server.addr);
    let started = std::time::Instant::now();
    stream
        .write_all(predict_head(10_000_000).as_bytes())
        .unwrap();
    let (status, body) = read_response(&mut stream, std::time::Duration::from_secs(2));
    let took = started.elapsed();
    assert_eq!(status, 413, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(
        json["error"],
        "the request body is larger than the limit of 16384 bytes"
    );
    assert!(
        took < std::time::Duration::from_secs(1),
        "413 after {took:?}"
    );
    assert_eq!(loan_counts(server.addr), [0.0, 1.0, 0.0, 0.0]);
}

/// With `BODY_READ_TIMEOUT=1`, a body that stops halfway is a JSON 408 after 1 s (not later than
/// 2.5 s), counted as a client error.
pub fn answers_408_past_the_body_read_deadline(example: &str) {
    use std::io::Write;
    let server = start_example(example, &[("BODY_READ_TIMEOUT", "1")]);
    let mut stream = raw(server.addr);
    let started = std::time::Instant::now();
    stream
        .write_all(predict_head(GOOD.len()).as_bytes())
        .unwrap();
    stream.write_all(&GOOD.as_bytes()[..40]).unwrap();
    let (status, body) = read_response(&mut stream, std::time::Duration::from_secs(5));
    let took = started.elapsed();
    assert_eq!(status, 408, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json["error"], "the request body did not arrive within 1 s");
    assert!(
        took >= std::time::Duration::from_millis(950)
            && took < std::time::Duration::from_millis(2500),
        "408 after {took:?}"
    );
    assert_eq!(loan_counts(server.addr), [0.0, 1.0, 0.0, 0.0]);
}

/// With `HEADER_READ_TIMEOUT=1`: a connection that sends half a head is closed after about 1 s
/// (not later than 2.5 s), and so is a keep-alive connection left idle after its answer.
pub fn closes_slow_heads_and_idle_connections_after_the_header_timeout(example: &str) {
    use std::io::Write;
    let server = start_example(example, &[("HEADER_READ_TIMEOUT", "1")]);
    // Not before 0.45 s: actix-web reads its timers off a clock it refreshes every 500 ms, so it
    // may close up to half a second early; hyper closes at 1 s.
    let window = std::time::Duration::from_millis(450)..std::time::Duration::from_millis(2500);

    // Each time is measured from before the server can have started its timer (the connect,
    // the request), so a busy test machine can only make it longer.
    let mut slow_head = raw(server.addr);
    let connected = std::time::Instant::now();
    slow_head
        .write_all(b"POST /predict HTTP/1.1\r\nHost: test\r\n")
        .unwrap();
    wait_for_close(&mut slow_head, std::time::Duration::from_secs(5));
    let took = connected.elapsed();
    assert!(window.contains(&took), "half a head closed after {took:?}");

    let mut idle = raw(server.addr);
    let asked = std::time::Instant::now();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let (status, _) = read_response(&mut idle, std::time::Duration::from_secs(2));
    assert_eq!(status, 200);
    let (_, sent) = wait_for_close(&mut idle, std::time::Duration::from_secs(5));
    let took = asked.elapsed();
    assert!(
        window.contains(&took),
        "idle keep-alive closed {took:?} after its request"
    );
    assert!(
        !String::from_utf8_lossy(&sent).contains("200 OK"),
        "nothing more was asked: {sent:?}"
    );
}

/// Under `ulimit -n 128` with `MAX_CONNECTIONS=64` and `HEADER_READ_TIMEOUT=0.5`, 200 idle
/// connections (more than the process has descriptors) do not keep out a real request: it is
/// answered 200 within 4 s, the idle ones cut 64 at a time. Without the limit and the timeout
/// the server runs out of descriptors and never answers.
#[cfg(unix)]
pub fn idle_sockets_do_not_block_a_real_request(example: &str) {
    use std::io::Write;
    let server = common_start_with_fd_limit(example);
    let idle: Vec<_> = (0..200).map(|_| raw(server.addr)).collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    let mut stream = raw(server.addr);
    stream
        .write_all(predict_head(GOOD.len()).as_bytes())
        .unwrap();
    stream.write_all(GOOD.as_bytes()).unwrap();
    let (status, body) = read_response(&mut stream, std::time::Duration::from_secs(4));
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        took < std::time::Duration::from_secs(4),
        "answered after {took:?}"
    );
    drop(idle);
    assert_eq!(loan_counts(server.addr), [1.0, 0.0, 0.0, 0.0]);
}

#[cfg(unix)]
fn common_start_with_fd_limit(example: &str) -> super::Server {
    super::start_example_with_fd_limit(
        example,
        128,
        &[("MAX_CONNECTIONS", "64"), ("HEADER_READ_TIMEOUT", "0.5")],
    )
}

/// Half a body then a reset (RST) is `cancelled`: the client went away. Half a body then a
/// close of the client's side (FIN) is a JSON 400 the client can still read: a client error.
pub fn a_half_body_then_reset_is_cancelled(example: &str) {
    use std::io::Write;
    let server = start_example(example, &[]);
    let mut reset_stream = raw(server.addr);
    reset_stream
        .write_all(predict_head(GOOD.len()).as_bytes())
        .unwrap();
    reset_stream.write_all(&GOOD.as_bytes()[..40]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    reset(reset_stream);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(loan_counts(server.addr), [0.0, 0.0, 0.0, 1.0]);

    let mut closed = raw(server.addr);
    closed
        .write_all(predict_head(GOOD.len()).as_bytes())
        .unwrap();
    closed.write_all(&GOOD.as_bytes()[..40]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    closed.shutdown(std::net::Shutdown::Write).unwrap();
    let (status, body) = read_response(&mut closed, std::time::Duration::from_secs(2));
    assert_eq!(status, 400, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("could not read the request body")),
        "{json}"
    );
    assert_eq!(loan_counts(server.addr), [0.0, 1.0, 0.0, 1.0]);
}

/// Closes `stream` with a reset (RST) instead of a FIN: `SO_LINGER` 0, set through tokio (std
/// has no setter for it).
fn reset(stream: std::net::TcpStream) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    stream.set_nonblocking(true).unwrap();
    let stream = tokio::net::TcpStream::from_std(stream).unwrap();
    stream.set_zero_linger().unwrap();
    drop(stream);
}

/// With `SHUTDOWN_TIMEOUT=1`, SIGTERM while one client is stuck halfway through its body and
/// another halfway through its head: the process exits 0 within 2.5 s, saying the deadline cut
/// them, and its final counts show the stuck request as `cancelled`.
#[cfg(unix)]
pub fn drains_within_the_deadline_with_stuck_clients(example: &str) {
    use std::io::Write;
    let mut server = start_example(example, &[("SHUTDOWN_TIMEOUT", "1")]);
    let mut slow_body = raw(server.addr);
    slow_body
        .write_all(predict_head(GOOD.len()).as_bytes())
        .unwrap();
    slow_body.write_all(&GOOD.as_bytes()[..40]).unwrap();
    let mut slow_head = raw(server.addr);
    slow_head
        .write_all(b"POST /predict HTTP/1.1\r\nHost: test\r\n")
        .unwrap();
    assert_eq!(post_json(server.addr, "/predict", GOOD).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (took, status, output) = server.terminate_within(std::time::Duration::from_secs(5));
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}; {output:?}"
    );
    assert!(
        took >= std::time::Duration::from_millis(950)
            && took < std::time::Duration::from_millis(2500),
        "exited {took:?} after SIGTERM; {output:?}"
    );
    let finals = |outcome: &str| {
        let sample =
            format!("final: inference_requests_total{{model=\"loan\",outcome=\"{outcome}\"}} ");
        output
            .iter()
            .find_map(|l| l.strip_prefix(&sample))
            .unwrap_or_else(|| panic!("no {sample:?} in {output:?}"))
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(finals("success"), 1.0, "{output:?}");
    assert_eq!(finals("cancelled"), 1.0, "{output:?}");
    assert_eq!(finals("client_error"), 0.0, "{output:?}");
    assert!(
        output
            .iter()
            .any(|l| l.contains("final: inference_inprogress_requests{model=\"loan\"} 0")),
        "{output:?}"
    );
    drop((slow_body, slow_head));
}

/// The latency clock starts once the body is in: a valid body sent in three parts over 1.2 s is
/// not in flight while it uploads (`inference_inprogress_requests` 0), and its latency is well
/// under the upload time.
pub fn upload_time_is_not_inference_latency(example: &str) {
    use std::io::Write;
    let server = start_example(example, &[]);
    let mut stream = raw(server.addr);
    stream
        .write_all(predict_head(GOOD.len()).as_bytes())
        .unwrap();
    let third = GOOD.len() / 3;
    stream.write_all(&GOOD.as_bytes()[..third]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let m = scrape(server.addr);
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0),
        "an upload is not an inference in flight"
    );
    stream
        .write_all(&GOOD.as_bytes()[third..2 * third])
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    stream.write_all(&GOOD.as_bytes()[2 * third..]).unwrap();
    let (status, body) = read_response(&mut stream, std::time::Duration::from_secs(5));
    assert_eq!(status, 200, "{body}");
    let m = scrape(server.addr);
    let sum = m
        .value(
            "inference_request_latency_seconds_sum",
            &[("model", "loan"), ("outcome", "success")],
        )
        .expect("latency sum");
    assert!(sum < 0.25, "latency {sum} s for a 1.2 s upload");
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_count",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(1.0)
    );
}

/// The main address speaks HTTP/1.1 only: an h2c (HTTP/2 without TLS) preface gets no HTTP/2
/// SETTINGS frame back, only a close (or, on actix, an HTTP/1.1 400), within 2 s.
pub fn does_not_speak_h2c(example: &str) {
    use std::io::Write;
    let server = start_example(example, &[]);
    let mut stream = raw(server.addr);
    // The connection preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let (_, sent) = wait_for_close(&mut stream, std::time::Duration::from_secs(2));
    assert!(
        sent.is_empty() || sent.starts_with(b"HTTP/1.1 400 "),
        "{example} answered an h2c preface with {sent:?}"
    );
    // Still serving HTTP/1.1.
    assert_eq!(post_json(server.addr, "/predict", GOOD).status, 200);
}
