//! The `/metrics` endpoint's access control: `MetricsService::with_auth` in process (bearer and
//! basic, right and wrong), and the `axum_loan` example's `METRICS_TOKEN` and `METRICS_ADDR`
//! over real HTTP.

mod common;

use http::{header, Request, StatusCode};
use inference_monitor::{prometheus, MetricsAuth, MetricsHandle, PrometheusRecorder};
use tower::ServiceExt;

/// A recorder and its handle with one known counter recorded, so a rendered page is
/// recognizable by `known_total`.
fn metrics_with_a_sample() -> (PrometheusRecorder, MetricsHandle) {
    let (recorder, handle) = prometheus().build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("known_total").increment(3);
    });
    assert!(handle.render().contains("known_total 3"));
    (recorder, handle)
}

async fn get(
    service: inference_monitor::MetricsService,
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
    assert!(
        response.body().contains("known_total 3"),
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
