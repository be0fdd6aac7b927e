//! The harness shared by the benchmarks: a service that answers at once, and one request
//! through a service driven by hand on the current thread.

use std::convert::Infallible;
use std::future::{ready, Future};
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use inference_monitor::{MetricsHandle, Monitor, Prediction};
use tower::{service_fn, Service};

pub type Bytes = axum::body::Bytes;

/// Drives an always-ready future to its output in one poll.
pub fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the benchmarked services answer at once"),
    }
}

/// Polls a body until it has no more frames.
pub fn drain<B: Body + Unpin>(mut body: B) {
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        black_box(frame.ok());
    }
}

pub type Answer = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

/// A service that answers at once with a small body and an `approved` prediction.
pub fn inner(
) -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future = Answer>
       + Clone
       + Send
       + 'static {
    service_fn(|_req: Request<()>| {
        let mut res = Response::new(Full::new(Bytes::from_static(b"{\"label\":\"approved\"}")));
        Prediction::new("approved").insert_into(&mut res);
        ready(Ok(res))
    })
}

/// One request: `poll_ready`, `call`, and the response body read to its end.
pub fn request<S, B>(svc: &mut S)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    let res = now(svc.call(Request::new(()))).unwrap();
    drain(res.into_body());
}

/// The set-up the benchmarks share: the crate's Prometheus recorder installed globally (keep
/// the handle), and a monitor declaring the two labels the benchmarked services report.
#[allow(dead_code)] // `scaling` builds its recorders locally instead
pub fn installed_monitor() -> (MetricsHandle, Monitor) {
    let metrics = inference_monitor::prometheus()
        .install()
        .expect("install the Prometheus recorder");
    let monitor = Monitor::builder()
        .labels(["approved", "rejected"])
        .build()
        .expect("a valid configuration");
    (metrics, monitor)
}
