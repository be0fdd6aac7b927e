//! Driving a tower service by hand on the current thread, without a runtime (a runtime would
//! allocate and move work to other threads; these tests count allocations or keep a local
//! recorder current).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use http_body::Body;
use tower::Service;

/// A waker that does nothing (the futures driven here are ready at once).
pub fn noop_waker() -> Waker {
    Waker::noop().clone()
}

/// Polls a future that is ready at once.
pub fn now<F: Future>(future: F, waker: &Waker) -> F::Output {
    let mut cx = Context::from_waker(waker);
    match pin!(future).poll(&mut cx) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the futures of these tests are ready at once"),
    }
}

/// Reads a response body to its end, as a server sending it would.
pub fn drain<B: Body + Unpin>(mut body: B, waker: &Waker) {
    let mut cx = Context::from_waker(waker);
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        let _ = black_box(frame.is_ok());
    }
}

/// `service` made ready and called with `request`; its response (body not read).
pub fn call<S, B>(service: &mut S, request: Request<()>, waker: &Waker) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    now(std::future::poll_fn(|cx| service.poll_ready(cx)), waker).unwrap();
    now(service.call(request), waker).unwrap()
}
