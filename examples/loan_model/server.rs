//! Start-up shared by the example servers: the listen address, the monitor and exporter, how
//! `/metrics` is served (`METRICS_TOKEN`, `METRICS_ADDR`), and the banner, so the three servers
//! start and introduce themselves the same way.

use std::net::SocketAddr;

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
pub fn dashboard() -> DashboardService {
    Dashboard::new().service()
}

/// Serves the `/metrics` `service` and the `dashboard` on its own `listener` until the task is
/// dropped; any other path gets `404`. It is plain hyper over HTTP/1.1, with the protections that matter for an
/// endpoint nobody but Prometheus should call: a client has 5 seconds to send a request head
/// (a slow or idle client cannot hold a connection for ever), and at most 16 connections are
/// served at a time (the others wait in the kernel's accept queue).
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    service: MetricsService,
    dashboard: DashboardService,
) {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
    const MAX_CONNECTIONS: usize = 16;

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = std::sync::Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                eprintln!("metrics listener: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = service.clone();
        let dashboard = dashboard.clone();
        let handler = hyper::service::service_fn(move |request: http::Request<_>| {
            let service = service.clone();
            let dashboard = dashboard.clone();
            async move {
                if request.uri().path() == "/metrics" {
                    service.oneshot(request).await
                } else if request.uri().path() == "/dashboard" {
                    dashboard.oneshot(request).await
                } else {
                    let mut response = http::Response::new("404 Not Found\n".to_owned());
                    *response.status_mut() = http::StatusCode::NOT_FOUND;
                    Ok(response)
                }
            }
        });
        let connection = http.serve_connection(TokioIo::new(stream), handler);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
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
