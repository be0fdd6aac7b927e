//! `axum_loan`, `hyper_loan` and `actix_loan` answer the same traffic the same way and report the same
//! metrics: identical statuses and JSON bodies, and identical series of the four request
//! metrics on `/metrics` (the same label sets everywhere, the same values for every counter,
//! gauge and `_count`; only the latency `_sum` and `_bucket` values may differ, since they
//! measure time). The opt-in signals only `axum_loan` shows (stages, confidence, model info)
//! are checked by `tests/suite/axum_loan.rs`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use common::{http, scrape, start_example, Exposition};

use common::loan_api::{GOOD, RISKY};

/// One request of the traffic, with the status both servers must answer.
struct Step {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
}

fn traffic() -> Vec<Step> {
    let json = Some("application/json");
    let step = |what, method, path, content_type, body: &[u8], status| Step {
        what,
        method,
        path,
        content_type,
        body: body.to_vec(),
        status,
    };
    let too_large = format!("{{\"pad\": \"{}\"}}", "x".repeat(20 * 1024));
    vec![
        step("approved", "POST", "/predict", json, GOOD.as_bytes(), 200),
        step("rejected", "POST", "/predict", json, RISKY.as_bytes(), 200),
        step(
            "missing fields",
            "POST",
            "/predict",
            json,
            br#"{"applicant_income": 5000}"#,
            422,
        ),
        step(
            "bad syntax",
            "POST",
            "/predict",
            json,
            b"{\"applicant_income\": ",
            400,
        ),
        step(
            "wrong content type",
            "POST",
            "/predict",
            Some("text/plain"),
            GOOD.as_bytes(),
            415,
        ),
        step(
            "too large",
            "POST",
            "/predict",
            json,
            too_large.as_bytes(),
            413,
        ),
        step("wrong method", "GET", "/predict", None, b"", 405),
        // Outside the monitored route: answered alike, counted by neither.
        step("unknown path", "GET", "/nope", None, b"", 404),
        step("health", "GET", "/healthz", None, b"", 200),
    ]
}

/// What a server answered to one step: its status, content type and parsed JSON body.
type Answer = (u16, Option<String>, serde_json::Value);

/// Sends the whole traffic to `addr`, checking each status, and returns the answers.
fn replay(server: &str, addr: SocketAddr) -> Vec<Answer> {
    traffic()
        .iter()
        .map(|step| {
            let headers: Vec<(&str, &str)> = step
                .content_type
                .map(|ct| ("Content-Type", ct))
                .into_iter()
                .collect();
            let res = http(addr, step.method, step.path, &headers, &step.body);
            assert_eq!(
                res.status, step.status,
                "{server}, {}: {}",
                step.what, res.body
            );
            let content_type = res.header("content-type").map(str::to_owned);
            (res.status, content_type, res.json())
        })
        .collect()
}

/// The `inference_*` series of a scrape, keyed by name and labels; the value is left out
/// (`None`) for the latency `_sum` and `_bucket` series, which measure time.
type Series = BTreeMap<(String, BTreeMap<String, String>), Option<f64>>;

fn inference_series(m: &Exposition) -> Series {
    let mut series = Series::new();
    for s in m.samples.iter().filter(|s| is_request_metric(&s.name)) {
        let timed = s.name.ends_with("_sum") || s.name.ends_with("_bucket");
        let value = (!timed).then_some(s.value);
        let previous = series.insert((s.name.clone(), s.labels.clone()), value);
        assert!(
            previous.is_none(),
            "duplicate series {} {:?}",
            s.name,
            s.labels
        );
    }
    series
}

/// The HELP and TYPE lines of the `inference_*` families.
/// Whether `name` is one of the four request metrics (a histogram's series included).
fn is_request_metric(name: &str) -> bool {
    use inference_monitor::names;
    [
        names::REQUESTS_TOTAL,
        names::REQUEST_LATENCY_SECONDS,
        names::PREDICTIONS_TOTAL,
        names::INPROGRESS_REQUESTS,
    ]
    .iter()
    .any(|metric| name.starts_with(metric))
}

fn inference_metadata(m: &Exposition) -> BTreeSet<(String, String, String)> {
    let help = m.help.iter().map(|(k, v)| ("HELP", k, v));
    let types = m.types.iter().map(|(k, v)| ("TYPE", k, v));
    help.chain(types)
        .filter(|(_, name, _)| is_request_metric(name))
        .map(|(kind, name, text)| (kind.to_owned(), name.clone(), text.clone()))
        .collect()
}

/// Lists every series whose presence or value differs, for the failure message.
fn differences(a: &Series, b: &Series) -> Vec<String> {
    let keys: BTreeSet<_> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|(name, labels)| {
            let key = (name.clone(), labels.clone());
            format!(
                "{name}{labels:?}: axum_loan {:?}, hyper_loan {:?}",
                a.get(&key),
                b.get(&key)
            )
        })
        .collect()
}

#[test]
fn the_three_servers_answer_and_count_identically() {
    let axum = start_example("axum_loan", &[]);
    let hyper = start_example("hyper_loan", &[]);

    let axum_answers = replay("axum_loan", axum.addr);
    let hyper_answers = replay("hyper_loan", hyper.addr);
    for ((step, a), h) in traffic().iter().zip(&axum_answers).zip(&hyper_answers) {
        assert_eq!(a, h, "{}: the servers answered differently", step.what);
        if a.0 >= 400 {
            assert!(
                a.2["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{}: {}",
                step.what,
                a.2
            );
        }
    }

    let axum_metrics = scrape(axum.addr);
    let hyper_metrics = scrape(hyper.addr);
    let a = inference_series(&axum_metrics);
    let h = inference_series(&hyper_metrics);

    // The comparison is only worth something if the traffic was counted as expected.
    let requests = |outcome: &str| {
        a.get(&(
            "inference_requests_total".to_owned(),
            BTreeMap::from([
                ("model".to_owned(), "loan".to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ]),
        ))
        .copied()
        .flatten()
    };
    assert_eq!(requests("success"), Some(2.0));
    assert_eq!(requests("client_error"), Some(5.0));
    assert_eq!(
        axum_metrics.sum("inference_predictions_total", &[("model", "loan")]),
        2.0
    );
    assert!(
        a.keys()
            .any(|(name, _)| name == "inference_request_latency_seconds_bucket"),
        "no latency buckets: {a:?}"
    );

    let diff = differences(&a, &h);
    assert!(
        diff.is_empty(),
        "inference_* series differ:\n{}",
        diff.join("\n")
    );
    assert_eq!(
        inference_metadata(&axum_metrics),
        inference_metadata(&hyper_metrics)
    );

    // actix_loan, with the crate's native actix middleware: the same answers and, for model
    // `loan`, the same series and values (its extra `loan_macro` model is the macro route's).
    let actix = start_example("actix_loan", &[]);
    let actix_answers = replay("actix_loan", actix.addr);
    for ((step, a), x) in traffic().iter().zip(&axum_answers).zip(&actix_answers) {
        assert_eq!(
            a, x,
            "{}: axum_loan and actix_loan answered differently",
            step.what
        );
    }
    let actix_metrics = scrape(actix.addr);
    let mut x = inference_series(&actix_metrics);
    x.retain(|(_, labels), _| labels.get("model").map(String::as_str) == Some("loan"));
    let diff = differences(&a, &x);
    assert!(
        diff.is_empty(),
        "inference_* series differ between axum_loan and actix_loan:\n{}",
        diff.join("\n")
    );
    assert_eq!(
        inference_metadata(&axum_metrics),
        inference_metadata(&actix_metrics)
    );
}
