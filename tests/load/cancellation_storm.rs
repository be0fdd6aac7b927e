//! Cancellation and panic storms (issue 5, "Reliability"): requests dropped at seeded random
//! points, bodies dropped mid-stream, handlers that panic behind a catch-panic layer — every
//! started request counted exactly once with the right outcome, the in-progress gauge back to
//! zero. All through the crate's Prometheus recorder, global in this binary.

use crate::{common, load_support};

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Either, Full};
use inference_monitor::{InferenceMonitorLayer, Prediction};
use tokio::task::JoinSet;
use tower::{service_fn, Layer, Service, ServiceExt};

use load_support::{global_handle, Expected, ScrapeChecker, Scraper, XorShift};

type Bytes = axum::body::Bytes;

/// Returns `Pending` once (waking itself at once), then `Ready`: one scheduling point whose
/// poll count is exact, unlike a timer.
#[derive(Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A streamed response body: each frame is `Pending` once before it is `Ready`.
#[derive(Debug, Default)]
struct Frames {
    left: VecDeque<Bytes>,
    yielded: bool,
}

impl Frames {
    fn new(n: u64) -> Self {
        Self {
            left: (0..n).map(|i| Bytes::from(format!("token{i} "))).collect(),
            yielded: false,
        }
    }
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.left.is_empty() {
            return Poll::Ready(None);
        }
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        Poll::Ready(self.left.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.left.is_empty()
    }
}

/// The inner service's error.
#[derive(Debug)]
struct ModelDown;

/// What the handler does for one request.
#[derive(Debug, Clone, Copy)]
enum Handler {
    /// `yields` scheduling points, then this answer.
    Answer {
        yields: u64,
        status: StatusCode,
        label: Option<&'static str>,
        frames: u64,
    },
    /// `yields` scheduling points, then `Err`.
    Fail { yields: u64 },
    /// Sleeps for an hour: only a timeout ends it.
    Sleep,
    /// Never answers.
    Hang,
}

/// How the caller treats the request.
#[derive(Debug, Clone, Copy)]
enum Caller {
    /// Polls the response future `polls` times (fewer than it needs), then drops it.
    DropFuture { polls: u64 },
    /// Gives up after a `tokio::time::timeout` of `micros`.
    Timeout { micros: u64 },
    /// Runs the request in its own task and aborts it.
    Abort,
    /// Reads `frames` frames of the body (fewer than it has), then drops it.
    DropBody { frames: u64 },
    /// Reads the whole answer.
    Complete,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    handler: Handler,
    caller: Caller,
}

const SEED: u64 = 0x5EED_0005;

/// Request `i`'s plan, from the seeded generator.
fn plan(i: u64) -> Plan {
    let mut rng = XorShift::new(SEED ^ i);
    let yields = rng.below(4);
    let answer = |rng: &mut XorShift, min_frames: u64| {
        let (status, label) = match rng.below(10) {
            0..=4 => (StatusCode::OK, Some("approved")),
            5 | 6 => (StatusCode::OK, Some("rejected")),
            7 => (StatusCode::UNPROCESSABLE_ENTITY, None),
            8 => (StatusCode::INTERNAL_SERVER_ERROR, None),
            _ => (StatusCode::OK, None),
        };
        Handler::Answer {
            yields,
            status,
            label,
            frames: min_frames + rng.below(4),
        }
    };
    match rng.below(100) {
        // Dropped before the response: somewhere among its scheduling points (0 = never
        // polled at all).
        0..=24 => Plan {
            handler: Handler::Answer {
                yields: yields + 1,
                status: StatusCode::OK,
                label: Some("approved"),
                frames: 1,
            },
            caller: Caller::DropFuture {
                polls: rng.below(yields + 2),
            },
        },
        25..=34 => Plan {
            handler: Handler::Sleep,
            caller: Caller::Timeout {
                micros: rng.below(2_000),
            },
        },
        35..=44 => Plan {
            handler: Handler::Hang,
            caller: Caller::Abort,
        },
        // Dropped mid-stream: after 0..frames-1 of 2..=5 frames.
        45..=69 => {
            let handler = answer(&mut rng, 2);
            let Handler::Answer { frames, .. } = handler else {
                unreachable!()
            };
            Plan {
                handler,
                caller: Caller::DropBody {
                    frames: rng.below(frames),
                },
            }
        }
        70..=74 => Plan {
            handler: Handler::Fail { yields },
            caller: Caller::Complete,
        },
        // Completed: 0 frames is an empty body, recorded at the headers.
        _ => Plan {
            handler: answer(&mut rng, 0),
            caller: Caller::Complete,
        },
    }
}

/// The outcome and label request `i` must be counted with.
fn expected_of(plan: Plan) -> (&'static str, Option<&'static str>) {
    match (plan.caller, plan.handler) {
        (Caller::DropFuture { .. } | Caller::Timeout { .. } | Caller::Abort, _) => {
            ("cancelled", None)
        }
        // The response (and its label) arrived; the body did not end.
        (Caller::DropBody { .. }, Handler::Answer { label, .. }) => ("cancelled", label),
        (Caller::Complete, Handler::Fail { .. }) => ("server_error", None),
        (Caller::Complete, Handler::Answer { status, label, .. }) => {
            let outcome = if status.is_client_error() {
                "client_error"
            } else if status.is_server_error() {
                "server_error"
            } else {
                "success"
            };
            (outcome, label)
        }
        other => unreachable!("{other:?}"),
    }
}

async fn handle(req: Request<Full<Bytes>>) -> Result<Response<Frames>, ModelDown> {
    let plan = *req.extensions().get::<Plan>().expect("plan");
    match plan.handler {
        Handler::Answer {
            yields,
            status,
            label,
            frames,
        } => {
            for _ in 0..yields {
                YieldOnce::default().await;
            }
            let mut res = Response::new(Frames::new(frames));
            *res.status_mut() = status;
            if let Some(label) = label {
                Prediction::new(label).insert_into(&mut res);
            }
            Ok(res)
        }
        Handler::Fail { yields } => {
            for _ in 0..yields {
                YieldOnce::default().await;
            }
            Err(ModelDown)
        }
        Handler::Sleep => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!("an hour passed")
        }
        Handler::Hang => std::future::pending().await,
    }
}

async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

async fn next_frame<B: http_body::Body + Unpin>(
    body: &mut B,
) -> Option<Result<http_body::Frame<B::Data>, B::Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

const STORM_REQUESTS: u64 = 10_000;
const STORM_CONCURRENCY: usize = 128;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_requests_cancelled_at_random_points_are_each_counted_once() {
    const MODEL: &str = "storm";
    let metrics = global_handle();
    let svc = InferenceMonitorLayer::new(MODEL).layer(service_fn(handle));
    let scraper = Scraper::every_millisecond(&metrics, MODEL, STORM_CONCURRENCY);

    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..STORM_REQUESTS {
        while set.len() >= STORM_CONCURRENCY {
            set.join_next().await.unwrap().unwrap();
        }
        let mut svc = svc.clone();
        set.spawn(async move {
            let plan = plan(i);
            let req = Request::builder()
                .extension(plan)
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            // The request starts (its guard exists) when `call` returns.
            let mut fut = Box::pin(svc.ready().await.unwrap().call(req));
            match plan.caller {
                Caller::DropFuture { polls } => {
                    for _ in 0..polls {
                        assert!(poll_once(&mut fut).await.is_pending(), "request {i}");
                        tokio::task::yield_now().await;
                    }
                    drop(fut);
                }
                Caller::Timeout { micros } => {
                    let res = tokio::time::timeout(Duration::from_micros(micros), fut).await;
                    assert!(res.is_err(), "request {i} answered");
                }
                Caller::Abort => {
                    let task = tokio::spawn(fut);
                    tokio::task::yield_now().await;
                    task.abort();
                    assert!(task.await.unwrap_err().is_cancelled(), "request {i}");
                }
                Caller::DropBody { frames } => {
                    let mut body = fut.await.unwrap().into_body();
                    for _ in 0..frames {
                        next_frame(&mut body).await.unwrap().unwrap();
                    }
                    assert!(!body.is_end_stream(), "request {i}");
                    drop(body);
                }
                Caller::Complete => match fut.await {
                    Ok(res) => {
                        let Handler::Answer { status, frames, .. } = plan.handler else {
                            panic!("request {i} answered: {plan:?}")
                        };
                        assert_eq!(res.status(), status, "request {i}");
                        let body = res.into_body().collect().await.unwrap().to_bytes();
                        let want: String = (0..frames).map(|f| format!("token{f} ")).collect();
                        assert_eq!(body, want.as_bytes(), "request {i}");
                    }
                    Err(ModelDown) => {
                        assert!(matches!(plan.handler, Handler::Fail { .. }), "request {i}");
                    }
                },
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    let checker = scraper.stop();

    let mut expected = Expected::default();
    let mut kinds = [0u64; 5];
    for i in 0..STORM_REQUESTS {
        let plan = plan(i);
        kinds[match plan.caller {
            Caller::DropFuture { .. } => 0,
            Caller::Timeout { .. } => 1,
            Caller::Abort => 2,
            Caller::DropBody { .. } => 3,
            Caller::Complete => 4,
        }] += 1;
        let (outcome, label) = expected_of(plan);
        expected.count(outcome, label);
    }
    let page = ScrapeChecker::default().check(&metrics.render());
    expected.assert_exact(&page, MODEL);
    eprintln!(
        "storm: {STORM_REQUESTS} requests (dropped future {}, timeout {}, abort {}, body dropped {}, completed {}) in {elapsed:?}; expected {:?}; {} scrapes during the storm, in-progress up to {}",
        kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], expected.outcomes, checker.scrapes, checker.max_inprogress
    );
    // Each way of ending is exercised in earnest.
    assert!(kinds.iter().all(|k| *k >= 400), "{kinds:?}");
    assert!(expected.outcomes.len() == 4, "{:?}", expected.outcomes);
}

// --- Panics behind a catch-panic layer -----------------------------------------------------

const PANIC_MESSAGE: &str = "storm: intended panic";

/// Keeps the intended panics of these tests off stderr (thousands of them); any other panic
/// is reported by the default hook as usual.
fn quiet_intended_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            let intended = message.is_some_and(|m| m.starts_with(PANIC_MESSAGE));
            if !intended {
                default(info);
            }
        }));
    });
}

/// When the catch-panic layer drops the future that panicked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DropPanicked {
    /// While the panic unwinds, as tokio's task harness does: a guard inside the
    /// `catch_unwind` drops the future, so its drop runs with `std::thread::panicking()` true.
    DuringUnwind,
    /// After the unwind is caught, with the rest of the response future — as
    /// `tower_http::catch_panic::CatchPanic` (0.7) does: it keeps the panicked future inside
    /// its own until that is dropped.
    AfterUnwind,
}

/// A minimal catch-panic layer: a panic in the inner service's `call` or while polling its
/// future becomes a `500` response.
#[derive(Clone)]
struct CatchPanic<S> {
    inner: S,
    drop_panicked: DropPanicked,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CatchPanic<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<Either<ResBody, Full<Bytes>>>;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let inner = catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
            .ok()
            .map(Box::pin);
        CatchPanicFuture {
            inner,
            panicked: false,
            drop_panicked: self.drop_panicked,
        }
    }
}

struct CatchPanicFuture<F> {
    /// `None` when `call` panicked, or when the future was dropped during its unwind.
    inner: Option<Pin<Box<F>>>,
    panicked: bool,
    drop_panicked: DropPanicked,
}

fn internal_error<B>() -> Response<Either<B, Full<Bytes>>> {
    let mut res = Response::new(Either::Right(Full::new(Bytes::from_static(b"panic"))));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res
}

/// Drops the future it guards if dropped itself while a panic unwinds.
struct DropOnUnwind<'a, F>(&'a mut Option<Pin<Box<F>>>);

impl<F> Drop for DropOnUnwind<'_, F> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.take();
        }
    }
}

impl<F, B, E> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<B, Full<Bytes>>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.panicked, "polled after completion");
        if this.inner.is_none() {
            this.panicked = true;
            return Poll::Ready(Ok(internal_error()));
        }
        let polled = match this.drop_panicked {
            DropPanicked::DuringUnwind => catch_unwind(AssertUnwindSafe(|| {
                let guard = DropOnUnwind(&mut this.inner);
                guard.0.as_mut().unwrap().as_mut().poll(cx)
            })),
            DropPanicked::AfterUnwind => {
                let fut = this.inner.as_mut().unwrap();
                catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)))
            }
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(res)) => Poll::Ready(res.map(|res| res.map(Either::Left))),
            Err(_panic) => {
                this.panicked = true;
                Poll::Ready(Ok(internal_error()))
            }
        }
    }
}

/// Where request `i` of a panic run panics, if it does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Panics {
    /// In `Service::call`, before the handler's future exists.
    InCall,
    /// While its future is polled, after a scheduling point.
    InPoll,
    No,
}

fn panic_plan(i: u64) -> Panics {
    match i % 3 {
        0 => Panics::InCall,
        1 => Panics::InPoll,
        _ => Panics::No,
    }
}

/// The handler of the panic runs: a `service_fn` whose closure panics in `call` or whose
/// future panics when polled.
fn panicking_handler() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone
       + Send {
    service_fn(|req: Request<Full<Bytes>>| {
        let i = *req.extensions().get::<u64>().expect("index");
        if panic_plan(i) == Panics::InCall {
            panic!("{PANIC_MESSAGE} in call, request {i}");
        }
        async move {
            YieldOnce::default().await;
            if panic_plan(i) == Panics::InPoll {
                std::panic::panic_any(PANIC_MESSAGE);
            }
            let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
            Prediction::new("approved").insert_into(&mut res);
            Ok(res)
        }
    })
}

const PANIC_REQUESTS: u64 = 3_000;

/// Sends `PANIC_REQUESTS` through `svc`, 64 at a time; every request gets an answer (a
/// panic is a 500).
async fn panic_run<S, B>(svc: S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Debug,
{
    quiet_intended_panics();
    let mut set = JoinSet::new();
    for i in 0..PANIC_REQUESTS {
        while set.len() >= 64 {
            set.join_next().await.unwrap().unwrap();
        }
        let svc = svc.clone();
        set.spawn(async move {
            let req = Request::builder()
                .extension(i)
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            let res = svc.oneshot(req).await.unwrap();
            let want = match panic_plan(i) {
                Panics::No => StatusCode::OK,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            assert_eq!(res.status(), want, "request {i}");
            res.into_body().collect().await.unwrap();
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
}

/// What a panic run must count: every panic as `server_error`, every other request as a
/// labelled `success`.
fn panic_expected() -> Expected {
    let mut expected = Expected::default();
    for i in 0..PANIC_REQUESTS {
        match panic_plan(i) {
            Panics::No => expected.count("success", Some("approved")),
            _ => expected.count("server_error", None),
        }
    }
    expected
}

fn scrape() -> common::Exposition {
    ScrapeChecker::default().check(&global_handle().render())
}

// Layer order. Outside the catch-panic layer (`monitor(catch_panic(handler))`), the monitor
// never sees the panic: it sees the 500 the catch-panic layer answers, and counts
// `server_error` by status. Inside it (`catch_panic(monitor(handler))`), the panic unwinds
// through the monitor: a panic in `call` unwinds through the request guard (a local of `call`),
// a panic in poll through the response future, which records `server_error` as it unwinds,
// whether the catch-panic layer then drops the panicked future at once (as tokio's task harness
// does) or keeps it until later (as tower-http's `CatchPanic` does).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitor_outside_catch_panic_counts_each_panic_once_as_server_error() {
    const MODEL: &str = "panic_outside";
    global_handle();
    let svc = InferenceMonitorLayer::new(MODEL).layer(CatchPanic {
        inner: panicking_handler(),
        drop_panicked: DropPanicked::AfterUnwind,
    });
    panic_run(svc).await;
    panic_expected().assert_exact(&scrape(), MODEL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitor_inside_catch_panic_dropping_during_unwind_counts_server_error() {
    const MODEL: &str = "panic_inside_unwind";
    global_handle();
    let svc = CatchPanic {
        inner: InferenceMonitorLayer::new(MODEL).layer(panicking_handler()),
        drop_panicked: DropPanicked::DuringUnwind,
    };
    panic_run(svc).await;
    panic_expected().assert_exact(&scrape(), MODEL);
}

/// With the monitor inside a catch-panic layer that keeps the panicked future until after the
/// unwind (tower-http's `CatchPanic` does), the guard would be dropped when nothing shows a
/// panic any more. The response future therefore records `server_error` while the panic
/// unwinds through its poll. (Before it did, these 1,000 panics in poll counted `cancelled`;
/// checked once against tower-http 0.7.1's `CatchPanicLayer` itself, in a scratch test not kept
/// to spare a dev-dependency.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitor_inside_catch_panic_dropping_after_unwind_counts_server_error() {
    const MODEL: &str = "panic_inside_after";
    global_handle();
    let svc = CatchPanic {
        inner: InferenceMonitorLayer::new(MODEL).layer(panicking_handler()),
        drop_panicked: DropPanicked::AfterUnwind,
    };
    panic_run(svc).await;
    panic_expected().assert_exact(&scrape(), MODEL);
}

// --- Client disconnects over real HTTP ----------------------------------------------------

const DISCONNECTS: usize = 300;

/// Clients that send a request to the real `axum_loan` and close the connection without
/// reading the answer (every third also cuts its body short). What happens depends on timing:
/// the server answers first (`success`; `client_error` for a cut body), notices the close
/// first (`cancelled`), or — most of the time here — drops the request before the layer is
/// ever called, so it is never started and not counted: hyper calls its service for every
/// request but drops the future of a closed connection unpolled (a scratch hyper server
/// counted 200 calls, 46 first polls), and axum's router calls a route's layers only when that
/// future is first polled. With the layer as hyper's own service they are all counted: see
/// the next test. The checks: every request that started is counted exactly
/// once (the gauge, raised at each start and lowered at each record, comes back to 0), no
/// more requests are counted than were sent, and every outcome's latency count equals its
/// request count.
#[test]
fn client_disconnects_over_http_are_each_counted_once() {
    use std::io::Write;
    use std::net::{Shutdown, TcpStream};

    let server = common::start_example("axum_loan", &[]);
    let addr = server.addr;
    let started = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                for i in (t..DISCONNECTS).step_by(16) {
                    let body = common::loan_api::GOOD;
                    let length = if i % 3 == 0 {
                        body.len() + 100
                    } else {
                        body.len()
                    };
                    let mut stream = TcpStream::connect(addr).expect("connect");
                    let req = format!(
                        "POST /predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{body}"
                    );
                    stream.write_all(req.as_bytes()).unwrap();
                    // Close without reading a byte of the answer.
                    let _ = stream.shutdown(Shutdown::Both);
                    drop(stream);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let sent = started.elapsed();

    // The server may still be finishing the last ones: wait until nothing is in progress and
    // the count is steady.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = -1.0;
    let page = loop {
        let page = common::scrape(addr);
        let total = page.sum("inference_requests_total", &[("model", "loan")]);
        let inprogress = page.value("inference_inprogress_requests", &[("model", "loan")]);
        if (inprogress == Some(0.0) && total == last) || Instant::now() > deadline {
            break page;
        }
        last = total;
        std::thread::sleep(Duration::from_millis(100));
    };
    let count = |outcome| {
        page.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", outcome)],
        )
        .unwrap()
    };
    eprintln!(
        "disconnects: {DISCONNECTS} sent in {sent:?}: success {}, client_error {}, server_error {}, cancelled {}, in progress {:?}",
        count("success"),
        count("client_error"),
        count("server_error"),
        count("cancelled"),
        page.value("inference_inprogress_requests", &[("model", "loan")])
    );
    load_support::check_histograms(&page);
    let total = page.sum("inference_requests_total", &[("model", "loan")]);
    assert!(
        total > 0.0 && total <= DISCONNECTS as f64,
        "{total} counted of {DISCONNECTS} sent"
    );
    assert_eq!(count("server_error"), 0.0);
    for outcome in load_support::OUTCOMES {
        assert_eq!(
            page.value(
                "inference_request_latency_seconds_count",
                &[("model", "loan"), ("outcome", outcome)]
            ),
            Some(count(outcome)),
            "{outcome}"
        );
    }
    // A prediction is counted for each request whose handler answered 200.
    assert!(page.sum("inference_predictions_total", &[("model", "loan")]) <= DISCONNECTS as f64);
    assert_eq!(
        page.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

const HYPER_CLIENTS: usize = 300;

/// The same disconnects against the layer as hyper's own service (outermost, as in
/// `examples/hyper_loan`): hyper calls the service for every request it parses — the request
/// starts there — even when it then drops the future unpolled because the client is gone.
/// So here every request is counted, exactly: `success` if the answer went out first,
/// `cancelled` otherwise; the clients that read their answer are all `success`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_disconnects_against_hyper_are_each_counted_exactly_once() {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};

    const MODEL: &str = "hyper_disconnects";
    let metrics = global_handle();
    let svc = InferenceMonitorLayer::new(MODEL).layer(service_fn(
        |req: Request<hyper::body::Incoming>| async move {
            req.into_body().collect().await.map(|_| ())?;
            let mut res = Response::new(Full::new(Bytes::from_static(b"{\"label\":\"approved\"}")));
            Prediction::new("approved").insert_into(&mut res);
            Ok::<_, hyper::Error>(res)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = svc.clone();
            tokio::spawn(async move {
                let hyper_svc = hyper::service::service_fn(move |req| svc.clone().call(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), hyper_svc)
                    .await;
            });
        }
    });

    let readers = tokio::task::spawn_blocking(move || {
        let mut readers = 0u64;
        for i in 0..HYPER_CLIENTS {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                .unwrap();
            if i % 3 == 0 {
                // This one reads its whole answer.
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                readers += 1;
            } else {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        readers
    })
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = ScrapeChecker::default().check(&metrics.render());
        let total = page.sum("inference_requests_total", &[("model", MODEL)]);
        let inprogress = page.value("inference_inprogress_requests", &[("model", MODEL)]);
        if (total >= HYPER_CLIENTS as f64 && inprogress == Some(0.0)) || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.abort();
    let count = |outcome| {
        page.value(
            "inference_requests_total",
            &[("model", MODEL), ("outcome", outcome)],
        )
        .unwrap() as u64
    };
    let (success, cancelled) = (count("success"), count("cancelled"));
    eprintln!("hyper disconnects: {HYPER_CLIENTS} clients, {readers} read their answer: success {success}, cancelled {cancelled}");
    assert!(
        success >= readers,
        "{success} successes, {readers} answers read"
    );
    // Exactly once each, whatever the timing: success or cancelled, nothing else, all of them.
    let mut expected = Expected::default();
    for _ in 0..success {
        expected.count("success", Some("approved"));
    }
    for _ in 0..cancelled {
        expected.count("cancelled", None);
    }
    assert_eq!(expected.total(), HYPER_CLIENTS as u64);
    // A request cancelled after its handler answered (the body not sent to its end) keeps its
    // label: predictions are checked as a range, the rest exactly.
    let predictions = page.sum("inference_predictions_total", &[("model", MODEL)]) as u64;
    assert!(
        (success..=HYPER_CLIENTS as u64).contains(&predictions),
        "{predictions} predictions, {success} successes"
    );
    expected.labels.insert("approved", predictions);
    expected.assert_exact(&page, MODEL);
}
