//! End to end: the real `axum_stream` example on a free loopback port streams server-sent
//! events, and its `/metrics` shows the exact tokens in and out, one time-to-first-token
//! sample per stream in the buckets its known delay allows, and a client that hangs up
//! mid-stream counted as `cancelled` with the tokens it was sent.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The generator's pace in this test: the first token after 150 ms, the next 100 ms apart (time
/// enough for the server to see a hang-up before the next token, even on a busy machine).
const PACE: [(&str, &str); 2] = [("FIRST_TOKEN_DELAY_MS", "150"), ("TOKEN_DELAY_MS", "100")];

fn generate(addr: SocketAddr, body: &str) -> common::HttpResponse {
    common::post_json(addr, "/generate", body)
}

/// Sends a generation request, reads until `events` events have arrived, and hangs up.
fn hang_up_after(addr: SocketAddr, body: &str, events: usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST /generate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    while String::from_utf8_lossy(&seen).matches("data: ").count() < events {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&seen).matches("data: ").count(),
        events
    );
    // Dropping the socket closes the connection mid-stream.
}

fn value(m: &common::Exposition, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut all = vec![("model", "tiny-generator")];
    all.extend_from_slice(labels);
    m.value(name, &all)
}

#[test]
fn streams_tokens_and_reports_exact_streaming_metrics() {
    let server = common::start_example("axum_stream", &PACE);
    let addr = server.addr;

    let res = generate(addr, r#"{"prompt": "tell me a story", "max_tokens": 4}"#);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        res.body,
        "data: the\n\ndata: quick\n\ndata: brown\n\ndata: fox\n\n"
    );
    let res = generate(addr, r#"{"prompt": "hi", "max_tokens": 6}"#);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body.matches("data: ").count(), 6);
    let res = generate(addr, r#"{"prompt": "one two three", "max_tokens": 1}"#);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body, "data: the\n\n");

    // Invalid requests: a JSON 4xx, no token.
    for (body, status) in [
        (r#"{"prompt": ""}"#, 422),
        (r#"{"prompt": "x", "max_tokens": 0}"#, 422),
        (r#"{"prompt": "x", "max_tokens": 65}"#, 422),
        (r#"{"prompt": "#, 400),
    ] {
        let res = generate(addr, body);
        assert_eq!(res.status, status, "{body}: {}", res.body);
        assert!(res.json()["error"].is_string(), "{}", res.body);
    }
    let res = common::http(addr, "GET", "/generate", &[], b"");
    assert_eq!(res.status, 405);
    assert!(res.json()["error"].is_string());

    // A client that hangs up after two of ten tokens.
    hang_up_after(addr, r#"{"prompt": "go on", "max_tokens": 10}"#, 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = common::scrape(addr);
        let cancelled = value(&m, "inference_requests_total", &[("outcome", "cancelled")]);
        if cancelled == Some(1.0) || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let requests = |outcome: &str| value(&m, "inference_requests_total", &[("outcome", outcome)]);
    assert_eq!(requests("success"), Some(3.0));
    assert_eq!(requests("client_error"), Some(5.0));
    assert_eq!(requests("server_error"), Some(0.0));
    assert_eq!(requests("cancelled"), Some(1.0));
    assert_eq!(value(&m, "inference_inprogress_requests", &[]), Some(0.0));

    // Tokens: 4 + 6 + 1 streamed whole, 2 sent before the hang-up; the prompts' words in.
    assert_eq!(
        value(&m, "inference_tokens_total", &[("type", "output")]),
        Some(13.0)
    );
    assert_eq!(
        value(&m, "inference_tokens_total", &[("type", "input")]),
        Some(4.0 + 1.0 + 3.0 + 2.0)
    );

    // One first token per stream, none for the errors; every one at least 150 ms in.
    let ttft = |le: &str| {
        value(
            &m,
            "inference_time_to_first_token_seconds_bucket",
            &[("le", le)],
        )
    };
    assert_eq!(
        value(&m, "inference_time_to_first_token_seconds_count", &[]),
        Some(4.0)
    );
    assert_eq!(ttft("0.1"), Some(0.0));
    assert_eq!(ttft("10"), Some(4.0));
    assert_eq!(ttft("+Inf"), Some(4.0));
    let ttft_sum = value(&m, "inference_time_to_first_token_seconds_sum", &[]).unwrap();
    assert!(ttft_sum >= 4.0 * 0.150, "{ttft_sum}");

    // One time per output token for each stream of two tokens or more (4, 6 and the 2 sent
    // before the hang-up; not the single token), each at least 100 ms.
    let tpot = |le: &str| {
        value(
            &m,
            "inference_time_per_output_token_seconds_bucket",
            &[("le", le)],
        )
    };
    assert_eq!(
        value(&m, "inference_time_per_output_token_seconds_count", &[]),
        Some(3.0)
    );
    assert_eq!(tpot("0.075"), Some(0.0));
    let tpot_sum = value(&m, "inference_time_per_output_token_seconds_sum", &[]).unwrap();
    assert!(tpot_sum >= 3.0 * 0.100, "{tpot_sum}");
    assert_eq!(tpot("10"), Some(3.0));
    assert_eq!(
        m.types
            .get("inference_time_per_output_token_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        m.types.get("inference_tokens_total").map(String::as_str),
        Some("counter")
    );
}

/// With `SHUTDOWN_TIMEOUT=1`, SIGTERM while a 64-token stream (6.4 s at this pace) is being
/// read: the process exits 0 within 2.5 s instead of finishing the stream, and its final counts
/// show the cut stream as `cancelled`.
#[cfg(unix)]
#[test]
fn sigterm_cuts_a_long_stream_at_the_drain_deadline() {
    let mut server = common::start_example(
        "axum_stream",
        &[PACE[0], PACE[1], ("SHUTDOWN_TIMEOUT", "1")],
    );
    let body = r#"{"prompt": "tell me a long story", "max_tokens": 64}"#;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST /generate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    while String::from_utf8_lossy(&seen).matches("data: ").count() < 2 {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    let (took, status, output) = server.terminate_within(Duration::from_secs(5));
    assert!(status.success(), "exit status: {status}; {output:?}");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(2500),
        "exited {took:?} after SIGTERM; {output:?}"
    );
    let requests = |outcome: &str| {
        let prefix = format!(
            "final: inference_requests_total{{model=\"tiny-generator\",outcome=\"{outcome}\"}} "
        );
        output
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {output:?}"))
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(requests("cancelled"), 1.0, "{output:?}");
    assert_eq!(requests("success"), 0.0, "{output:?}");
    // The client's stream ends with the server, well before its 64 tokens.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    seen.extend_from_slice(&rest);
    let events = String::from_utf8_lossy(&seen).matches("data: ").count();
    assert!((2..64).contains(&events), "{events} events");
}
