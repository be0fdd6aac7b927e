//! One blocking HTTP/1.1 request over a plain TCP connection: what the Pushgateway push and the
//! OTLP/HTTP export need, without an HTTP client crate or an async runtime.
//!
//! One timeout bounds each step (connecting, sending, waiting for the answer); the connection
//! is closed after the answer (`connection: close`), and at most 64 KiB of the answer is read.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A request to send: everything but the connection.
pub(crate) struct Request<'a> {
    /// `host:port`.
    pub(crate) address: &'a str,
    /// `PUT`, `POST`, ...
    pub(crate) method: &'a str,
    /// The path and query, starting with `/`.
    pub(crate) path: &'a str,
    /// Extra header fields, each `name: value`, without line ends.
    pub(crate) headers: &'a [(String, String)],
    pub(crate) content_type: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) timeout: Duration,
}

/// The answer: its status and the start of its body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The start of the body as text, trimmed, at most 200 characters: for error messages.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn message(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .trim()
            .chars()
            .take(200)
            .collect()
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made (refused, unreachable, no address, or no answer to the
    /// connection within the timeout).
    Connect(io::Error),
    /// Connected, but sending or waiting for the answer took longer than the timeout.
    TimedOut,
    /// The connection failed after it was made.
    Io(io::Error),
    /// The answer was not HTTP.
    InvalidResponse,
}

/// Sends `request` and reads the answer.
pub(crate) fn send(request: &Request<'_>) -> Result<Answer, SendError> {
    let timeout = request.timeout.max(Duration::from_millis(1));
    let targets = request
        .address
        .to_socket_addrs()
        .map_err(SendError::Connect)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
    let mut stream = None;
    for target in targets {
        match TcpStream::connect_timeout(&target, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or(SendError::Connect(last))?;
    let timed_out = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SendError::TimedOut,
        _ => SendError::Io(e),
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(SendError::Io)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(SendError::Io)?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        request.method,
        request.path,
        request.address,
        request.content_type,
        request.body.len()
    );
    for (name, value) in request.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(timed_out)?;
    stream.write_all(request.body).map_err(timed_out)?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .map_err(timed_out)?;
    let status: u16 = answer
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .ok_or(SendError::InvalidResponse)?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |at| answer[at + 4..].to_vec());
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn sends_the_request_and_reads_status_and_body() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut seen = vec![0u8; 4096];
            let mut len = 0;
            while !String::from_utf8_lossy(&seen[..len]).ends_with("\r\n\r\nhello") {
                len += conn.read(&mut seen[len..]).unwrap();
            }
            conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 4\r\n\r\nnope")
                .unwrap();
            String::from_utf8_lossy(&seen[..len]).into_owned()
        });
        let answer = send(&Request {
            address: &address,
            method: "POST",
            path: "/v1/metrics",
            headers: &[("x-token".to_owned(), "abc".to_owned())],
            content_type: "application/x-protobuf",
            body: b"hello",
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        assert_eq!(answer.status, 400);
        assert_eq!(answer.message(), "nope");
        let seen = server.join().unwrap();
        assert!(seen.starts_with("POST /v1/metrics HTTP/1.1\r\n"), "{seen}");
        assert!(seen.contains("\r\ncontent-length: 5\r\n"), "{seen}");
        assert!(seen.contains("\r\nx-token: abc\r\n"), "{seen}");
    }

    #[test]
    fn a_closed_port_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let result = send(&Request {
            address: &format!("127.0.0.1:{port}"),
            method: "PUT",
            path: "/",
            headers: &[],
            content_type: "text/plain",
            body: b"",
            timeout: Duration::from_secs(1),
        });
        assert!(matches!(result, Err(SendError::Connect(_))), "{result:?}");
    }
}
