//! What monitoring costs per request, against the service alone and against the least any such
//! layer must do. Run: `cargo bench --bench overhead`.
//!
//! - `overhead/bare`: a trivial service (`ready` + `call`, response body read to its end);
//! - `overhead/floor`: bare plus two clock reads, a counter, a histogram and a gauge up and
//!   down on handles registered once — the physical floor of any such layer;
//! - `overhead/layer`: bare wrapped in `InferenceMonitorLayer`, reporting a label;
//! - `overhead/layer_watch`: the same layer with `watch_request_body()` (the inner service
//!   receives the watched `RequestBody`);
//! - `overhead/fn_bare`, `overhead/macro`: a trivial function alone and inside `monitor!`;
//! - `peers/axum_plain`, `peers/axum_monitor`, `peers/axum_prometheus`: a one-route axum
//!   Router (called with `oneshot`, body collected) alone, with this crate's layer, and with
//!   axum-prometheus's layer;
//! - `peers/autometrics_plain`, `peers/autometrics`: a trivial async fn alone and with
//!   `#[autometrics]`.
//!
//! All cases share one Prometheus recorder, installed globally; the peers record through the
//! `metrics` facade into it as well. `docs/performance.md` has the figures and the ratios.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use autometrics::autometrics;
use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use http_body_util::BodyExt;
use inference_monitor::{monitor, tower::RequestBody, InferenceMonitorLayer, Prediction};
use tower::{Layer, ServiceExt};

mod support;

use support::{inner, installed_monitor, request};

/// Runs a future to completion on this thread (the peers' futures may not answer at once).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    }
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        let mut f = pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    })
}

/// [`inner`] behind a layer that watches request bodies: the same answer, for the watched body.
fn watched_inner() -> impl tower::Service<
    Request<RequestBody<()>>,
    Response = http::Response<http_body_util::Full<axum::body::Bytes>>,
    Error = std::convert::Infallible,
    Future = support::Answer,
> + Clone {
    tower::service_fn(|_req: Request<RequestBody<()>>| {
        let mut res = http::Response::new(http_body_util::Full::new(
            axum::body::Bytes::from_static(b"{\"label\":\"approved\"}"),
        ));
        Prediction::new("approved").insert_into(&mut res);
        std::future::ready(Ok(res))
    })
}

fn trivial(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).wrapping_add(7)
}

/// The one route of the axum cases: answers at once and reports its label.
async fn predict() -> (Prediction, &'static str) {
    (Prediction::new("approved"), "{\"label\":\"approved\"}")
}

fn axum_request(router: &Router) {
    let request = Request::post("/predict")
        .body(axum::body::Body::empty())
        .expect("a valid request");
    block_on(async {
        let response = router.clone().oneshot(request).await.unwrap();
        black_box(response.into_body().collect().await.unwrap());
    });
}

async fn trivial_async_plain(x: u64) -> u64 {
    trivial(x)
}

#[autometrics]
async fn trivial_async(x: u64) -> u64 {
    trivial(x)
}

fn overhead(c: &mut Criterion) {
    let (_metrics, monitor) = installed_monitor();
    let mut group = c.benchmark_group("overhead");

    let mut bare = inner();
    group.bench_function("bare", |b| b.iter(|| request(&mut bare)));

    let counter =
        metrics::counter!("floor_requests_total", "model" => "loan", "outcome" => "success");
    let histogram =
        metrics::histogram!("floor_latency_seconds", "model" => "loan", "outcome" => "success");
    let gauge = metrics::gauge!("floor_inprogress", "model" => "loan");
    let mut floor = inner();
    group.bench_function("floor", |b| {
        b.iter(|| {
            gauge.increment(1.0);
            let start = Instant::now();
            request(&mut floor);
            let elapsed = Instant::now().duration_since(start);
            counter.increment(1);
            histogram.record(elapsed.as_secs_f64());
            gauge.decrement(1.0);
        });
    });

    let mut layered = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(inner());
    group.bench_function("layer", |b| b.iter(|| request(&mut layered)));

    let mut watched = InferenceMonitorLayer::for_model(monitor.model("loan"))
        .watch_request_body()
        .layer(watched_inner());
    group.bench_function("layer_watch", |b| b.iter(|| request(&mut watched)));

    group.bench_function("fn_bare", |b| b.iter(|| trivial(42)));
    let model = monitor.model("fn");
    group.bench_function("macro", |b| {
        b.iter(|| monitor!(model, trivial(42), label = |_| "approved"));
    });
    group.finish();

    let mut group = c.benchmark_group("peers");
    let plain = Router::new().route("/predict", post(predict));
    let monitored = plain
        .clone()
        .layer(InferenceMonitorLayer::for_model(monitor.model("axum")));
    let prometheus = plain.clone().layer(axum_prometheus::BaseMetricLayer::new());
    group.bench_function("axum_plain", |b| b.iter(|| axum_request(&plain)));
    group.bench_function("axum_monitor", |b| b.iter(|| axum_request(&monitored)));
    group.bench_function("axum_prometheus", |b| {
        b.iter(|| axum_request(&prometheus));
    });
    group.bench_function("autometrics_plain", |b| {
        b.iter(|| block_on(trivial_async_plain(42)));
    });
    group.bench_function("autometrics", |b| {
        b.iter(|| block_on(trivial_async(42)));
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
