//! How the HTTP example servers serve their main port, and how every example stops: the limits
//! a client cannot get around, the body read before the monitored service (so upload time is
//! not inference latency), and the bounded drain on Ctrl-C or SIGTERM.
//!
//! * **HTTP/1.1 only** (hyper's `http1` connection builder): no h2c. See `docs/operations.md`.
//! * **Header read timeout** (`HEADER_READ_TIMEOUT`, default 5 s): hyper's own timer. It starts
//!   when the connection waits for a request head, so it also closes an idle keep-alive
//!   connection (the idle timeout) and one that sends a head slowly.
//! * **Body read deadline** (`BODY_READ_TIMEOUT`, default 10 s): the whole body must arrive in
//!   that time, or the answer is a JSON 408. The body is read through http-body-util's
//!   `Limited` and copied frame by frame into one buffer of at most the route's limit, so a
//!   body sent one byte per TCP segment costs its size, not a read buffer per segment. A
//!   `Content-Length` over the limit is a JSON 413 at once, before any of the body is read.
//! * **Connection limit** (`MAX_CONNECTIONS`, default 512): a tokio semaphore taken before each
//!   `accept`; past the limit new connections wait in the kernel's accept queue, where they
//!   hold no file descriptor of the process. Accept errors are logged to stderr.
//! * **Drain deadline** (`SHUTDOWN_TIMEOUT`, default 10 s): on the signal the listener closes,
//!   every connection is asked to close once its request is answered (hyper-util's
//!   `GracefulShutdown`), and whatever is still open at the deadline is cut. A request cut that
//!   way — or whose client went away before sending its whole body — counts as `cancelled`; the
//!   final counts are printed on the way out (`final: …` lines), since no scrape can see them.
//!
//! The durations are in seconds, fractions allowed (`SHUTDOWN_TIMEOUT=0.5`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use inference_monitor::{MetricsHandle, ModelMonitor, Outcome};
use tower::{Service, ServiceExt};

use super::api::{self, BodyError};

/// Default of `HEADER_READ_TIMEOUT`: actix-web's default, and what the `/metrics` listener uses.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Default of `BODY_READ_TIMEOUT`: a 64 KiB batch at 6.5 KB/s still gets through.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `MAX_CONNECTIONS`: half the usual 1024 file descriptors of a process.
pub const MAX_CONNECTIONS: usize = 512;
/// Default of `SHUTDOWN_TIMEOUT`: a third of Kubernetes' 30 s grace period, so the process exits
/// (and prints its final counts) before it is killed.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The limits of a server, from the environment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `HEADER_READ_TIMEOUT`: time to send a request head, and the idle keep-alive time.
    pub header_read: Duration,
    /// `BODY_READ_TIMEOUT`: time to send a whole request body.
    pub body_read: Duration,
    /// `MAX_CONNECTIONS`: connections served at a time.
    pub max_connections: usize,
    /// `SHUTDOWN_TIMEOUT`: how long the drain may take after the signal.
    pub shutdown: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: HEADER_READ_TIMEOUT,
            body_read: BODY_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            shutdown: SHUTDOWN_TIMEOUT,
        }
    }
}

/// A positive, finite number of seconds from the environment variable `name`, or `default`.
fn seconds(name: &str, default: Duration) -> Result<Duration, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!(
                "{name} must be a number of seconds above 0 (like 5 or 0.5), not {text:?}"
            )),
        },
    }
}

impl Limits {
    /// Reads `HEADER_READ_TIMEOUT`, `BODY_READ_TIMEOUT`, `MAX_CONNECTIONS` and
    /// `SHUTDOWN_TIMEOUT`; each unset one keeps its default.
    pub fn from_env() -> Result<Self, String> {
        let max_connections = match std::env::var("MAX_CONNECTIONS") {
            Err(_) => MAX_CONNECTIONS,
            Ok(text) => match text.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "MAX_CONNECTIONS must be a whole number above 0, not {text:?}"
                    ))
                }
            },
        };
        Ok(Self {
            header_read: seconds("HEADER_READ_TIMEOUT", HEADER_READ_TIMEOUT)?,
            body_read: seconds("BODY_READ_TIMEOUT", BODY_READ_TIMEOUT)?,
            max_connections,
            shutdown: seconds("SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT)?,
        })
    }

    /// The banner line naming the limits.
    pub fn banner_line(&self) -> String {
        format!(
            "limits:  HTTP/1.1 only; head and idle {} s (HEADER_READ_TIMEOUT), body {} s (BODY_READ_TIMEOUT), {} connections (MAX_CONNECTIONS), drain {} s (SHUTDOWN_TIMEOUT)",
            self.header_read.as_secs_f64(),
            self.body_read.as_secs_f64(),
            self.max_connections,
            self.shutdown.as_secs_f64(),
        )
    }

    /// The banner line about stopping.
    pub fn stop_line(&self) -> String {
        format!(
            "stop:    Ctrl-C or SIGTERM (in-flight requests get {} s to finish, then count as cancelled)",
            self.shutdown.as_secs_f64()
        )
    }
}

/// Listens for Ctrl-C and SIGTERM. The handlers are registered by this call, not at the first
/// poll, so a signal sent as soon as the banner is out is never missed; the returned future
/// resolves at the first one.
fn signals() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        }
    };
    #[cfg(windows)]
    let signals = {
        let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
        async move {
            ctrl_c.recv().await;
        }
    };
    Ok(signals)
}

/// The shutdown of a server: the signal, and the drain deadline after it. Cheap to clone; every
/// clone sees the same signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    requested: tokio::sync::watch::Receiver<bool>,
    timeout: Duration,
}

impl Shutdown {
    /// Registers the signal handlers now (inside the runtime). `what` names what finishes
    /// first (requests, calls) in the message printed at the signal.
    pub fn listen(what: &'static str, limits: &Limits) -> std::io::Result<Self> {
        let signals = signals()?;
        let (tx, requested) = tokio::sync::watch::channel(false);
        let timeout = limits.shutdown;
        tokio::spawn(async move {
            signals.await;
            println!(
                "shutting down: finishing in-flight {what}, for at most {} s (SHUTDOWN_TIMEOUT)",
                timeout.as_secs_f64()
            );
            let _ = tx.send(true);
        });
        Ok(Self { requested, timeout })
    }

    /// Resolves once the signal has come (at once if it already has).
    pub fn requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut requested = self.requested.clone();
        async move {
            // An error means the signal task is gone: the runtime is going down, stop too.
            let _ = requested.wait_for(|&stop| stop).await;
        }
    }

    /// Resolves `SHUTDOWN_TIMEOUT` after the signal.
    pub fn deadline(&self) -> impl Future<Output = ()> + Send + 'static {
        let requested = self.requested();
        let timeout = self.timeout;
        async move {
            requested.await;
            tokio::time::sleep(timeout).await;
        }
    }

    /// Runs `server` (one that drains by itself once [`Shutdown::requested`] resolves) until it
    /// returns or the drain deadline passes. `None` when the deadline cut it.
    pub async fn within_deadline<F: Future>(&self, server: F) -> Option<F::Output> {
        tokio::select! {
            output = server => Some(output),
            () = self.deadline() => None,
        }
    }
}

/// How the drain after the signal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Drain {
    /// Every connection closed in time.
    #[default]
    Finished,
    /// The deadline cut the connections still open: how many, when the server knows.
    Cut(Option<usize>),
}

/// How a server stopped, for [`run`] to report once every task is gone.
#[derive(Debug, Default)]
pub struct Stopped {
    /// The exporter, whose final counts are printed.
    pub metrics: Option<MetricsHandle>,
    /// How the drain ended.
    pub drain: Drain,
}

/// Runs an example's `serve` future on a multi-threaded runtime, then drops the runtime, which
/// drops every task still running — the requests cut by the drain deadline, whose guards
/// record them as `cancelled` — and prints the final request counts from the exporter.
pub fn run<F>(serve: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: Future<Output = Result<Stopped, Box<dyn std::error::Error>>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stopped = runtime.block_on(serve)?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    match stopped.drain {
        Drain::Finished => println!("stopped: every connection drained"),
        Drain::Cut(Some(open)) => println!(
            "stopped: {open} connection(s) cut at the drain deadline (their requests count as cancelled)"
        ),
        Drain::Cut(None) => println!(
            "stopped: connections cut at the drain deadline (their requests count as cancelled)"
        ),
    }
    if let Some(metrics) = stopped.metrics {
        print_final(&metrics);
    }
    Ok(())
}

/// Waits, at most `limit`, until no request is in flight by the exporter's gauges: for a server
/// (actix-web) whose workers drop the requests cut at the deadline on their own threads, after
/// its server future has returned.
pub async fn settled(metrics: &MetricsHandle, limit: Duration) {
    let idle = || {
        metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("inference_inprogress_requests"))
            .all(|l| l.ends_with(" 0"))
    };
    let started = std::time::Instant::now();
    while !idle() && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Prints the final request counts and in-flight gauges (`final: <sample>` lines): after the
/// drain no scrape can see them.
pub fn print_final(metrics: &MetricsHandle) {
    for line in metrics.render().lines().filter(|l| {
        l.starts_with("inference_requests_total") || l.starts_with("inference_inprogress_requests")
    }) {
        println!("final: {line}");
    }
}

/// Serves `app` on `listener` over HTTP/1.1 with `limits` until `shutdown`, then drains the
/// connections for at most the shutdown timeout. The tasks of the connections cut at the
/// deadline are left to [`run`], which drops them.
pub async fn serve<S, B>(
    listener: tokio::net::TcpListener,
    app: S,
    limits: &Limits,
    shutdown: &Shutdown,
) -> Drain
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = http1::Builder::new();
    // The timer is what makes hyper enforce the header read timeout.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            () = shutdown.requested() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = shutdown.requested() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: say so, and back off instead of
                    // spinning.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection error (a client gone mid-request, a malformed or slow head)
            // concerns that client only.
            let _ = connection.await;
            drop(permit);
        });
    }
    // Closing the listener: new clients are refused at once instead of queueing.
    drop(listener);
    let open = graceful.count();
    tokio::select! {
        () = graceful.shutdown() => Drain::Finished,
        () = tokio::time::sleep(limits.shutdown) => Drain::Cut(Some(open)),
    }
}

/// How [`receive`] reads bodies: the deadline, the limit of each request, and which model
/// counts a request whose upload never finished (the client went away, or the drain deadline
/// cut it) as `cancelled`.
#[derive(Clone)]
pub struct Receiving {
    deadline: Duration,
    limit: Arc<dyn Fn(&http::request::Parts) -> usize + Send + Sync>,
    model: Arc<ModelOf>,
}

/// Which model a request counts under, if any.
type ModelOf = dyn Fn(&http::request::Parts) -> Option<ModelMonitor> + Send + Sync;

impl Receiving {
    /// Bodies of at most `limit(request)` bytes, read within `limits.body_read`; an upload cut
    /// short counts as `cancelled` under `model(request)` (`None`: a request nothing monitors).
    pub fn new(
        limits: &Limits,
        limit: impl Fn(&http::request::Parts) -> usize + Send + Sync + 'static,
        model: impl Fn(&http::request::Parts) -> Option<ModelMonitor> + Send + Sync + 'static,
    ) -> Self {
        Self {
            deadline: limits.body_read,
            limit: Arc::new(limit),
            model: Arc::new(model),
        }
    }
}

/// Counts a request as `cancelled` under its model when dropped armed: the request's upload
/// never finished. Its latency is ~0: the measurement starts when the body has been read.
struct Upload(Option<ModelMonitor>);

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(model) = self.0.take() {
            model.start().finish(Outcome::Cancelled);
        }
    }
}

/// Whether a body error means the client is gone — it reset the connection before the end of
/// the body — rather than a body that is malformed or ends early. A client that closes its side
/// early (FIN) can still read the 400 it gets, and is a client error, as on actix; one that
/// resets the connection (RST) cannot, and is `cancelled`, as on actix.
fn client_gone(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::NotConnected
            );
        }
        // The connection ended under the body for another reason (hyper dropped it).
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// What became of a request body.
enum Read {
    Body(Bytes),
    Refused(BodyError),
    Gone,
}

/// Reads `body` into one buffer of at most `limit` bytes, within `deadline`.
async fn read_body(body: Incoming, length: Option<u64>, limit: usize, deadline: Duration) -> Read {
    if length.is_some_and(|length| length > limit as u64) {
        // Refused before a byte of it is read.
        return Read::Refused(BodyError::TooLarge);
    }
    // One buffer, sized by `Content-Length` when there is one (it is at most `limit` here).
    // Each frame is copied in and dropped at once: `collect()` would keep every frame, and a
    // frame of hyper's `Incoming` keeps alive the whole read buffer it was cut from (8 KiB), so
    // a body sent one byte per TCP segment would cost 8 KiB per byte until it ends.
    let capacity = length.map_or(0, |length| length as usize);
    let mut buffer = BytesMut::with_capacity(capacity);
    let mut body = Limited::new(body, limit);
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                buffer.extend_from_slice(&data);
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    match tokio::time::timeout(deadline, read).await {
        Err(_) => Read::Refused(BodyError::TimedOut(deadline)),
        Ok(Ok(())) => Read::Body(buffer.freeze()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Read::Refused(BodyError::TooLarge),
        Ok(Err(e)) if client_gone(&*e) => Read::Gone,
        Ok(Err(e)) => Read::Refused(BodyError::Unreadable(e.to_string())),
    }
}

/// The response of [`receive`]: the app's, or the one written for a client that is gone.
pub type Received<B> = Response<Either<B, Full<Bytes>>>;

/// Reads the body of `request` as `receiving` says, then calls `app` with the body in memory:
/// the monitored service's clock starts once the body is in. A refused body (too large, too
/// slow, malformed) reaches `app` empty, with the [`BodyError`] in the request's extensions,
/// for it to answer (and the layer to count as a client error). A client that went away
/// mid-body is not passed on: it counts as `cancelled`.
pub async fn receive<S, B>(request: Request<Incoming>, receiving: &Receiving, app: S) -> Received<B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
{
    let (mut parts, body) = request.into_parts();
    let mut upload = Upload((receiving.model)(&parts));
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match read_body(body, length, (receiving.limit)(&parts), receiving.deadline).await {
        Read::Body(bytes) => Full::new(bytes),
        Read::Refused(error) => {
            parts.extensions.insert(error);
            Full::default()
        }
        Read::Gone => {
            // `upload` counts it on drop. Nobody reads this answer; hyper needs one.
            drop(upload);
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"{\"error\":\"the client closed the connection before the end of the body\"}",
            )));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(api::CONTENT_TYPE),
            );
            return response.map(Either::Right);
        }
    };
    // The body is in: from here the monitored service measures the request.
    upload.0 = None;
    match app.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(Either::Left),
        Err(never) => match never {},
    }
}

/// `app` behind [`receive`], as the service [`serve`] takes.
pub fn receiving<S, B>(
    app: S,
    receiving: Receiving,
) -> impl Service<
    Request<Incoming>,
    Response = Received<B>,
    Error = Infallible,
    Future = impl Future<Output = Result<Received<B>, Infallible>> + Send,
> + Clone
       + Send
       + 'static
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    let receiving = Arc::new(receiving);
    tower::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        let receiving = Arc::clone(&receiving);
        async move { Ok(receive(request, &receiving, app).await) }
    })
}
