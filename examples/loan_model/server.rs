//! Start-up shared by the example servers: the listen address, the monitor and exporter, how
//! `/metrics` is served (`METRICS_TOKEN`, `METRICS_ADDR`), and the banner, so the three servers
//! start and introduce themselves the same way.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;

use inference_monitor::{
    dashboard::DashboardService,
    exporter::prometheus::{MetricsAuth, MetricsService},
    Dashboard, MetricsHandle, Monitor,
};

use super::{api, LABELS};

/// A sample request body, as in the banner's `curl` lines.
pub const SAMPLE: &str = r#"{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}"#;

/// The address from `ADDR`, or `127.0.0.1:8000` (the seed's scrape target; loopback only).
pub fn addr_from_env() -> Result<SocketAddr, String> {
    std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8000".to_owned())
        .parse()
        .map_err(|e| format!("ADDR must be an address like 127.0.0.1:8000: {e}"))
}

/// The monitor (with the model's two classes declared, so their series start at 0) and the
/// installed Prometheus exporter, with process metrics.
pub fn install_monitoring() -> Result<(Monitor, MetricsHandle), Box<dyn std::error::Error>> {
    install_monitoring_for(Monitor::builder().labels(LABELS).build()?)
}

/// [`install_monitoring`] with a monitor of the server's own making (more signals declared).
pub fn install_monitoring_for(
    monitor: Monitor,
) -> Result<(Monitor, MetricsHandle), Box<dyn std::error::Error>> {
    let metrics = inference_monitor::prometheus()
        .monitor(&monitor)
        .with_process_metrics()
        .install()?;
    Ok((monitor, metrics))
}

/// How an example serves `/metrics`, from the environment (see `docs/security.md`):
///
/// * `METRICS_TOKEN=<token>`: `/metrics` answers only requests with
///   `Authorization: Bearer <token>`, and `401` to the others;
/// * `METRICS_ADDR=127.0.0.1:9464`: `/metrics` is served on that address, on its own listener,
///   and no longer on the main one.
///
/// Neither is set by default: `/metrics` is open on the main address, which is loopback.
pub struct MetricsEndpoint {
    /// The bearer token check, from `METRICS_TOKEN`.
    pub auth: Option<MetricsAuth>,
    /// The separate listener's address, from `METRICS_ADDR`.
    pub addr: Option<SocketAddr>,
    /// The separate listener's bound address (its real port when `METRICS_ADDR` has port 0),
    /// set by the server once bound.
    pub local: Option<SocketAddr>,
}

impl MetricsEndpoint {
    /// Reads `METRICS_TOKEN` and `METRICS_ADDR`.
    pub fn from_env() -> Result<Self, String> {
        let auth = match std::env::var("METRICS_TOKEN") {
            // Surrounding white space (a trailing newline from a file) is not part of the
            // token: Prometheus trims its `credentials_file` the same way.
            Ok(token) if token.trim().is_empty() => {
                return Err("METRICS_TOKEN is set but empty: unset it, or give it a token".into())
            }
            Ok(token) => Some(MetricsAuth::bearer(token.trim())),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err("METRICS_TOKEN must be valid UTF-8".into())
            }
        };
        let addr = match std::env::var("METRICS_ADDR") {
            Ok(addr) => Some(addr.parse().map_err(|e| {
                format!("METRICS_ADDR must be an address like 127.0.0.1:9464: {e}")
            })?),
            Err(_) => None,
        };
        Ok(Self {
            auth,
            addr,
            local: None,
        })
    }

    /// Whether `/metrics` is served on the main address.
    pub fn on_main_address(&self) -> bool {
        self.addr.is_none()
    }

    /// The `/metrics` service, with the token check when `METRICS_TOKEN` is set.
    pub fn service(&self, metrics: &MetricsHandle) -> MetricsService {
        match &self.auth {
            Some(auth) => metrics.service().with_auth(auth.clone()),
            None => metrics.service(),
        }
    }

    /// Binds the separate listener when `METRICS_ADDR` is set, and records its address.
    pub async fn bind(&mut self) -> Result<Option<tokio::net::TcpListener>, String> {
        let Some(addr) = self.addr else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on METRICS_ADDR {addr}: {e}"))?;
        self.local = Some(listener.local_addr().map_err(|e| e.to_string())?);
        Ok(Some(listener))
    }

    /// The banner's lines about `/metrics`, for a server whose main address is `main`.
    fn banner_lines(&self, main: SocketAddr) -> Vec<String> {
        let at = self.local.or(self.addr).unwrap_or(main);
        let curl = match self.auth {
            Some(_) => format!(
                "metrics: curl -s http://{at}/metrics -H \"authorization: Bearer $METRICS_TOKEN\""
            ),
            None => format!("metrics: curl -s http://{at}/metrics"),
        };
        let access = if self.auth.is_some() {
            "metrics access: bearer token required (METRICS_TOKEN is set; 401 without it)"
        } else {
            "metrics access: open to anyone who can connect (METRICS_TOKEN=<token> requires a bearer token)"
        };
        let listener = if self.on_main_address() {
            "metrics listener: main address (METRICS_ADDR=127.0.0.1:9464 moves /metrics to its own listener)"
                .to_owned()
        } else {
            format!("metrics listener: {at} only, from METRICS_ADDR (the main address answers 404)")
        };
        let dashboard = if self.auth.is_some() {
            format!("dashboard: http://{at}/dashboard (live charts of /metrics; it asks for METRICS_TOKEN, kept in the browser tab)")
        } else {
            format!("dashboard: http://{at}/dashboard (live charts of /metrics, no Grafana needed)")
        };
        vec![curl, access.to_owned(), listener, dashboard]
    }
}

/// The live dashboard (`/dashboard`), served wherever `/metrics` is (the page reads the metrics
/// from its own origin). Without a token it reads `/metrics` openly; with `METRICS_TOKEN` the page
/// asks for the token on the first `401`.
pub fn dashboard() -> DashboardService<Full<Bytes>> {
    // Each response holds a handle to the one copy of the page (~85 KB), none copies it.
    Dashboard::new().service().with_body()
}

/// Time a client of the metrics listener has to send a request head; it also closes a
/// keep-alive connection idle that long (hyper starts the timer whenever it waits for a head).
pub const METRICS_HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Connections the metrics listener keeps open at a time. Past it, the oldest connection that is
/// not being answered is closed to make room, so a new client always gets in.
pub const METRICS_MAX_CONNECTIONS: usize = 256;

/// One open connection of the metrics listener.
struct MetricsConnection {
    /// Set while a request of this connection is being answered: such a connection is not
    /// evicted.
    busy: std::sync::atomic::AtomicBool,
    /// Notified to close the connection (eviction).
    evict: tokio::sync::Notify,
}

/// The open connections of the metrics listener, oldest first (ids grow with each accept).
type MetricsConnections =
    std::sync::Mutex<std::collections::BTreeMap<u64, std::sync::Arc<MetricsConnection>>>;

/// Clears a connection's `busy` flag when its request has been answered (or dropped).
struct Answering(std::sync::Arc<MetricsConnection>);

impl Answering {
    fn new(connection: &std::sync::Arc<MetricsConnection>) -> Self {
        connection
            .busy
            .store(true, std::sync::atomic::Ordering::Release);
        Self(std::sync::Arc::clone(connection))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0
            .busy
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Makes room for one more connection when `open` holds `limit` already: evicts the oldest one
/// that is not being answered (idle, or still sending its head). `false` when every open
/// connection is being answered, and the new one must be refused.
fn make_room(open: &MetricsConnections, limit: usize) -> bool {
    let mut open = open
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if open.len() < limit {
        return true;
    }
    let oldest_idle = open
        .iter()
        .find(|(_, c)| !c.busy.load(std::sync::atomic::Ordering::Acquire))
        .map(|(&id, _)| id);
    match oldest_idle.and_then(|id| open.remove(&id)) {
        Some(evicted) => {
            // `notify_one` keeps the wake-up if the task is not waiting yet.
            evicted.evict.notify_one();
            true
        }
        None => false,
    }
}

/// Serves the `/metrics` `service` and the `dashboard` on its own `listener` until the task is
/// dropped; any other path gets `404`. It is plain hyper over HTTP/1.1, with the protections that
/// matter for an endpoint nobody but Prometheus should call, so that clients without the token
/// cannot keep Prometheus out (see `docs/security.md`):
///
/// * every connection is accepted at once (no queue in the kernel for a scrape to wait in);
/// * a client has [`METRICS_HEADER_READ_TIMEOUT`] (5 s) to send a request head, and a
///   keep-alive connection idle that long is closed (hyper's `header_read_timeout`);
/// * a `401` (no or wrong token) and a `404` close the connection (`Connection: close`): a
///   client without the token cannot keep a connection by asking again and again;
/// * at most [`METRICS_MAX_CONNECTIONS`] (256) connections are open at a time; the next one
///   closes the oldest connection not being answered at that moment, so idle and slow clients
///   make room for a scrape instead of making it wait.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    service: MetricsService,
    dashboard: DashboardService<Full<Bytes>>,
) {
    use std::sync::Arc;

    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(METRICS_HEADER_READ_TIMEOUT);
    let open: Arc<MetricsConnections> = Arc::default();
    let mut next_id = 0_u64;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                eprintln!("metrics listener: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if !make_room(&open, METRICS_MAX_CONNECTIONS) {
            // Every open connection is being answered: refuse this one (dropping it closes it).
            continue;
        }
        let id = next_id;
        next_id += 1;
        let connection = Arc::new(MetricsConnection {
            busy: std::sync::atomic::AtomicBool::new(false),
            evict: tokio::sync::Notify::new(),
        });
        open.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, Arc::clone(&connection));
        let service = service.clone();
        let dashboard = dashboard.clone();
        let this = Arc::clone(&connection);
        let handler = hyper::service::service_fn(move |request: http::Request<_>| {
            let service = service.clone();
            let dashboard = dashboard.clone();
            let answering = Answering::new(&this);
            async move {
                let mut response = if request.uri().path() == "/metrics" {
                    service
                        .oneshot(request)
                        .await?
                        .map(|text| Full::new(Bytes::from(text)))
                } else if request.uri().path() == "/dashboard" {
                    dashboard.oneshot(request).await?
                } else {
                    let mut response =
                        http::Response::new(Full::new(Bytes::from_static(b"404 Not Found\n")));
                    *response.status_mut() = http::StatusCode::NOT_FOUND;
                    response
                };
                if matches!(
                    response.status(),
                    http::StatusCode::UNAUTHORIZED | http::StatusCode::NOT_FOUND
                ) {
                    // hyper closes the connection once this answer is written.
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                drop(answering);
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let served = http.serve_connection(TokioIo::new(stream), handler);
        let open = Arc::clone(&open);
        tokio::spawn(async move {
            // A connection error (a client gone, a malformed or slow head) concerns that client
            // only. Eviction drops the connection, which closes its socket.
            tokio::select! {
                _ = served => {}
                () = connection.evict.notified() => {}
            }
            open.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
        });
    }
}

/// Prints the start-up banner of `example` listening on `local`; `extra` lines go after the
/// `predict` line, then the lines about `/metrics`. The `listening on` line comes last: scripts
/// and tests wait for it.
pub fn print_banner(
    example: &str,
    what: &str,
    local: SocketAddr,
    metrics: &MetricsEndpoint,
    extra: &[String],
    limits: &super::serving::Limits,
) {
    println!("{example}: {what}, monitored by inference-monitor");
    println!(
        "  predict: curl -s http://{local}/predict -H 'content-type: application/json' -d '{SAMPLE}'"
    );
    for line in extra {
        println!("  {line}");
    }
    for line in metrics.banner_lines(local) {
        println!("  {line}");
    }
    println!("  health:  curl -s http://{local}/healthz");
    println!(
        "  faults:  {} (INJECT_FAULTS=1 makes requests with header '{}: model-error' fail with 500)",
        if api::faults_enabled() { "on" } else { "off" },
        api::FAULT_HEADER
    );
    println!("  {}", limits.banner_line());
    println!("  {}", limits.stop_line());
    println!("{example} listening on http://{local}");
}
