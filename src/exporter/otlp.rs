//! OTLP export (feature `otlp`): the same metrics, pushed to an OpenTelemetry collector over
//! OTLP/HTTP with protobuf payloads.
//!
//! The recorder is [metrics-exporter-otel]'s, over the OpenTelemetry SDK: counters become
//! cumulative monotonic sums, the in-progress gauge a gauge, and the latency histogram an
//! explicit-bucket histogram with exactly the [`Monitor`]'s buckets, so a collector that writes
//! to Prometheus shows the numbers `/metrics` shows. A periodic reader on its own thread exports
//! every interval; [`OtlpHandle::flush`] exports at once and [`OtlpHandle::shutdown`] exports a
//! last time and stops.
//!
//! The payloads go out over a plain HTTP/1.1 connection (the one blocking client of this
//! crate, no TLS, no async runtime), the usual set-up for a collector running next to the
//! service. For TLS, build an `opentelemetry_otlp::MetricExporter` with the HTTP client of
//! your choice and hand it to [`OtlpExporter::with_exporter`].
//!
//! [metrics-exporter-otel]: https://docs.rs/metrics-exporter-otel

use std::fmt;
use std::time::Duration;

use metrics::KeyName;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;

use super::http1;
use crate::Monitor;

/// The recorder [`OtlpExporter::build`] returns: metrics-exporter-otel's, over the SDK.
pub type OtlpRecorder = metrics_exporter_otel::OpenTelemetryRecorder;

/// Default bound on one export (connect, send, answer): OpenTelemetry's default, 10 s.
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts configuring the OTLP exporter for the collector's metrics endpoint, such as
/// `http://127.0.0.1:4318/v1/metrics` (a URL without a path gets `/v1/metrics`).
///
/// ```no_run
/// use std::time::Duration;
///
/// let otlp = inference_monitor::otlp("http://127.0.0.1:4318/v1/metrics")
///     .service_name("loan-api")
///     .interval(Duration::from_secs(15))
///     .install()?;
/// // ... serve ...
/// otlp.shutdown()?; // exports a last time
/// # Ok::<(), inference_monitor::exporter::otlp::OtlpError>(())
/// ```
pub fn otlp(endpoint: impl Into<String>) -> OtlpExporter {
    OtlpExporter {
        endpoint: endpoint.into(),
        interval: None,
        timeout: DEFAULT_OTLP_TIMEOUT,
        headers: Vec::new(),
        resource: Vec::new(),
        service_name: None,
        families: Monitor::default()
            .histogram_buckets()
            .iter()
            .map(|(name, buckets)| ((*name).to_owned(), buckets.to_vec()))
            .collect(),
        exporter: None,
    }
}

/// Configures the OTLP exporter. Made by [`otlp()`].
#[must_use]
pub struct OtlpExporter {
    endpoint: String,
    interval: Option<Duration>,
    timeout: Duration,
    headers: Vec<(String, String)>,
    resource: Vec<(String, String)>,
    service_name: Option<String>,
    families: Vec<(String, Vec<f64>)>,
    exporter: Option<opentelemetry_otlp::MetricExporter>,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.endpoint)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("custom_exporter", &self.exporter.is_some())
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Exports every `interval`.
    ///
    /// Defaults to the `OTEL_METRIC_EXPORT_INTERVAL` environment variable (milliseconds), or
    /// 60 s, as OpenTelemetry specifies.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Bounds one whole export: connecting, sending and receiving the answer together. Defaults
    /// to [`DEFAULT_OTLP_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a header to every export, such as an API key the collector asks for.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the `service.name` resource attribute. Defaults to `OTEL_SERVICE_NAME`, or the
    /// SDK's `unknown_service`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds a resource attribute (`deployment.environment`, `service.version`, ...).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Uses `monitor`'s buckets for its histograms ([`Monitor::histogram_buckets`]: latency,
    /// stages, batch size, confidence). Call it for every [`Monitor`] with non-default names or
    /// buckets.
    pub fn monitor(mut self, monitor: &Monitor) -> Self {
        for (metric, buckets) in monitor.histogram_buckets() {
            self.families.retain(|(name, _)| name != metric);
            self.families.push((metric.to_owned(), buckets.to_vec()));
        }
        self
    }

    /// Exports through `exporter` instead of the built-in plain-HTTP client: for TLS, gRPC or
    /// another HTTP client. The endpoint, timeout and headers given here are then not used.
    pub fn with_exporter(mut self, exporter: opentelemetry_otlp::MetricExporter) -> Self {
        self.exporter = Some(exporter);
        self
    }

    /// Builds the recorder without installing it, for composing recorders or for tests with a
    /// local recorder.
    ///
    /// ## Errors
    ///
    /// [`OtlpError::InvalidEndpoint`] for an endpoint that is not an `http://host:port/path`
    /// URL; [`OtlpError::Build`] when the OpenTelemetry exporter refuses the configuration.
    pub fn build(self) -> Result<(OtlpRecorder, OtlpHandle), OtlpError> {
        let exporter = match self.exporter {
            Some(exporter) => exporter,
            None => {
                let endpoint = endpoint_url(&self.endpoint)?;
                opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_http_client(PlainHttp {
                        timeout: self.timeout,
                    })
                    .with_endpoint(endpoint)
                    .with_timeout(self.timeout)
                    .with_headers(self.headers.into_iter().collect())
                    .with_temporality(Temporality::Cumulative)
                    .build()
                    .map_err(|e| OtlpError::Build(e.to_string()))?
            }
        };
        let mut reader = PeriodicReader::builder(exporter);
        if let Some(interval) = self.interval {
            reader = reader.with_interval(interval);
        }
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let resource =
            resource.with_attributes(self.resource.into_iter().map(|(k, v)| KeyValue::new(k, v)));
        let provider = SdkMeterProvider::builder()
            .with_reader(reader.build())
            .with_resource(resource.build())
            .build();
        let recorder = OtlpRecorder::new(provider.meter("inference-monitor"));
        for (metric, buckets) in self.families {
            crate::names::validate_buckets(&buckets)
                .map_err(|e| OtlpError::Build(e.to_string()))?;
            recorder.set_histogram_bounds(&KeyName::from(metric), buckets);
        }
        Ok((recorder, OtlpHandle { provider }))
    }

    /// Installs the recorder as the process's global recorder.
    ///
    /// ## Errors
    ///
    /// [`OtlpError::AlreadyInstalled`] when a global recorder is already installed, and the
    /// errors of [`build`](Self::build). Nothing is installed when an error is returned.
    pub fn install(self) -> Result<OtlpHandle, OtlpError> {
        let (recorder, handle) = self.build()?;
        if metrics::set_global_recorder(recorder).is_err() {
            let _ = handle.provider.shutdown();
            return Err(OtlpError::AlreadyInstalled);
        }
        crate::model::register::installed_foreign();
        Ok(handle)
    }
}

/// Controls the OTLP export: flush now, or shut down with a last export. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OtlpHandle {
    provider: SdkMeterProvider,
}

impl OtlpHandle {
    /// Exports the current values now, blocking until the collector answered.
    ///
    /// ## Errors
    ///
    /// [`OtlpError::Export`] when the collector cannot be reached, times out or refuses.
    pub fn flush(&self) -> Result<(), OtlpError> {
        self.provider
            .force_flush()
            .map_err(|e| OtlpError::Export(e.to_string()))
    }

    /// Exports a last time and stops the export thread. Call it before the process exits.
    ///
    /// ## Errors
    ///
    /// [`OtlpError::Export`] when the last export fails or the exporter was already shut down.
    pub fn shutdown(&self) -> Result<(), OtlpError> {
        self.provider
            .shutdown()
            .map_err(|e| OtlpError::Export(e.to_string()))
    }
}

/// Why the OTLP exporter could not be built, installed, or could not export.
#[derive(Debug)]
#[non_exhaustive]
pub enum OtlpError {
    /// A global recorder is already installed; there can be one per process.
    AlreadyInstalled,
    /// The endpoint is not an `http://host:port/path` URL.
    InvalidEndpoint(String),
    /// The OpenTelemetry exporter refused the configuration.
    Build(String),
    /// An export failed (collector unreachable, too slow, or refusing).
    Export(String),
}

impl fmt::Display for OtlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpError::AlreadyInstalled => f.write_str(
                "a global metrics recorder is already installed: install one exporter, once, at start-up",
            ),
            OtlpError::InvalidEndpoint(why) => write!(f, "invalid OTLP endpoint: {why}"),
            OtlpError::Build(e) => write!(f, "invalid OTLP exporter configuration: {e}"),
            OtlpError::Export(e) => write!(f, "the OTLP export failed: {e}"),
        }
    }
}

impl std::error::Error for OtlpError {}

/// `endpoint` checked: `http`, a host, and `/v1/metrics` when it has no path.
fn endpoint_url(endpoint: &str) -> Result<String, OtlpError> {
    let invalid = |why: &str| OtlpError::InvalidEndpoint(format!("{endpoint:?}: {why}"));
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(invalid(
                "the built-in client speaks plain HTTP; for TLS pass your own exporter with OtlpExporter::with_exporter",
            ))
        }
        _ => return Err(invalid("expected a URL such as http://127.0.0.1:4318/v1/metrics")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(match uri.path() {
        "" | "/" => format!("{}/v1/metrics", endpoint.trim_end_matches('/')),
        _ => endpoint.to_owned(),
    })
}

/// The OTLP exporter's HTTP client: one blocking request per export, on the exporter's own
/// thread (the SDK's periodic reader runs one).
#[derive(Debug)]
struct PlainHttp {
    timeout: Duration,
}

#[async_trait::async_trait]
impl HttpClient for PlainHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri();
        let host = uri.host().ok_or("the OTLP endpoint has no host")?;
        let address = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut content_type = "application/x-protobuf";
        let mut headers = Vec::new();
        for (name, value) in request.headers() {
            let value = value.to_str().map_err(|_| "an OTLP header is not text")?;
            match name.as_str() {
                "content-type" => content_type = value,
                "host" | "content-length" | "connection" => {}
                other => headers.push((other.to_owned(), value.to_owned())),
            }
        }
        let answer = http1::send(&http1::Request {
            address: &address,
            method: request.method().as_str(),
            path,
            headers: &headers,
            content_type,
            body: request.body(),
            timeout: self.timeout,
        })
        .map_err(|e| -> HttpError {
            match e {
                http1::SendError::Connect(e) => format!("cannot reach {address}: {e}").into(),
                http1::SendError::TimedOut => format!("{address} did not answer in time").into(),
                http1::SendError::Io(e) => format!("{address}: {e}").into(),
                http1::SendError::InvalidResponse => {
                    format!("{address} did not answer in HTTP").into()
                }
                http1::SendError::InvalidAddress => {
                    format!("the OTLP address {address:?} is not host:port").into()
                }
                http1::SendError::InvalidRequest(part) => {
                    format!("the OTLP request's {part} is not valid HTTP").into()
                }
            }
        })?;
        let mut response = Response::new(Bytes::from(answer.body));
        *response.status_mut() = http::StatusCode::from_u16(answer.status)?;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_completed() {
        assert_eq!(
            endpoint_url("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/metrics"
        );
        assert_eq!(
            endpoint_url("http://collector:4318/custom/path").unwrap(),
            "http://collector:4318/custom/path"
        );
        for bad in ["https://collector:4318", "collector:4318", "not a url", ""] {
            let error = endpoint_url(bad).unwrap_err();
            assert!(
                matches!(error, OtlpError::InvalidEndpoint(_)),
                "{bad}: {error}"
            );
        }
        assert!(endpoint_url("https://c:4318")
            .unwrap_err()
            .to_string()
            .contains("with_exporter"));
    }
}
