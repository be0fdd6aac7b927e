//! Model names from the request: the Open Inference Protocol path (`open_inference`, bounded by
//! the model limiter or by `only_models`) and axum's `MatchedPath` through `from_request`, with
//! exact counts through a local test recorder.

use axum::extract::MatchedPath;
use axum::routing::post;
use axum::Router;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use inference_monitor::testing::TestRecorder;
use inference_monitor::{tower::OpenInference, InferenceMonitorLayer, Monitor};
use tower::{Layer, Service, ServiceExt};

use crate::common::handlers::Answer;
use crate::common::recorded::{requests, REQUESTS};

type Bytes = axum::body::Bytes;

/// The distinct `model` values of the requests counter.
fn models(rec: &TestRecorder) -> Vec<String> {
    let mut names: Vec<String> = rec
        .series(REQUESTS)
        .into_iter()
        .filter_map(|labels| {
            labels
                .into_iter()
                .find(|(k, _)| k == "model")
                .map(|(_, v)| v)
        })
        .collect();
    names.dedup();
    names
}

fn ok_service() -> Answer {
    Answer::ok(b"{}")
}

async fn post_to<S>(svc: &S, path: &str)
where
    S: Service<
            Request<()>,
            Response = Response<inference_monitor::tower::ResponseBody<Full<Bytes>>>,
        > + Clone,
    S::Error: std::fmt::Debug,
{
    let res = svc
        .clone()
        .oneshot(Request::post(path).body(()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
}

#[tokio::test]
async fn names_from_the_path_are_bounded_by_the_model_limiter() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::builder().max_models(3).build().unwrap();
    let svc = InferenceMonitorLayer::open_inference(&monitor, "unknown").layer(ok_service());

    post_to(&svc, "/v2/models/loan/infer").await;
    post_to(&svc, "/v2/models/loan/versions/7/infer").await;
    post_to(&svc, "/v2/models/iris/infer").await;
    // Not inference paths of the protocol: the fallback.
    for path in [
        "/v2/models/loan/ready",
        "/v2/models//infer",
        "/v2/models/loan/versions//infer",
        "/v2/models/loan/infer/more",
        "/v2/health/ready",
        "/predict",
    ] {
        post_to(&svc, path).await;
    }
    // The fallback is one of the 3 models; past them, new names share `other`.
    for i in 0..100 {
        post_to(&svc, &format!("/v2/models/flood{i}/infer")).await;
    }

    assert_eq!(requests(&rec, "loan", "success"), Some(2));
    assert_eq!(requests(&rec, "iris", "success"), Some(1));
    assert_eq!(requests(&rec, "unknown", "success"), Some(6));
    assert_eq!(requests(&rec, "other", "success"), Some(100));
    assert_eq!(models(&rec), ["iris", "loan", "other", "unknown"]);
    assert_eq!(monitor.model_count(), 3);
    assert_eq!(rec.counter_sum(REQUESTS, &[]), 109);
}

#[tokio::test]
async fn only_models_sends_every_other_name_to_the_fallback() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::new();
    let svc = InferenceMonitorLayer::open_inference(&monitor, "unknown")
        .only_models(["loan", "iris", "loan"])
        .layer(ok_service());
    // Created at zero before any request.
    assert_eq!(requests(&rec, "iris", "success"), Some(0));
    assert_eq!(requests(&rec, "loan", "success"), Some(0));

    post_to(&svc, "/v2/models/loan/infer").await;
    post_to(&svc, "/v2/models/iris/versions/2/infer").await;
    for i in 0..1000 {
        post_to(&svc, &format!("/v2/models/m{i}/infer")).await;
    }
    post_to(&svc, "/v2/health/live").await;

    assert_eq!(requests(&rec, "loan", "success"), Some(1));
    assert_eq!(requests(&rec, "iris", "success"), Some(1));
    assert_eq!(requests(&rec, "unknown", "success"), Some(1001));
    assert_eq!(models(&rec), ["iris", "loan", "unknown"]);
    assert_eq!(monitor.model_count(), 3);
}

#[test]
fn the_protocol_paths() {
    for (path, model) in [
        ("/v2/models/loan/infer", Some("loan")),
        ("/v2/models/loan/versions/1/infer", Some("loan")),
        ("/v2/models/a.b-c_d/infer", Some("a.b-c_d")),
        ("/v2/models/loan", None),
        ("/v2/models/loan/", None),
        ("/v2/models/loan/versions/1", None),
        ("/v2/models/loan/versions/1/ready", None),
        ("/v1/models/loan:predict", None),
        ("/v2/models/", None),
        ("", None),
    ] {
        assert_eq!(OpenInference::model_in_path(path), model, "{path}");
    }
}

#[tokio::test]
async fn axum_matched_path_names_the_route_not_its_parameters() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::new();
    let layer = InferenceMonitorLayer::from_request(&monitor, "unmatched", |head| {
        head.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
    });
    let app: Router = Router::new()
        .route("/loan/predict", post(|| async { "approved" }))
        .route(
            "/tenants/{tenant}/iris/predict",
            post(|| async { "setosa" }),
        )
        .layer(layer);

    for path in [
        "/loan/predict",
        "/tenants/a/iris/predict",
        "/tenants/b/iris/predict",
    ] {
        let res = app
            .clone()
            .oneshot(Request::post(path).body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(requests(&rec, "/loan/predict", "success"), Some(1));
    assert_eq!(
        requests(&rec, "/tenants/{tenant}/iris/predict", "success"),
        Some(2)
    );
    assert_eq!(
        models(&rec),
        [
            "/loan/predict",
            "/tenants/{tenant}/iris/predict",
            "unmatched"
        ]
    );
}
