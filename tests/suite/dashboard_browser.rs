//! The live dashboard (`/dashboard`, feature `dashboard`) in a real browser: headless Chromium
//! opens the page served by the real `axum_loan` (or by a scripted server for the hostile and
//! broken cases), lets it poll `/metrics`, and the numbers it shows are checked against
//! `/metrics` itself. Chromium comes with `.ci/run`; elsewhere a missing browser skips with
//! what to install (`sudo apt-get install chromium`), and fails in CI.
//!
//! `UPDATE_SCREENSHOT=1 cargo test --all-features --test suite dashboard_browser::screenshot`
//! also writes the README's `docs/img/dashboard.png`.

use crate::common;
use crate::common::browser;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use browser::{Chromium, Dom, Reply, ScriptedServer};
use common::loan_api::{GOOD, RISKY};
use common::{http, post_json, Exposition};
use inference_monitor::Dashboard;

/// Virtual time for the page to load and poll a few times (it polls every second).
const POLLS: u32 = 3500;

const TOKEN: &str = "dashboard-test-token-0123456789";

/// Prometheus' `histogram_quantile`, in the same order of operations as the page's
/// `histogramQuantile` (assets/dashboard/core.js), so both give the same float.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut max = f64::NEG_INFINITY;
    let counts: Vec<f64> = sorted
        .iter()
        .map(|b| {
            max = max.max(b.1);
            max
        })
        .collect();
    let observations = counts[counts.len() - 1];
    let mut rank = q * observations;
    let mut b = 0;
    while b < counts.len() - 1 && counts[b] < rank {
        b += 1;
    }
    if b == counts.len() - 1 {
        return sorted[counts.len() - 2].0;
    }
    let end = sorted[b].0;
    let mut start = 0.0;
    let mut count = counts[b];
    if b > 0 {
        start = sorted[b - 1].0;
        count -= counts[b - 1];
        rank -= counts[b - 1];
    }
    start + (end - start) * (rank / count)
}

/// The latency buckets of model `loan`, summed over the outcomes, by `le`.
fn loan_buckets(metrics: &Exposition) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for s in metrics.matching(
        "inference_request_latency_seconds_bucket",
        &[("model", "loan")],
    ) {
        let le = match s.labels["le"].as_str() {
            "+Inf" => f64::INFINITY,
            le => le.parse().unwrap(),
        };
        match buckets.iter_mut().find(|b| b.0 == le) {
            Some(b) => b.1 += s.value,
            None => buckets.push((le, s.value)),
        }
    }
    buckets
}

fn text(dom: &Dom, id: &str) -> String {
    dom.text(id)
        .unwrap_or_else(|| panic!("no data-testid=\"{id}\" in the page:\n{}", dom.0))
}

fn get_metrics(addr: SocketAddr, headers: &[(&str, &str)]) -> Exposition {
    let res = http(addr, "GET", "/metrics", headers, b"");
    assert_eq!(res.status, 200, "{}", res.body);
    Exposition::parse(&res.body)
}

/// The numbers on the page of `axum_loan` equal those of its `/metrics`, to the request.
#[test]
fn shows_exactly_what_metrics_says() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let server = common::start_example("axum_loan", &[]);
    let addr = server.addr;
    let dashboard_line = format!("dashboard: http://{addr}/dashboard");
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.trim_start().starts_with(&dashboard_line)),
        "banner: {:?}",
        server.banner
    );
    assert_eq!(
        server.banner.last().unwrap(),
        &format!("axum_loan listening on http://{addr}")
    );

    // The page over plain HTTP: HTML with its protective headers; GET only.
    let page = http(addr, "GET", "/dashboard", &[], b"");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|csp| csp.contains("connect-src 'self'")));
    assert!(
        page.body == Dashboard::new().html(),
        "GET /dashboard is not the page of Dashboard::new() ({} bytes)",
        page.body.len()
    );
    assert_eq!(http(addr, "POST", "/dashboard", &[], b"").status, 405);

    // Known traffic: 4 approved, 2 rejected, 3 invalid.
    for body in [GOOD, GOOD, RISKY, GOOD, RISKY, GOOD] {
        assert_eq!(post_json(addr, "/predict", body).status, 200);
    }
    for body in [r#"{"applicant_income": 5000}"#, "{}", "not json"] {
        let status = post_json(addr, "/predict", body).status;
        assert!((400..500).contains(&status), "{status}");
    }

    let metrics = get_metrics(addr, &[]);
    let dom = chromium.dom(&format!("http://{addr}/dashboard"), POLLS);
    let loan = |outcome: &str| {
        metrics
            .value(
                "inference_requests_total",
                &[("model", "loan"), ("outcome", outcome)],
            )
            .unwrap()
    };
    assert_eq!(
        (loan("success"), loan("client_error"), loan("server_error")),
        (6.0, 3.0, 0.0)
    );
    let total = metrics.sum("inference_requests_total", &[("model", "loan")]);
    assert_eq!(total, 9.0);

    assert_eq!(dom.attr("status", "data-state").as_deref(), Some("live"));
    assert_eq!(text(&dom, "model"), "model: loan");
    assert_eq!(text(&dom, "total-requests"), total.to_string());
    assert_eq!(text(&dom, "total-requests"), "9");
    assert_eq!(text(&dom, "success"), loan("success").to_string());
    assert_eq!(text(&dom, "success"), "6");
    assert_eq!(text(&dom, "client-error"), "3");
    assert_eq!(text(&dom, "server-error"), "0");
    assert_eq!(text(&dom, "cancelled"), "0");
    assert_eq!(text(&dom, "error-ratio"), "33.3%");
    assert_eq!(text(&dom, "in-progress"), "0");

    let approved = metrics
        .value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")],
        )
        .unwrap();
    let rejected = metrics
        .value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "rejected")],
        )
        .unwrap();
    assert_eq!((approved, rejected), (4.0, 2.0));
    assert_eq!(text(&dom, "count-approved"), "4");
    assert_eq!(text(&dom, "count-rejected"), "2");
    assert_eq!(text(&dom, "share-approved"), "66.7%");
    assert_eq!(text(&dom, "share-rejected"), "33.3%");
    assert_eq!(
        dom.texts("<td class=\"label\">"),
        ["approved", "rejected"],
        "one row per predicted label"
    );

    // The percentiles: the page's float equals histogram_quantile over /metrics' buckets.
    let buckets = loan_buckets(&metrics);
    assert_eq!(buckets.iter().find(|b| b.0.is_infinite()).unwrap().1, 9.0);
    for (id, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
        let shown: f64 = dom.attr(id, "data-value").unwrap().parse().unwrap();
        assert_eq!(shown, histogram_quantile(q, &buckets), "{id}");
        assert!(shown > 0.0, "{id}: {shown}");
    }
}

/// With `METRICS_TOKEN`, the page is served without it and asks for it; given in the
/// fragment, it is sent as a bearer token and the numbers appear.
#[test]
fn works_when_metrics_wants_a_bearer_token() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let server = common::start_example("axum_loan", &[("METRICS_TOKEN", TOKEN)]);
    let addr = server.addr;
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("/dashboard") && l.contains("asks for METRICS_TOKEN")),
        "banner: {:?}",
        server.banner
    );
    assert!(!server.banner.iter().any(|l| l.contains(TOKEN)));
    assert_eq!(post_json(addr, "/predict", GOOD).status, 200);
    assert_eq!(http(addr, "GET", "/metrics", &[], b"").status, 401);
    assert_eq!(http(addr, "GET", "/dashboard", &[], b"").status, 200);

    let without = chromium.dom(&format!("http://{addr}/dashboard"), POLLS);
    assert_eq!(
        without.attr("status", "data-state").as_deref(),
        Some("unauthorized")
    );
    assert!(text(&without, "status").contains("wants a bearer token"));
    assert_eq!(text(&without, "total-requests"), "–");
    assert!(
        without.contains("<form id=\"token-form\">"),
        "the token form is shown"
    );

    let wrong = chromium.dom(
        &format!("http://{addr}/dashboard#token=not-the-token"),
        POLLS,
    );
    assert_eq!(
        wrong.attr("status", "data-state").as_deref(),
        Some("unauthorized")
    );
    assert_eq!(
        text(&wrong, "status"),
        "no data: the token was refused (401); enter the right one"
    );
    assert!(
        !wrong.contains("not-the-token"),
        "the token is not shown in the page"
    );

    let with = chromium.dom(&format!("http://{addr}/dashboard#token={TOKEN}"), POLLS);
    assert_eq!(with.attr("status", "data-state").as_deref(), Some("live"));
    let bearer = format!("Bearer {TOKEN}");
    let metrics = get_metrics(addr, &[("Authorization", &bearer)]);
    assert_eq!(
        metrics.sum("inference_requests_total", &[("model", "loan")]),
        1.0
    );
    assert_eq!(text(&with, "total-requests"), "1");
    assert_eq!(text(&with, "success"), "1");
    assert_eq!(text(&with, "share-approved"), "100.0%");
    assert!(with.contains("<form id=\"token-form\" hidden=\"\">"));
}

/// The address of the dashboard, from the `dashboard: http://ADDR/dashboard` line of the
/// server's banner.
fn dashboard_addr(server: &common::Server) -> SocketAddr {
    let line = server
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("dashboard: http://"))
        .unwrap_or_else(|| panic!("banner: {:?}", server.banner));
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/dashboard").next())
        .unwrap()
        .parse()
        .unwrap()
}

/// With `METRICS_ADDR`, the dashboard moves with `/metrics` to the metrics listener.
#[test]
fn is_served_on_the_metrics_listener() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let server = common::start_example("axum_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    let metrics_addr = dashboard_addr(&server);
    assert_ne!(metrics_addr, server.addr);
    assert_eq!(http(server.addr, "GET", "/dashboard", &[], b"").status, 404);
    assert_eq!(
        http(metrics_addr, "GET", "/dashboard", &[], b"").status,
        200
    );

    assert_eq!(post_json(server.addr, "/predict", RISKY).status, 200);
    let dom = chromium.dom(&format!("http://{metrics_addr}/dashboard"), POLLS);
    assert_eq!(text(&dom, "total-requests"), "1");
    assert_eq!(text(&dom, "count-rejected"), "1");
    assert_eq!(text(&dom, "share-rejected"), "100.0%");
}

/// The README's screenshot: the real demo under mixed traffic (approved, rejected, invalid,
/// injected model errors). Written to `docs/img/dashboard.png` with `UPDATE_SCREENSHOT=1`.
#[test]
fn screenshot_of_the_demo_under_traffic() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let server = common::start_example("axum_loan", &[("INJECT_FAULTS", "1")]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let status = match sent % 20 {
                    0..=11 => post_json(addr, "/predict", GOOD).status,
                    12..=16 => post_json(addr, "/predict", RISKY).status,
                    17 | 18 => post_json(addr, "/predict", "{}").status,
                    _ => {
                        http(
                            addr,
                            "POST",
                            "/predict",
                            &[
                                ("Content-Type", "application/json"),
                                ("x-inject-fault", "model-error"),
                            ],
                            GOOD.as_bytes(),
                        )
                        .status
                    }
                };
                assert!(matches!(status, 200 | 422 | 500), "{status}");
                sent += 1;
                std::thread::sleep(Duration::from_millis(2 + u64::from(sent % 7)));
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let dir = common::stack::TempDir::new("dashboard-shot");
    let png = dir.path().join("dashboard.png");
    chromium.screenshot(&format!("http://{addr}/dashboard"), 40_000, &png);
    stop.store(true, Ordering::Relaxed);
    let sent = traffic.join().unwrap();
    assert!(sent > 20, "{sent}");

    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 900));
    if std::env::var("UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let target =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/img/dashboard.png");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &bytes).unwrap();
        eprintln!("wrote {}", target.display());
    }
}

/// A scripted `/metrics` page for model `loan`: outcome counts, label counts, one bucket set.
fn loan_page(success: u32, client_error: u32, approved: u32, rejected: u32) -> String {
    let total = success + client_error;
    format!(
        "# TYPE inference_requests_total counter\n\
         inference_requests_total{{model=\"loan\",outcome=\"success\"}} {success}\n\
         inference_requests_total{{model=\"loan\",outcome=\"client_error\"}} {client_error}\n\
         inference_predictions_total{{model=\"loan\",label=\"approved\"}} {approved}\n\
         inference_predictions_total{{model=\"loan\",label=\"rejected\"}} {rejected}\n\
         inference_inprogress_requests{{model=\"loan\"}} 0\n\
         inference_request_latency_seconds_bucket{{model=\"loan\",outcome=\"success\",le=\"0.01\"}} {total}\n\
         inference_request_latency_seconds_bucket{{model=\"loan\",outcome=\"success\",le=\"+Inf\"}} {total}\n"
    )
}

fn dashboard_pages() -> Vec<(&'static str, http::Response<String>)> {
    vec![("/dashboard", Dashboard::new().response())]
}

/// The endpoint goes down (an error status, then no answer at all) and comes back as a new
/// process whose counters restarted: the page says "no data", then recovers, counts one reset
/// and shows the new process's totals.
#[test]
fn recovers_from_an_outage_and_a_counter_reset() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let server = ScriptedServer::start(dashboard_pages(), |n| match n {
        1 => Reply::Metrics(loan_page(10, 2, 8, 2)),
        2 => Reply::Metrics(loan_page(20, 4, 16, 4)),
        3 => Reply::Status(503),
        4 => Reply::Hangup,
        _ => Reply::Metrics(loan_page(3, 1, 2, 1)),
    });
    let dom = chromium.dom(&format!("http://{}/dashboard", server.addr), 8000);
    assert!(
        server.metrics_requests() >= 6,
        "{}",
        server.metrics_requests()
    );
    assert_eq!(dom.attr("status", "data-state").as_deref(), Some("live"));
    assert_eq!(text(&dom, "total-requests"), "4");
    assert_eq!(text(&dom, "success"), "3");
    assert_eq!(text(&dom, "client-error"), "1");
    assert_eq!(text(&dom, "count-approved"), "2");
    assert_eq!(text(&dom, "share-approved"), "66.7%");
    assert_eq!(dom.attr("resets", "data-count").as_deref(), Some("1"));
    assert!(text(&dom, "resets").starts_with("counters reset 1×"));
}

/// An endpoint that stops answering, or answers an error, leaves a clear "no data" state.
#[test]
fn shows_no_data_while_the_endpoint_is_down() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let unreachable = ScriptedServer::start(dashboard_pages(), |n| match n {
        1 => Reply::Metrics(loan_page(5, 1, 4, 1)),
        _ => Reply::Hangup,
    });
    let dom = chromium.dom(&format!("http://{}/dashboard", unreachable.addr), POLLS);
    assert!(unreachable.metrics_requests() >= 2);
    assert_eq!(dom.attr("status", "data-state").as_deref(), Some("no-data"));
    assert_eq!(
        text(&dom, "status"),
        "no data: /metrics is unreachable; retrying"
    );
    let body_tag = &dom.0[dom.0.find("<body").unwrap()..];
    let body_tag = &body_tag[..body_tag.find('>').unwrap()];
    assert!(
        body_tag.ends_with(" class=\"stale\""),
        "greyed out: {body_tag}"
    );
    // The last numbers read stay, greyed.
    assert_eq!(text(&dom, "total-requests"), "6");

    let failing = ScriptedServer::start(dashboard_pages(), |_| Reply::Status(503));
    let dom = chromium.dom(&format!("http://{}/dashboard", failing.addr), POLLS);
    assert_eq!(dom.attr("status", "data-state").as_deref(), Some("no-data"));
    assert_eq!(
        text(&dom, "status"),
        "no data: /metrics answered 503; retrying"
    );
    assert_eq!(text(&dom, "total-requests"), "–");
}

/// Markup, quotes, backslashes and newlines in label values are shown as text: no element is
/// made from them and no script runs. A control page that does insert the same value as HTML,
/// under the same Content-Security-Policy, proves that the check would see a script run.
#[test]
fn label_values_are_text_never_markup() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let img = r#"<img src=x onerror="document.body.setAttribute('data-pwned','1')">"#;
    let script = "<script>document.body.setAttribute('data-pwned','2')</script>";
    let quote = "quote\"q";
    let backslash = "back\\slash\nnewline";
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let metrics = format!(
        "inference_requests_total{{model=\"loan\",outcome=\"success\"}} 5\n\
         inference_requests_total{{model=\"{s}\",outcome=\"success\"}} 1\n\
         inference_predictions_total{{model=\"loan\",label=\"{i}\"}} 2\n\
         inference_predictions_total{{model=\"loan\",label=\"{q}\"}} 1\n\
         inference_predictions_total{{model=\"loan\",label=\"{b}\"}} 1\n",
        s = escape(script),
        i = escape(img),
        q = escape(quote),
        b = escape(backslash),
    );
    // The parser of the tests reads the crafted page back to the same values.
    let parsed = Exposition::parse(&metrics);
    assert_eq!(
        parsed.label_values("inference_predictions_total", "label"),
        [img, quote, backslash]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );

    // The dashboard's policy allows its own scripts only, by their hashes: an injected handler
    // could not run even if a value became markup. To test the escaping itself, the page is
    // also served under a policy that allows any inline script (`'unsafe-inline'`), where an
    // injected handler would run; the control page inserts the value as HTML under that same
    // policy, which proves the check sees a handler that runs.
    let strict = Dashboard::new().response();
    let csp = strict.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let script_src = csp
        .split("; ")
        .find(|d| d.starts_with("script-src "))
        .unwrap();
    assert!(
        script_src.contains("'sha256-") && !script_src.contains("unsafe"),
        "{csp}"
    );
    let permissive_csp = csp.replace(script_src, "script-src 'unsafe-inline'");
    let mut permissive = Dashboard::new().response();
    permissive
        .headers_mut()
        .insert("content-security-policy", permissive_csp.parse().unwrap());
    let control = http::Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", permissive_csp.as_str())
        .body(format!(
            "<!doctype html><html><body><div id=\"x\"></div><script>\
             document.getElementById('x').innerHTML = {};</script></body></html>",
            serde_json::to_string(img).unwrap()
        ))
        .unwrap();
    let pages = vec![
        ("/dashboard", strict),
        ("/permissive", permissive),
        ("/control", control),
    ];
    let server = ScriptedServer::start(pages, move |_| Reply::Metrics(metrics.clone()));

    let control = chromium.dom(&format!("http://{}/control", server.addr), 1000);
    assert!(
        control.contains("data-pwned=\"1\""),
        "the control page must show the injected handler running: {}",
        control.0
    );

    for path in ["/permissive", "/dashboard"] {
        let dom = chromium.dom(&format!("http://{}{path}?model=loan", server.addr), POLLS);
        assert_eq!(
            dom.attr("status", "data-state").as_deref(),
            Some("live"),
            "{path}"
        );
        assert!(
            !dom.contains("data-pwned=\""),
            "{path}: a script ran: {}",
            dom.0
        );
        assert!(
            !dom.contains("<img"),
            "{path}: an element was made from a label value"
        );
        assert_hostile_values_shown_as_text(&dom, img, script, quote, backslash);
    }
}

fn assert_hostile_values_shown_as_text(
    dom: &Dom,
    img: &str,
    script: &str,
    quote: &str,
    backslash: &str,
) {
    // Sorted by the label as text: "<img…" < "back…" < "quote…".
    assert_eq!(dom.texts("<td class=\"label\">"), [img, backslash, quote]);
    assert_eq!(text(dom, "total-requests"), "5");
    // The two models, the hostile one as an option's text.
    let options = dom.texts("<option value=\"");
    assert_eq!(options.len(), 2, "{options:?}");
    assert!(dom.0.contains(&format!(
        ">{}</option>",
        script.replace('<', "&lt;").replace('>', "&gt;")
    )));
}

/// Hundreds of series: 120 models and 250 labels for one of them; the page lists them all
/// and selects the model given in `?model=`.
#[test]
fn handles_hundreds_of_series() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let mut metrics = String::new();
    for m in 0..120 {
        metrics.push_str(&format!(
            "inference_requests_total{{model=\"m{m:03}\",outcome=\"success\"}} {m}\n\
             inference_request_latency_seconds_bucket{{model=\"m{m:03}\",outcome=\"success\",le=\"0.1\"}} {m}\n\
             inference_request_latency_seconds_bucket{{model=\"m{m:03}\",outcome=\"success\",le=\"+Inf\"}} {m}\n"
        ));
    }
    for l in 0..250 {
        metrics.push_str(&format!(
            "inference_predictions_total{{model=\"m042\",label=\"l{l:03}\"}} 1\n"
        ));
    }
    let server = ScriptedServer::start(dashboard_pages(), move |_| Reply::Metrics(metrics.clone()));
    let dom = chromium.dom(
        &format!("http://{}/dashboard?model=m042", server.addr),
        POLLS,
    );
    assert_eq!(dom.attr("status", "data-state").as_deref(), Some("live"));
    assert_eq!(dom.texts("<option value=\"").len(), 120);
    assert!(dom.contains("<option value=\"m042\">m042</option>"));
    assert_eq!(text(&dom, "total-requests"), "42");
    assert_eq!(dom.texts("<td class=\"label\">").len(), 250);
    assert_eq!(text(&dom, "count-l249"), "1");
    assert_eq!(text(&dom, "share-l000"), "0.4%");
    // 42 observations, all at or under 0.1 s: the median is 0.05 s.
    assert_eq!(dom.attr("p50", "data-value").as_deref(), Some("0.05"));
}

/// `hyper_loan` and `actix_loan` serve the same page next to `/metrics`, announce it in their
/// banners, and move it with `/metrics` to the `METRICS_ADDR` listener. Plain HTTP: no browser.
#[test]
fn every_example_serves_the_dashboard() {
    for example in ["hyper_loan", "actix_loan"] {
        let server = common::start_example(example, &[]);
        let addr = server.addr;
        assert!(
            server.banner.iter().any(|l| l
                .trim_start()
                .starts_with(&format!("dashboard: http://{addr}/dashboard"))),
            "{example} banner: {:?}",
            server.banner
        );
        assert_eq!(
            server.banner.last().unwrap(),
            &format!("{example} listening on http://{addr}")
        );
        let page = http(addr, "GET", "/dashboard", &[], b"");
        assert_eq!(page.status, 200, "{example}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{example}"
        );
        assert!(
            page.header("content-security-policy")
                .is_some_and(|csp| csp.contains("connect-src 'self'")),
            "{example}: {:?}",
            page.headers
        );
        assert!(
            page.body == Dashboard::new().html(),
            "{example}: GET /dashboard is not the page of Dashboard::new()"
        );
        assert_eq!(
            http(addr, "POST", "/dashboard", &[], b"").status,
            405,
            "{example}"
        );

        let separate = common::start_example(example, &[("METRICS_ADDR", "127.0.0.1:0")]);
        let at = dashboard_addr(&separate);
        assert_ne!(at, separate.addr, "{example}");
        assert_eq!(
            http(at, "GET", "/dashboard", &[], b"").status,
            200,
            "{example}"
        );
        assert_eq!(
            http(separate.addr, "GET", "/dashboard", &[], b"").status,
            404,
            "{example}"
        );
    }
}
