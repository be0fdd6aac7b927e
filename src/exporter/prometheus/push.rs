//! Pushing the metrics to a Prometheus Pushgateway, for batch jobs that end before a scrape.
//!
//! A blocking HTTP/1.1 `PUT` over a plain TCP connection (no TLS, no async runtime), with one
//! deadline for the connection, the write and the answer together: a gateway that is down gives
//! [`PushError::Connect`] at once, one that hangs or trickles its answer gives
//! [`PushError::TimedOut`] at the deadline, one that refuses gives [`PushError::Rejected`] with
//! its status and message. Nothing retries and nothing hangs; the caller decides what a failed
//! push means.
//!
//! The job and the label values go into the path base64url-encoded (the gateway's `@base64`
//! form), so they may hold any character; the label names and the address go in as they are,
//! so a push whose label name is not a Prometheus label name, or whose address holds white space,
//! a control character or `/`, is refused before anything is sent
//! ([`PushError::InvalidLabelName`], [`PushError::InvalidAddress`]).

use std::fmt;
use std::io;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::handle::MetricsHandle;
use super::text::CONTENT_TYPE;
use crate::exporter::http1;

/// Default bound on a whole push (connect, send, answer).
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A Pushgateway and the group to push to: the job and optional grouping labels.
///
/// ```no_run
/// use inference_monitor::exporter::prometheus::Pushgateway;
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
    ///
    /// The value may hold any character (it is sent base64url-encoded); the name must be a
    /// Prometheus label name, `[a-zA-Z_][a-zA-Z0-9_]*`, or the push fails with
    /// [`PushError::InvalidLabelName`] before anything is sent.
    #[must_use]
    pub fn grouping(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }

    /// Bounds a whole push, connecting, sending and receiving the answer together: one
    /// deadline, however slowly the gateway answers. Resolving the address's name comes before
    /// and is not bounded. Defaults to [`DEFAULT_PUSH_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The request path: every value base64url-encoded (the gateway's `@base64` form), so a job
    /// or label value may hold any character, `/` included; every label name checked, as it
    /// goes into the path as it is.
    fn path(&self) -> Result<String, PushError> {
        let mut path = format!("/metrics/job@base64/{}", base64url(&self.job));
        for (name, value) in &self.grouping {
            if !is_label_name(name) {
                return Err(PushError::InvalidLabelName { name: name.clone() });
            }
            path.push_str(&format!("/{name}@base64/{}", base64url(value)));
        }
        Ok(path)
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the Prometheus label name grammar.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    /// A grouping label name is not a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    /// Nothing was sent.
    InvalidLabelName {
        /// The name given to [`Pushgateway::grouping`].
        name: String,
    },
    /// The gateway's address is empty or holds white space, a control character or `/` (it is
    /// `host:port`, not a URL). Nothing was sent.
    InvalidAddress {
        /// The address given to [`Pushgateway::new`].
        address: String,
    },
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
            PushError::InvalidLabelName { name } => write!(
                f,
                "grouping label name {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            ),
            PushError::InvalidAddress { address } => write!(
                f,
                "Pushgateway address {address:?} is not host:port (white space, a control \
                 character or '/')"
            ),
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
    /// Blocking, bounded by the gateway's timeout as a whole; never retries.
    ///
    /// ## Errors
    ///
    /// [`PushError`]: an invalid label name or address (nothing sent), unreachable, timed out,
    /// refused, or an answer that is not HTTP.
    pub fn push(&self, gateway: &Pushgateway) -> Result<(), PushError> {
        let path = gateway.path()?;
        let body = self.render();
        let address = &gateway.address;
        let answer = http1::send(&http1::Request {
            address,
            method: "PUT",
            path: &path,
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
            http1::SendError::InvalidAddress => PushError::InvalidAddress {
                address: address.clone(),
            },
            // The method, content type and headers are the crate's own, the path base64 and
            // checked names: not reached, but not a panic either.
            http1::SendError::InvalidRequest(part) => PushError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the push request's {part} is not valid HTTP"),
            )),
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
    use std::net::TcpListener;
    use std::time::Instant;

    use crate::exporter::http1::tests::{
        answer_and_keep_open, assert_nothing_connected, serve_once, trickle,
    };

    fn metrics() -> MetricsHandle {
        crate::prometheus().build().unwrap().1
    }

    #[test]
    fn label_names_follow_the_prometheus_grammar() {
        for good in ["shard", "_x", "Shard_2", "__name"] {
            assert!(is_label_name(good), "{good:?}");
        }
        for bad in ["", "1st", "a-b", "a b", "a\r\nb", "a/b", "a:b", "\u{e9}"] {
            assert!(!is_label_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_label_name_or_an_address_that_would_split_the_request_is_refused_unsent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        for name in ["bad name", "shard\r\nx-evil: 1", "a/b", "", "1st"] {
            let gateway = Pushgateway::new(&address, "batch").grouping(name, "3");
            match metrics().push(&gateway).unwrap_err() {
                PushError::InvalidLabelName { name: seen } => assert_eq!(seen, name),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        let error = metrics()
            .push(&Pushgateway::new(&address, "batch").grouping("a b", "3"))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "grouping label name \"a b\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        );
        for bad in [
            format!("{address} x"),
            format!("{address}\r\nx-evil: 1"),
            format!("{address}/metrics"),
            String::new(),
        ] {
            match metrics()
                .push(&Pushgateway::new(&bad, "batch"))
                .unwrap_err()
            {
                PushError::InvalidAddress { address: seen } => assert_eq!(seen, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // Nothing connected.
        assert_nothing_connected(&listener);
    }

    #[test]
    fn a_gateway_that_keeps_the_connection_open_takes_the_push_at_once() {
        let (address, server) = serve_once(answer_and_keep_open(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ));
        let gateway = Pushgateway::new(&address, "batch")
            .grouping("shard", "3")
            .timeout(Duration::from_secs(10));
        let started = Instant::now();
        let result = metrics().push(&gateway);
        assert!(matches!(result, Ok(())), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let request = server.join().unwrap();
        assert!(
            request.starts_with("PUT /metrics/job@base64/YmF0Y2g/shard@base64/Mw HTTP/1.1\r\n"),
            "{request}"
        );
    }

    #[test]
    fn a_continue_before_the_answer_is_skipped() {
        let (address, server) = serve_once(answer_and_keep_open(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
        ));
        let result = metrics().push(&Pushgateway::new(&address, "batch"));
        assert!(matches!(result, Ok(())), "{result:?}");
        server.join().unwrap();

        let (address, server) = serve_once(answer_and_keep_open(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 8\r\n\r\nbad text",
        ));
        match metrics()
            .push(&Pushgateway::new(&address, "batch"))
            .unwrap_err()
        {
            PushError::Rejected { status, message } => {
                assert_eq!((status, message.as_str()), (400, "bad text"));
            }
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
    }

    #[test]
    fn a_gateway_that_trickles_its_answer_times_out_at_the_deadline() {
        let (address, server) = serve_once(trickle(
            b"HTTP/1.1 200 OK\r\nx-padding: 0123456789\r\ncontent-length: 0\r\n\r\n",
        ));
        let gateway = Pushgateway::new(&address, "batch").timeout(Duration::from_millis(300));
        let started = Instant::now();
        let error = metrics().push(&gateway).unwrap_err();
        let elapsed = started.elapsed();
        match error {
            PushError::TimedOut { address: seen } => assert_eq!(seen, address),
            other => panic!("{other:?}"),
        }
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        server.join().unwrap();
    }

    #[test]
    fn paths_encode_every_value_as_base64url() {
        let gateway = Pushgateway::new("127.0.0.1:9091", "loan batch/1").grouping("shard", "");
        assert_eq!(
            gateway.path().unwrap(),
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
