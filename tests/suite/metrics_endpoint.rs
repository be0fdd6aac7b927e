//! The `/metrics` endpoint's access control: `MetricsService::with_auth` in process (bearer and
//! basic, right and wrong), and the `axum_loan` example's `METRICS_TOKEN` and `METRICS_ADDR`
//! over real HTTP.

use crate::common;

use http::{header, Request, StatusCode};
use inference_monitor::{
    exporter::prometheus::{MetricsAuth, PrometheusRecorder},
    prometheus, MetricsHandle,
};
use tower::ServiceExt;

/// A recorder and its handle with one known counter recorded, so a rendered page is
/// recognizable by `known_total`.
fn metrics_with_a_sample() -> (PrometheusRecorder, MetricsHandle) {
    let (recorder, handle) = prometheus().build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("known_total").increment(3);
    });
    assert_eq!(
        common::Exposition::parse(&handle.render()).exact("known_total"),
        Some(3.0)
    );
    (recorder, handle)
}

async fn get(
    service: inference_monitor::exporter::prometheus::MetricsService,
    authorization: &[&str],
) -> http::Response<String> {
    let mut request = Request::get("/metrics");
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    service.oneshot(request.body(()).unwrap()).await.unwrap()
}

fn assert_denied(response: &http::Response<String>, challenge: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with(challenge)),
        "{challenges:?}"
    );
    assert!(
        !response.body().contains("known_total"),
        "a 401 leaks metrics: {}",
        response.body()
    );
}

fn assert_allowed(response: &http::Response<String>) {
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        inference_monitor::exporter::prometheus::CONTENT_TYPE
    );
    assert_eq!(
        common::Exposition::parse(response.body()).exact("known_total"),
        Some(3.0),
        "{}",
        response.body()
    );
}

#[tokio::test]
async fn without_auth_everyone_gets_the_metrics() {
    let (_recorder, handle) = metrics_with_a_sample();
    assert_allowed(&get(handle.service(), &[]).await);
}

#[tokio::test]
async fn bearer_token_no_token_is_401_with_a_challenge_and_no_metrics() {
    let (_recorder, handle) = metrics_with_a_sample();
    let service = handle.service().with_auth(MetricsAuth::bearer("s3cret"));
    let response = get(service, &[]).await;
    assert_denied(&response, "Bearer realm=\"metrics\"");
}

#[tokio::test]
async fn bearer_token_wrong_token_is_401() {
    let (_recorder, handle) = metrics_with_a_sample();
    let service = handle.service().with_auth(MetricsAuth::bearer("s3cret"));
    for wrong in [
        "Bearer s3creT",
        "Bearer s3cre",
        "Bearer s3crets",
        "Bearer ",
        "s3cret",
        "Basic s3cret",
        "Token s3cret",
    ] {
        let response = get(service.clone(), &[wrong]).await;
        assert_denied(&response, "Bearer");
    }
    // The right token, twice: ambiguous, refused.
    let response = get(service, &["Bearer s3cret", "Bearer s3cret"]).await;
    assert_denied(&response, "Bearer");
}

#[tokio::test]
async fn bearer_token_right_token_is_200_with_the_metrics() {
    let (_recorder, handle) = metrics_with_a_sample();
    let service = handle.service().with_auth(MetricsAuth::bearer("s3cret"));
    assert_allowed(&get(service.clone(), &["Bearer s3cret"]).await);
    assert_allowed(&get(service, &["bearer s3cret"]).await);
}

#[tokio::test]
async fn basic_auth_right_and_wrong() {
    let (_recorder, handle) = metrics_with_a_sample();
    // RFC 7617's example: Aladdin / open sesame.
    let service = handle
        .service()
        .with_auth(MetricsAuth::basic("Aladdin", "open sesame"));
    assert_allowed(&get(service.clone(), &["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]).await);
    let response = get(service.clone(), &[]).await;
    assert_denied(&response, "Basic realm=\"metrics\"");
    for wrong in [
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZA==", // Aladdin:open sesamd
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",   // padding missing
        "Basic Aladdin:open sesame",
        "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    ] {
        let response = get(service.clone(), &[wrong]).await;
        assert_denied(&response, "Basic");
    }
}

#[tokio::test]
async fn bearer_or_basic_both_work_and_both_are_challenged() {
    let (_recorder, handle) = metrics_with_a_sample();
    let service = handle
        .service()
        .with_auth(MetricsAuth::bearer("s3cret").or_basic("Aladdin", "open sesame"));
    assert_allowed(&get(service.clone(), &["Bearer s3cret"]).await);
    assert_allowed(&get(service.clone(), &["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]).await);
    let response = get(service, &["Bearer nope"]).await;
    assert_denied(&response, "Bearer");
    assert_denied(&response, "Basic");
}

#[tokio::test]
async fn works_as_an_axum_route() {
    let (_recorder, handle) = metrics_with_a_sample();
    let app = axum::Router::new().route_service(
        "/metrics",
        handle.service().with_auth(MetricsAuth::bearer("s3cret")),
    );
    let request = |auth: Option<&str>| {
        let mut request = Request::get("/metrics");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        request.body(axum::body::Body::empty()).unwrap()
    };
    let denied = app.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert!(denied.headers().contains_key(header::WWW_AUTHENTICATE));
    let allowed = app.oneshot(request(Some("Bearer s3cret"))).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
}

// Over real HTTP: the example servers with `METRICS_TOKEN` and `METRICS_ADDR`.

const TOKEN: &str = "0123456789abcdef-example-token";

/// The address of `/metrics` in the banner (`common::Server::metrics_addr`).
fn metrics_addr_from_banner(server: &common::Server) -> std::net::SocketAddr {
    server.metrics_addr()
}

fn assert_example_denies(addr: std::net::SocketAddr, headers: &[(&str, &str)]) {
    let res = common::http(addr, "GET", "/metrics", headers, b"");
    assert_eq!(res.status, 401, "{headers:?}: {}", res.body);
    assert_eq!(
        res.header("www-authenticate"),
        Some("Bearer realm=\"metrics\""),
        "{:?}",
        res.headers
    );
    assert!(!res.body.contains("inference_"), "{}", res.body);
}

fn token_protects_metrics(example: &str) {
    let server = common::start_example(example, &[("METRICS_TOKEN", TOKEN)]);
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("metrics access: bearer token required")),
        "banner: {:?}",
        server.banner
    );
    assert!(
        !server.banner.iter().any(|l| l.contains(TOKEN)),
        "the banner prints the token: {:?}",
        server.banner
    );
    assert_eq!(metrics_addr_from_banner(&server), server.addr);

    assert_example_denies(server.addr, &[]);
    assert_example_denies(server.addr, &[("Authorization", "Bearer wrong")]);
    assert_example_denies(
        server.addr,
        &[("Authorization", &format!("Bearer {TOKEN}x"))],
    );

    let good = format!("Bearer {TOKEN}");
    let res = common::http(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", &good)],
        b"",
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let page = common::Exposition::parse(&res.body);
    assert_eq!(
        page.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(0.0)
    );
    // The rest of the API is unchanged.
    assert_eq!(
        common::http(server.addr, "GET", "/healthz", &[], b"").status,
        200
    );
}

fn separate_listener_serves_metrics(example: &str) {
    let server = common::start_example(
        example,
        &[("METRICS_ADDR", "127.0.0.1:0"), ("METRICS_TOKEN", TOKEN)],
    );
    let metrics = metrics_addr_from_banner(&server);
    assert_ne!(metrics, server.addr, "banner: {:?}", server.banner);
    assert_ne!(metrics.port(), 0, "the banner must show the real port");
    assert!(
        server
            .banner
            .last()
            .is_some_and(|l| l.starts_with(&format!("{example} listening on http://"))),
        "banner: {:?}",
        server.banner
    );

    // The main address: no /metrics at all, even with the token.
    let good = format!("Bearer {TOKEN}");
    let res = common::http(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", &good)],
        b"",
    );
    assert_eq!(res.status, 404, "{}", res.body);
    let res = common::post_json(server.addr, "/predict", common::loan_api::GOOD);
    assert_eq!(res.status, 200, "{}", res.body);

    // The metrics listener: the token still applies, and the prediction above is counted.
    assert_example_denies(metrics, &[]);
    let res = common::http(metrics, "GET", "/metrics", &[("Authorization", &good)], b"");
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        common::Exposition::parse(&res.body).value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(1.0)
    );
    // It serves /metrics only.
    let res = common::http(metrics, "GET", "/predict", &[], b"");
    assert_eq!(res.status, 404, "{}", res.body);
}

#[test]
fn axum_loan_metrics_token_requires_the_bearer_token() {
    token_protects_metrics("axum_loan");
}

#[test]
fn axum_loan_metrics_addr_moves_metrics_to_its_own_listener() {
    separate_listener_serves_metrics("axum_loan");
}

#[test]
fn hyper_loan_metrics_token_requires_the_bearer_token() {
    token_protects_metrics("hyper_loan");
}

#[test]
fn hyper_loan_metrics_addr_moves_metrics_to_its_own_listener() {
    separate_listener_serves_metrics("hyper_loan");
}

#[test]
fn actix_loan_metrics_token_requires_the_bearer_token() {
    token_protects_metrics("actix_loan");
}

#[test]
fn actix_loan_metrics_addr_moves_metrics_to_its_own_listener() {
    separate_listener_serves_metrics("actix_loan");
}

/// The separate listener of `axum_loan` drops a client that connects and sends no request head.
#[test]
fn axum_loan_metrics_listener_times_out_a_silent_client() {
    use std::io::Read;

    let server = common::start_example("axum_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    let metrics = metrics_addr_from_banner(&server);
    let mut silent = std::net::TcpStream::connect(metrics).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    // hyper answers 408 or just closes; either way the connection ends.
    let _ = silent.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(4) && waited < std::time::Duration::from_secs(15),
        "closed after {waited:?}"
    );
    // And the listener still serves.
    assert_eq!(
        common::http(metrics, "GET", "/metrics", &[], b"").status,
        200
    );
}
