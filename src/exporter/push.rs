//! Pushing the metrics to a Prometheus Pushgateway, for batch jobs that end before a scrape.
//!
//! A blocking HTTP/1.1 `PUT` over a plain TCP connection (no TLS, no async runtime), with one
//! timeout bounding the connection, the write and the wait for the answer: a gateway that is
//! down gives [`PushError::Connect`] at once, one that hangs gives [`PushError::TimedOut`] after
//! the timeout, one that refuses gives [`PushError::Rejected`] with its status and message.
//! Nothing retries and nothing hangs; the caller decides what a failed push means.

use std::fmt;
use std::io;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::http1;
use super::prometheus::{MetricsHandle, CONTENT_TYPE};

/// Default bound on each step of a push (connect, send, answer).
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A Pushgateway and the group to push to: the job and optional grouping labels.
///
/// ```no_run
/// use inference_monitor::Pushgateway;
///
/// let metrics = inference_monitor::prometheus().install()?;
/// // ... score the batch ...
/// let gateway = Pushgateway::new("127.0.0.1:9091", "loan_batch").grouping("shard", "3");
/// if let Err(error) = metrics.push(&gateway) {
///     eprintln!("metrics not pushed: {error}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pushgateway {
    address: String,
    job: String,
    grouping: Vec<(String, String)>,
    timeout: Duration,
}

impl Pushgateway {
    /// The gateway at `address` (`host:port`, plain HTTP), pushing as `job`.
    pub fn new(address: impl Into<String>, job: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            job: job.into(),
            grouping: Vec::new(),
            timeout: DEFAULT_PUSH_TIMEOUT,
        }
    }

    /// Adds a grouping label (`instance`, a shard, ...): pushes with other values do not replace
    /// this group's metrics.
    #[must_use]
    pub fn grouping(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }

    /// Bounds each step of a push: connecting, sending, and waiting for the answer
    /// ([`DEFAULT_PUSH_TIMEOUT`] by default).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The request path: every value base64url-encoded (the gateway's `@base64` form), so a job
    /// or label value may hold any character, `/` included.
    fn path(&self) -> String {
        let mut path = format!("/metrics/job@base64/{}", base64url(&self.job));
        for (name, value) in &self.grouping {
            path.push_str(&format!("/{name}@base64/{}", base64url(value)));
        }
        path
    }
}

/// `value` in base64url without padding; an empty value is `=`, as the gateway asks.
fn base64url(value: &str) -> String {
    if value.is_empty() {
        return "=".to_owned();
    }
    URL_SAFE_NO_PAD.encode(value)
}

/// Why a push failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The gateway could not be reached (refused, unreachable, or no answer to the connection
    /// within the timeout).
    Connect {
        /// The gateway's address.
        address: String,
        /// What the system said.
        source: io::Error,
    },
    /// The gateway accepted the connection but did not take the metrics or answer within the
    /// timeout.
    TimedOut {
        /// The gateway's address.
        address: String,
    },
    /// The connection failed after it was made.
    Io(io::Error),
    /// The gateway answered with a status other than 200 or 202.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The start of the gateway's message.
        message: String,
    },
    /// The answer was not HTTP.
    InvalidResponse,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Connect { address, source } => {
                write!(f, "cannot reach the Pushgateway at {address}: {source}")
            }
            PushError::TimedOut { address } => {
                write!(f, "the Pushgateway at {address} did not answer in time")
            }
            PushError::Io(e) => write!(f, "the push to the Pushgateway failed: {e}"),
            PushError::Rejected { status, message } => {
                write!(
                    f,
                    "the Pushgateway refused the metrics ({status}): {message}"
                )
            }
            PushError::InvalidResponse => f.write_str("the Pushgateway's answer is not HTTP"),
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::Connect { source, .. } => Some(source),
            PushError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl MetricsHandle {
    /// Pushes the current metrics to `gateway`, replacing what its group held (HTTP `PUT`).
    ///
    /// Blocking, bounded by the gateway's timeout at each step; never retries.
    ///
    /// ## Errors
    ///
    /// [`PushError`]: unreachable, timed out, refused, or an answer that is not HTTP.
    pub fn push(&self, gateway: &Pushgateway) -> Result<(), PushError> {
        let body = self.render();
        let address = &gateway.address;
        let answer = http1::send(&http1::Request {
            address,
            method: "PUT",
            path: &gateway.path(),
            headers: &[],
            content_type: CONTENT_TYPE,
            body: body.as_bytes(),
            timeout: gateway.timeout,
        })
        .map_err(|e| match e {
            http1::SendError::Connect(source) => PushError::Connect {
                address: address.clone(),
                source,
            },
            http1::SendError::TimedOut => PushError::TimedOut {
                address: address.clone(),
            },
            http1::SendError::Io(e) => PushError::Io(e),
            http1::SendError::InvalidResponse => PushError::InvalidResponse,
        })?;
        match answer.status {
            200 | 202 => Ok(()),
            status => Err(PushError::Rejected {
                status,
                message: answer.message(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_every_value_as_base64url() {
        let gateway = Pushgateway::new("127.0.0.1:9091", "loan batch/1").grouping("shard", "");
        assert_eq!(
            gateway.path(),
            "/metrics/job@base64/bG9hbiBiYXRjaC8x/shard@base64/="
        );
        assert_eq!(base64url("\u{fb}\u{ff}"), "w7vDvw");
        assert_eq!(base64url(">>>?"), "Pj4-Pw");
        assert_eq!(base64url("??>"), "Pz8-");
    }

    #[test]
    fn base64url_matches_rfc_4648_without_padding() {
        for (plain, encoded) in [
            ("", "="),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(plain), encoded, "{plain:?}");
        }
    }
}
