//! Hostile input, as property tests.
//!
//! `POST /predict` on the real `axum_loan` example (a child process on a free loopback port;
//! the example exposes no library, so its router cannot be built in-process): random bytes,
//! truncated JSON, bodies over the limit, deep nesting, wrong types, NaN, infinities and
//! negative amounts, non-UTF-8. Every answer must be a 4xx with a JSON `{"error"}` body (422s
//! also name the `field`), never a 5xx or a dropped connection; and after the run `/metrics`
//! must count exactly every request sent as `client_error` and nothing else.
//!
//! Then, in-process with the Prometheus recorder: model names and predicted labels holding
//! newlines, quotes, backslashes, control characters and non-ASCII, fed through
//! `Monitor::model`, `InFlight::predicted` and request headers read by
//! `InferenceMonitorLayer::from_request`. The rendered text must pass a strict parser of the
//! text format, and the values must come back exactly as recorded (after the limiter's
//! truncation to 64 bytes).
//!
//! Cases per property: [`CASES`] (proptest's default), so the file runs in a few seconds.

use crate::common;

use crate::loan_model;

use common::by_hand::{call, drain, noop_waker};
use common::exposition::{Exposition, Sample};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::ready;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use inference_monitor::{InferenceMonitorLayer, Monitor, Outcome, Prediction};
use loan_model::api::BODY_LIMIT;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use tower::{service_fn, Layer};

type Bytes = axum::body::Bytes;

/// Cases per property.
const CASES: u32 = 256;

/// A valid application.
const GOOD: &str = common::loan_api::GOOD;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------------
// POST /predict against the real server.

/// An answer as sent: status and body bytes.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

thread_local! {
    /// Requests sent by this thread (each property runs on its test's thread).
    static SENT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// POSTs `body` to `/predict` with `content_type`, on a fresh connection. Writing may fail
/// part-way (a server may answer 413 and close before reading a long body): the answer is read
/// all the same.
fn post(addr: SocketAddr, content_type: Option<&str>, body: &[u8]) -> Answer {
    SENT.with(|n| n.set(n.get() + 1));
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "POST /predict HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send the head");
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A reset after the whole answer arrived is the server closing on an unread body.
        assert!(!raw.is_empty(), "no answer: {e}");
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse().expect("numeric content-length"))
        .unwrap_or_else(|| panic!("no content-length: {head}"));
    let body = raw[end + 4..].to_vec();
    assert_eq!(body.len(), length, "truncated answer: {head}");
    Answer { status, body }
}

/// Checks that `answer` is a client error with a JSON `{"error": "..."}` body and returns the
/// body.
fn json_error(answer: &Answer) -> Result<Value, TestCaseError> {
    prop_assert!(
        (400..500).contains(&answer.status),
        "status {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    let json: Value = serde_json::from_slice(&answer.body).map_err(|e| {
        TestCaseError::fail(format!(
            "the body is not JSON ({e}): {}",
            String::from_utf8_lossy(&answer.body)
        ))
    })?;
    prop_assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no error message: {json}"
    );
    Ok(json)
}

/// Runs one property against a fresh `axum_loan`: `check(addr, input)` sends one request per
/// case; then `/metrics` must count each of them as `client_error`, and only them.
fn against_server<S: Strategy>(
    strategy: S,
    check: impl Fn(SocketAddr, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let server = common::start_example("axum_loan", &[]);
    let addr = server.addr;
    let before = SENT.with(std::cell::Cell::get);
    if let Err(e) = runner().run(&strategy, |input| check(addr, input)) {
        panic!("{e}");
    }
    let sent = SENT.with(std::cell::Cell::get) - before;
    let m = common::scrape(addr);
    let count = |outcome: &str| {
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", outcome)],
        )
    };
    assert_eq!(count("client_error"), Some(sent as f64));
    assert!(sent >= u64::from(CASES));
    for outcome in ["success", "server_error", "cancelled"] {
        assert_eq!(count(outcome), Some(0.0), "{outcome}");
    }
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        0.0
    );
    eprintln!("{sent} requests, each one client_error");
}

const JSON: Option<&str> = Some("application/json");

#[test]
fn random_bytes_are_a_json_client_error() {
    // Any bytes (mostly not UTF-8), and text from JSON's own alphabet (mostly not JSON, or
    // JSON that is not an application).
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "[{}\\[\\]\":, 0-9a-z.eE+-]{0,256}".prop_map(String::into_bytes),
    ];
    against_server(body, |addr, body| {
        json_error(&post(addr, JSON, &body))?;
        Ok(())
    });
}

#[test]
fn truncated_json_is_400() {
    against_server(0..GOOD.len(), |addr, cut| {
        let answer = post(addr, JSON, &GOOD.as_bytes()[..cut]);
        let json = json_error(&answer)?;
        prop_assert_eq!(answer.status, 400, "{}", json);
        Ok(())
    });
}

#[test]
fn a_body_over_the_limit_is_413() {
    let body = (BODY_LIMIT + 1..=16 * BODY_LIMIT, any::<u8>(), any::<bool>());
    against_server(body, |addr, (len, byte, json_shaped)| {
        let body = if json_shaped {
            // The start of a valid-looking object, padded to `len` bytes.
            let mut b = format!("{{\"pad\": \"{}\"}}", "x".repeat(len)).into_bytes();
            b.truncate(len);
            b
        } else {
            vec![byte; len]
        };
        let answer = post(addr, JSON, &body);
        let json = json_error(&answer)?;
        prop_assert_eq!(answer.status, 413, "{}", json);
        Ok(())
    });
}

#[test]
fn deeply_nested_json_is_a_client_error() {
    let shape = (1usize..2_500, 0..3u8, any::<bool>());
    against_server(shape, |addr, (depth, kind, around_good)| {
        let (open, close) = match kind {
            0 => ("[", "]"),
            1 => ("{\"a\":", "}"),
            _ => ("{\"applicant_income\":[", "]}"),
        };
        let inner = if around_good { GOOD } else { "1" };
        let body = format!("{}{inner}{}", open.repeat(depth), close.repeat(depth));
        let answer = post(addr, JSON, body.as_bytes());
        let json = json_error(&answer)?;
        // Deeper than serde_json's recursion limit (128): not parsed, 400; else not a valid
        // application, 422. Never a stack overflow (the server would die and the next request
        // fail to connect).
        prop_assert!(
            [400, 413, 422].contains(&answer.status),
            "{} at depth {}: {}",
            answer.status,
            depth,
            json
        );
        if body.len() > BODY_LIMIT {
            prop_assert_eq!(answer.status, 413);
        } else if depth > 128 {
            prop_assert_eq!(answer.status, 400, "{}", json);
        }
        Ok(())
    });
}

/// The fields of an application and what each accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Boolean,
    Enum,
}

const FIELDS: [(&str, Kind); 9] = [
    ("applicant_income", Kind::Number),
    ("coapplicant_income", Kind::Number),
    ("loan_amount", Kind::Number),
    ("loan_term_months", Kind::Number),
    ("credit_history", Kind::Boolean),
    ("dependents", Kind::Number),
    ("education", Kind::Enum),
    ("self_employed", Kind::Boolean),
    ("property_area", Kind::Enum),
];

/// A JSON value of any type, shallow.
fn any_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        proptest::collection::vec(any::<i32>(), 0..3).prop_map(Value::from),
        Just(serde_json::json!({"nested": {"applicant_income": 5000}})),
    ]
}

/// Whether `value` has the right JSON type for a field of `kind`.
fn right_type(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::Number => value.is_number(),
        Kind::Boolean => value.is_boolean(),
        Kind::Enum => value.is_string(),
    }
}

fn good_with(field: &str, raw_value: &str) -> String {
    let mut body: serde_json::Map<String, Value> = serde_json::from_str(GOOD).unwrap();
    body.insert(field.to_owned(), Value::from("@@VALUE@@"));
    serde_json::to_string(&body)
        .unwrap()
        .replace("\"@@VALUE@@\"", raw_value)
}

#[test]
fn a_field_of_the_wrong_type_is_422_naming_it() {
    let case = (0..FIELDS.len(), any_json())
        .prop_filter("a wrong type", |(i, v)| !right_type(FIELDS[*i].1, v));
    against_server(case, |addr, (i, value)| {
        let (field, _) = FIELDS[i];
        let body = good_with(field, &value.to_string());
        let answer = post(addr, JSON, body.as_bytes());
        let json = json_error(&answer)?;
        prop_assert_eq!(answer.status, 422, "{}", json);
        prop_assert_eq!(&json["field"], field, "{}", json);
        Ok(())
    });
}

/// Non-finite and negative numbers, as JSON numbers, bare tokens and strings.
#[derive(Debug, Clone)]
enum BadNumber {
    /// A JSON number below zero: valid JSON, invalid field (422).
    Negative(f64),
    /// A token JSON does not have, or a number `f64` cannot hold: invalid JSON (400).
    Token(&'static str),
    /// A numeric-looking string: valid JSON of the wrong type (422).
    Quoted(&'static str),
}

fn bad_number() -> impl Strategy<Value = BadNumber> {
    const TOKENS: [&str; 8] = [
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e999",
        "-1e999",
        "0x10",
    ];
    const STRINGS: [&str; 7] = ["NaN", "Infinity", "-inf", "1e999", "-5", "5000", ""];
    prop_oneof![
        (1e-300..1e300f64).prop_map(|x| BadNumber::Negative(-x)),
        (1..=1_000_000_000i64).prop_map(|x| BadNumber::Negative(-x as f64)),
        proptest::sample::select(&TOKENS[..]).prop_map(BadNumber::Token),
        proptest::sample::select(&STRINGS[..]).prop_map(BadNumber::Quoted),
    ]
}

#[test]
fn nan_infinite_and_negative_numbers_are_client_errors() {
    let numeric: Vec<&str> = FIELDS
        .iter()
        .filter(|(_, k)| *k == Kind::Number)
        .map(|(f, _)| *f)
        .collect();
    let case = (proptest::sample::select(numeric), bad_number());
    against_server(case, |addr, (field, bad)| {
        let raw = match &bad {
            BadNumber::Negative(x) => Value::from(*x).to_string(),
            BadNumber::Token(t) => (*t).to_owned(),
            BadNumber::Quoted(s) => format!("\"{s}\""),
        };
        let answer = post(addr, JSON, good_with(field, &raw).as_bytes());
        let json = json_error(&answer)?;
        match bad {
            BadNumber::Token(_) => prop_assert_eq!(answer.status, 400, "{}", json),
            BadNumber::Negative(_) | BadNumber::Quoted(_) => {
                prop_assert_eq!(answer.status, 422, "{}", json);
                prop_assert_eq!(&json["field"], field, "{}", json);
            }
        }
        Ok(())
    });
}

#[test]
fn a_body_that_is_not_utf8_is_400() {
    // Bytes that never appear in UTF-8, or a continuation byte where none can be.
    let invalid = prop_oneof![Just(0xC0u8), Just(0xC1), 0xF5..=0xFFu8, 0x80..=0xBFu8];
    let case = (0..=GOOD.len(), invalid, 1..4usize);
    against_server(case, |addr, (at, byte, times)| {
        let mut body = GOOD.as_bytes().to_vec();
        for _ in 0..times {
            body.insert(at, byte);
        }
        prop_assume!(std::str::from_utf8(&body).is_err());
        let answer = post(addr, JSON, &body);
        let json = json_error(&answer)?;
        prop_assert_eq!(answer.status, 400, "{}", json);
        prop_assert!(
            json["error"].as_str().unwrap_or("").contains("UTF-8"),
            "{}",
            json
        );
        Ok(())
    });
}

#[test]
fn a_content_type_other_than_json_is_415() {
    let content_type = prop_oneof![
        Just(None),
        "(text|image|multipart|application)/(plain|html|xml|x-www-form-urlencoded|jsonx|octet-stream)"
            .prop_map(Some),
        "[ -~]{0,40}"
            .prop_filter("not JSON", |ct| !ct.to_ascii_lowercase().contains("json"))
            .prop_map(Some),
    ];
    against_server(content_type, |addr, content_type| {
        let answer = post(addr, content_type.as_deref(), GOOD.as_bytes());
        let json = json_error(&answer)?;
        prop_assert_eq!(answer.status, 415, "{}", json);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Hostile label values in the Prometheus text.

/// The shared strict parser (`tests/common/exposition.rs`): the samples, or the first problem.
fn strict_parse(text: &str) -> Result<Vec<Sample>, String> {
    Exposition::try_parse(text).map(|page| page.samples)
}

/// `value` as the limiter keeps it: cut to 64 bytes at a character boundary, `unknown` when
/// empty.
fn bounded(value: &str) -> String {
    if value.is_empty() {
        return "unknown".to_owned();
    }
    let mut end = value
        .len()
        .min(inference_monitor::cardinality::DEFAULT_MAX_VALUE_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

/// Hostile strings: the three escaped characters, other controls, `{}=,`, non-ASCII, and any
/// character at all.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\n".to_owned()),
        Just("\r".to_owned()),
        Just("\t".to_owned()),
        Just("\0".to_owned()),
        Just("} 1\n# TYPE x counter\nx{".to_owned()),
        Just("=,{}".to_owned()),
        Just("é".to_owned()),
        Just("🦀".to_owned()),
        Just("\u{2028}".to_owned()),
        "[a-z]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// Renders what `requests` (model name, label) recorded and checks it against the strict
/// parser; returns the samples.
fn record_and_parse(requests: &[(String, String)]) -> Result<Vec<Sample>, TestCaseError> {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let monitor = Monitor::new();
    metrics::with_local_recorder(&recorder, || {
        for (model, label) in requests {
            let mut request = monitor.model(model).start();
            request.predicted(label);
            request.finish(Outcome::Success);
        }
    });
    let text = metrics.render();
    strict_parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\nin:\n{text}")))
}

/// Checks that the samples hold exactly the expected series, by (bounded) model and label.
fn check_round_trip(
    samples: &[Sample],
    requests: &[(String, String)],
) -> Result<(), TestCaseError> {
    let mut predictions: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut per_model: BTreeMap<String, f64> = BTreeMap::new();
    for (model, label) in requests {
        *predictions
            .entry((bounded(model), bounded(label)))
            .or_default() += 1.0;
        *per_model.entry(bounded(model)).or_default() += 1.0;
    }
    let got = |name: &str,
               label: Option<&str>|
     -> Result<BTreeMap<(String, String), f64>, TestCaseError> {
        let mut out = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == name) {
            if s.labels.get("outcome").is_some_and(|o| o != "success") {
                continue;
            }
            let key = (
                s.labels["model"].clone(),
                label.map_or(String::new(), |l| s.labels[l].clone()),
            );
            if out.insert(key.clone(), s.value).is_some() {
                return Err(TestCaseError::fail(format!("{name} {key:?} twice")));
            }
        }
        Ok(out)
    };
    prop_assert_eq!(
        got("inference_predictions_total", Some("label"))?,
        predictions
    );
    let by_model: BTreeMap<(String, String), f64> = per_model
        .into_iter()
        .map(|(m, n)| ((m, String::new()), n))
        .collect();
    prop_assert_eq!(got("inference_requests_total", None)?, by_model.clone());
    prop_assert_eq!(
        got("inference_request_latency_seconds_count", None)?,
        by_model
    );
    Ok(())
}

#[test]
fn hostile_label_values_always_render_parseable_text() {
    let requests = proptest::collection::vec((hostile(), hostile()), 1..8);
    runner()
        .run(&requests, |requests| {
            let samples = record_and_parse(&requests)?;
            let predictions: f64 = samples
                .iter()
                .filter(|s| s.name == "inference_predictions_total")
                .map(|s| s.value)
                .sum();
            prop_assert_eq!(predictions, requests.len() as f64);
            Ok(())
        })
        .unwrap();
}

#[test]
fn hostile_label_values_round_trip() {
    let value = hostile;
    let requests = proptest::collection::vec((value(), value()), 1..8);
    runner()
        .run(&requests, |requests| {
            let samples = record_and_parse(&requests)?;
            check_round_trip(&samples, &requests)
        })
        .unwrap();
}

/// metrics-exporter-prometheus (0.18) takes a backslash followed by a backslash, `"` or a line
/// feed for an escape already made: `a\\b` (two backslashes) came out as `a\\b`, which reads
/// back as one backslash, and `a\"b` as `a\"b`, which reads back as `a"b`; the model's counters
/// and its latency histogram disagreed on its name, and two values that differ only there
/// became identical series in one render. The crate's recorder now doubles backslashes before
/// the exporter escapes, and these values round-trip.
#[test]
fn a_backslash_before_a_backslash_quote_or_newline_round_trips() {
    for value in ["a\\\\b", "a\\\"b", "a\\\nb", "\\\"", "x\\\\\\\"y"] {
        let requests = vec![
            (value.to_owned(), value.to_owned()),
            (value.replace('\\', ""), value.replace('\\', "")),
        ];
        let samples = record_and_parse(&requests).unwrap();
        check_round_trip(&samples, &requests).unwrap();
    }
}

// Through the layer: model names and labels from request headers.

/// A header value: any bytes a `HeaderValue` accepts (visible ASCII, space, tab, and the bytes
/// from 0x80 up, which UTF-8 text is made of).
fn header_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\n".to_owned()),
        Just("\t".to_owned()),
        Just("é".to_owned()),
        Just("🦀".to_owned()),
        "[ -~]{1,6}",
        any::<char>()
            .prop_filter("header byte", |c| *c == '\t'
                || (*c >= ' ' && *c != '\u{7f}'))
            .prop_map(String::from),
    ];
    proptest::collection::vec(piece, 1..10).prop_map(|pieces| pieces.concat())
}

#[test]
fn hostile_header_values_as_model_names_and_labels_round_trip() {
    let value = || {
        header_value().prop_filter("a header value that round-trips upstream", |v| {
            HeaderValue::from_bytes(v.as_bytes()).is_ok()
        })
    };
    let requests = proptest::collection::vec((value(), value()), 1..8);
    runner()
        .run(&requests, |requests| {
            let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
            let monitor = Monitor::new();
            let waker = noop_waker();
            metrics::with_local_recorder(&recorder, || {
                let layer = InferenceMonitorLayer::from_request(&monitor, "fallback", |head| {
                    std::str::from_utf8(head.headers().get("x-model")?.as_bytes()).ok()
                });
                let handler = service_fn(|request: Request<()>| {
                    let label = request
                        .headers()
                        .get("x-label")
                        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                        .unwrap_or("")
                        .to_owned();
                    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                    Prediction::new(label).insert_into(&mut response);
                    ready(Ok::<_, Infallible>(response))
                });
                let mut service = layer.layer(handler);
                for (model, label) in &requests {
                    let request = Request::builder()
                        .uri("/predict")
                        .header(
                            "x-model",
                            HeaderValue::from_bytes(model.as_bytes()).unwrap(),
                        )
                        .header(
                            "x-label",
                            HeaderValue::from_bytes(label.as_bytes()).unwrap(),
                        )
                        .body(())
                        .unwrap();
                    drain(call(&mut service, request, &waker).into_body(), &waker);
                }
            });
            let text = metrics.render();
            let samples = strict_parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{e}\nin:\n{text}")))?;
            // The fallback model is registered with the layer, with no request.
            let samples: Vec<Sample> = samples
                .into_iter()
                .filter(|s| {
                    s.labels.get("model").is_none_or(|m| m != "fallback")
                        || requests.iter().any(|(m, _)| bounded(m) == "fallback")
                })
                .collect();
            check_round_trip(&samples, &requests)
        })
        .unwrap();
}

#[test]
fn the_strict_parser_rejects_broken_text() {
    for bad in [
        "x{a=\"1\"} 1",                                 // no final line feed
        "x{a=\"1\n\"} 1\n",                             // raw line feed in a value
        "x{a=\"\\t\"} 1\n",                             // unknown escape
        "x{a=\"1\",a=\"2\"} 1\n",                       // duplicate label
        "x{a=1} 1\n",                                   // unquoted value
        "x{a=\"1\"}1\n",                                // no space before the value
        "x{a=\"1\"} one\n",                             // not a number
        "1x 1\n",                                       // bad metric name
        "x{1a=\"1\"} 1\n",                              // bad label name
        "# TYPE x thing\n",                             // bad type
        "x{a=\"1\"} 1 2 3\n",                           // trailing garbage
        "x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 2\n", // one series twice
        "x 1\nx 2\n",                                   // one series twice, no labels
        "# HELP x a\n# HELP x b\n",                     // a second HELP
        "# TYPE x gauge\n# TYPE x gauge\n",             // a second TYPE
        "x_count 1\n# TYPE x histogram\n",              // TYPE after its family's samples
        "# HELP x a \\t tab\n",                         // unknown escape in HELP
        "# a comment\n",                                // neither HELP nor TYPE
    ] {
        assert!(strict_parse(bad).is_err(), "accepted {bad:?}");
    }
    let ok = strict_parse("# HELP x a\n# TYPE x counter\nx{a=\"q\\\"\\n\\\\\",b=\"é\"} 1\nx 2\n")
        .unwrap();
    assert_eq!(ok[0].labels["a"], "q\"\n\\");
    assert_eq!(ok[1].value, 2.0);
    let page = Exposition::try_parse("# HELP x a \\\\ and \\n\nx{b=\"2\",a=\"1\"} 3\n").unwrap();
    assert_eq!(page.exact("x{b=\"2\",a=\"1\"}"), Some(3.0));
    assert_eq!(page.exact("x{a=\"1\",b=\"2\"}"), None, "exact: as written");
}
