//! One blocking HTTP/1.1 request over a plain TCP connection: what the Pushgateway push and the
//! OTLP/HTTP export need, without an HTTP client crate or an async runtime.
//!
//! - Nothing that could split the request reaches the wire: the address, the method, the path
//!   and every header field are checked first (no CR, LF or other control character, no white
//!   space where HTTP allows none), and a request that fails the check is refused before any
//!   connection is made.
//! - One deadline bounds the whole exchange (connecting, sending, reading the answer): each
//!   socket operation may wait only for the time that is left, so a server that trickles bytes
//!   cannot stretch it. Name resolution comes before and is not bounded.
//! - The answer is framed as HTTP/1.1 frames it: interim `1xx` answers are skipped, and the body
//!   of the final one is read to its `content-length`, through its chunks, or to the end of the
//!   connection when it has neither. A server that keeps the connection open after its answer
//!   (although the request says `connection: close`) does not make the request wait for the
//!   deadline. The connection is closed after the answer.
//! - At most 64 KiB of heads and 64 KiB of body are read; a longer body is cut there.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The most bytes of status lines and header fields read, interim answers included.
const MAX_HEAD: u64 = 64 * 1024;
/// The most bytes of body kept; the rest is not read.
const MAX_BODY: u64 = 64 * 1024;

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
    /// The deadline of the whole exchange, from the call to [`send`].
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
    /// The address is empty or holds white space, a control character or `/` (it is
    /// `host:port`, not a URL). Nothing was sent.
    InvalidAddress,
    /// This part of the request (`"method"`, `"path"`, `"content type"`, `"header name"`,
    /// `"header value"`) holds a character HTTP does not allow there. Nothing was sent.
    InvalidRequest(&'static str),
    /// No connection could be made (refused, unreachable, no address, or no answer to the
    /// connection before the deadline).
    Connect(io::Error),
    /// Connected, but sending or receiving the answer did not end before the deadline.
    TimedOut,
    /// The connection failed after it was made (an answer cut short included).
    Io(io::Error),
    /// The answer was not HTTP/1.x.
    InvalidResponse,
}

/// Sends `request` and reads the answer, all before `request.timeout` has passed.
pub(crate) fn send(request: &Request<'_>) -> Result<Answer, SendError> {
    check(request)?;
    let deadline = Deadline::after(request.timeout.max(Duration::from_millis(1)));
    let stream = connect(request.address, deadline)?;
    let mut timed = Timed {
        stream: &stream,
        deadline,
    };
    timed.write_all(head(request).as_bytes()).map_err(failed)?;
    timed.write_all(request.body).map_err(failed)?;
    let bodiless_method = request.method.eq_ignore_ascii_case("HEAD");
    read_answer(&mut BufReader::new(timed), bodiless_method)
}

/// Refuses a request whose head would not be exactly the fields it was given: a CR or LF
/// would end a line early and start a header (or a whole request) of someone else's choosing.
fn check(request: &Request<'_>) -> Result<(), SendError> {
    let address = request.address;
    if address.is_empty()
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(SendError::InvalidAddress);
    }
    if !is_token(request.method) {
        return Err(SendError::InvalidRequest("method"));
    }
    if !request.path.starts_with('/') || request.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(SendError::InvalidRequest("path"));
    }
    if !is_field_value(request.content_type) {
        return Err(SendError::InvalidRequest("content type"));
    }
    for (name, value) in request.headers {
        if !is_token(name) {
            return Err(SendError::InvalidRequest("header name"));
        }
        if !is_field_value(value) {
            return Err(SendError::InvalidRequest("header value"));
        }
    }
    Ok(())
}

/// A method or a header name: one or more `tchar` (RFC 9110, 5.6.2).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: no control character but the horizontal tab (RFC 9110, 5.5).
fn is_field_value(text: &str) -> bool {
    text.bytes().all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// The request line and header fields, checked by [`check`].
fn head(request: &Request<'_>) -> String {
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
    head
}

/// When the exchange must be over; `None` when the timeout is too large to be a point in time.
#[derive(Debug, Clone, Copy)]
struct Deadline(Option<Instant>);

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Self(Instant::now().checked_add(timeout))
    }

    /// The time left (`None`: no bound), or a `TimedOut` error once the deadline has passed.
    fn left(self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.0 else {
            return Ok(None);
        };
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the deadline has passed",
            )),
        }
    }
}

/// Connects to the first of `address`'s socket addresses that answers before the deadline.
fn connect(address: &str, deadline: Deadline) -> Result<TcpStream, SendError> {
    let targets = address.to_socket_addrs().map_err(SendError::Connect)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
    for target in targets {
        let attempt = match deadline.left() {
            Ok(Some(left)) => TcpStream::connect_timeout(&target, left),
            Ok(None) => TcpStream::connect(target),
            Err(e) => return Err(SendError::Connect(e)),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(SendError::Connect(last))
}

/// The connection, each read and write of which may wait only for the time left before the
/// deadline (a socket timeout alone would restart with every byte received).
struct Timed<'a> {
    stream: &'a TcpStream,
    deadline: Deadline,
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(self.deadline.left()?)?;
        self.stream.read(buf)
    }
}

impl Write for Timed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(self.deadline.left()?)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A socket error: the deadline (a timed-out read or write) or another failure.
fn failed(e: io::Error) -> SendError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SendError::TimedOut,
        _ => SendError::Io(e),
    }
}

/// What the head of an answer says.
struct Head {
    status: u16,
    length: Option<u64>,
    chunked: bool,
}

/// Reads the final answer: interim (`1xx`) answers are skipped, the body is read as the head
/// frames it.
fn read_answer(reader: &mut impl BufRead, bodiless_method: bool) -> Result<Answer, SendError> {
    let mut budget = MAX_HEAD;
    loop {
        let head = read_head(reader, &mut budget)?;
        match head.status {
            // Switching protocols: never asked for.
            101 => return Err(SendError::InvalidResponse),
            100..=199 => {}
            status => {
                let body = if bodiless_method || status == 204 || status == 304 {
                    Vec::new()
                } else {
                    read_body(reader, &head)?
                };
                return Ok(Answer { status, body });
            }
        }
    }
}

/// One line, without its line end (`\r\n`, or a bare `\n`), taken from `budget`.
fn read_line(reader: &mut impl BufRead, budget: &mut u64) -> Result<Vec<u8>, SendError> {
    let mut line = Vec::new();
    let read = reader
        .take(*budget)
        .read_until(b'\n', &mut line)
        .map_err(failed)?;
    *budget -= read as u64;
    // The end of the connection, or of the budget, before the end of the line.
    if line.pop() != Some(b'\n') {
        return Err(SendError::InvalidResponse);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// The status line and header fields of one answer.
fn read_head(reader: &mut impl BufRead, budget: &mut u64) -> Result<Head, SendError> {
    let status = parse_status(&read_line(reader, budget)?).ok_or(SendError::InvalidResponse)?;
    let mut head = Head {
        status,
        length: None,
        chunked: false,
    };
    loop {
        let line = read_line(reader, budget)?;
        if line.is_empty() {
            return Ok(head);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(SendError::InvalidResponse)?;
        let name = std::str::from_utf8(&line[..colon]).map_err(|_| SendError::InvalidResponse)?;
        if !is_token(name) {
            return Err(SendError::InvalidResponse);
        }
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or(SendError::InvalidResponse)?;
            // Two different lengths: which one frames the body is anyone's guess.
            if head.length.is_some_and(|seen| seen != length) {
                return Err(SendError::InvalidResponse);
            }
            head.length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked when it is the last coding; it then frames the body, whatever the length.
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        }
    }
}

/// The code of an `HTTP/1.x NNN reason` status line.
fn parse_status(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !minor.is_ascii_digit()
        || !code.iter().all(u8::is_ascii_digit)
        || rest.get(3).is_some_and(|&b| b != b' ')
    {
        return None;
    }
    let status: u16 = std::str::from_utf8(code).ok()?.parse().ok()?;
    (status >= 100).then_some(status)
}

/// The body as `head` frames it, at most [`MAX_BODY`] bytes of it.
fn read_body(reader: &mut impl BufRead, head: &Head) -> Result<Vec<u8>, SendError> {
    let mut body = Vec::new();
    if head.chunked {
        read_chunks(reader, &mut body)?;
    } else if let Some(length) = head.length {
        read_exactly(reader, length.min(MAX_BODY), &mut body)?;
    } else {
        // Neither a length nor chunks: the body ends with the connection.
        reader
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(failed)?;
    }
    Ok(body)
}

/// Appends exactly `count` bytes to `body`; fewer is an answer cut short.
fn read_exactly(
    reader: &mut impl BufRead,
    count: u64,
    body: &mut Vec<u8>,
) -> Result<(), SendError> {
    let read = reader.take(count).read_to_end(body).map_err(failed)?;
    if (read as u64) < count {
        return Err(SendError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// A chunked body (RFC 9112, 7.1), up to its last chunk or [`MAX_BODY`]. Its trailer fields
/// are not read: the connection is closed after the answer.
fn read_chunks(reader: &mut impl BufRead, body: &mut Vec<u8>) -> Result<(), SendError> {
    let mut budget = MAX_HEAD;
    loop {
        let line = read_line(reader, &mut budget)?;
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size)
            .map_err(|_| SendError::InvalidResponse)?
            .trim_matches([' ', '\t']);
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SendError::InvalidResponse);
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| SendError::InvalidResponse)?;
        if size == 0 {
            return Ok(());
        }
        let room = MAX_BODY - body.len() as u64;
        read_exactly(reader, size.min(room), body)?;
        if size >= room {
            return Ok(());
        }
        if !read_line(reader, &mut budget)?.is_empty() {
            return Err(SendError::InvalidResponse);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// Asserts that no client connected to `listener`: nothing is waiting to be accepted.
    pub(crate) fn assert_nothing_connected(listener: &TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let accepted = listener.accept().map(|(_, peer)| peer);
        assert_eq!(
            accepted.map_err(|e| e.kind()).unwrap_err(),
            io::ErrorKind::WouldBlock
        );
    }

    /// A server on 127.0.0.1 for one connection: it reads one request (its head and the body
    /// its `content-length` announces), lets `reply` answer on the connection, and returns the
    /// request as text. Its address is `host:port`.
    pub(crate) fn serve_once(
        reply: impl FnOnce(&mut TcpStream) + Send + 'static,
    ) -> (String, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // A client that never closes fails the test instead of hanging it.
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if body.len() >= length {
                        break;
                    }
                }
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            reply(&mut conn);
            String::from_utf8(request).unwrap()
        });
        (address, server)
    }

    /// Answers with `bytes`, then keeps the connection open until the client closes it.
    pub(crate) fn answer_and_keep_open(bytes: &'static [u8]) -> impl FnOnce(&mut TcpStream) {
        move |conn| {
            conn.write_all(bytes).unwrap();
            let mut rest = [0u8; 64];
            assert_eq!(conn.read(&mut rest).unwrap(), 0, "the client sent more");
        }
    }

    /// Answers with `bytes`, one every 50 ms, until they are all sent or the client is gone.
    pub(crate) fn trickle(bytes: &'static [u8]) -> impl FnOnce(&mut TcpStream) {
        move |conn| {
            for byte in bytes {
                if conn.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn post(address: &str, timeout: Duration) -> Result<Answer, SendError> {
        send(&Request {
            address,
            method: "POST",
            path: "/v1/metrics",
            headers: &[("x-token".to_owned(), "abc".to_owned())],
            content_type: "application/x-protobuf",
            body: b"hello",
            timeout,
        })
    }

    #[test]
    fn sends_the_request_and_reads_status_and_body() {
        let (address, server) = serve_once(|conn| {
            conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 4\r\n\r\nnope")
                .unwrap();
        });
        let answer = post(&address, Duration::from_secs(5)).unwrap();
        assert_eq!(answer.status, 400);
        assert_eq!(answer.message(), "nope");
        assert_eq!(
            server.join().unwrap(),
            format!(
                "POST /v1/metrics HTTP/1.1\r\nhost: {address}\r\n\
                 content-type: application/x-protobuf\r\ncontent-length: 5\r\n\
                 connection: close\r\nx-token: abc\r\n\r\nhello"
            )
        );
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

    #[test]
    fn a_head_that_would_split_is_refused_before_connecting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let injected_address = format!("{address}\r\nx-evil: 1");
        let spaced_address = format!("{address} x");
        let bad_name = [("x\r\ny".to_owned(), "1".to_owned())];
        let bad_value = [("x-token".to_owned(), "a\r\nx-evil: 1".to_owned())];
        let valid = Request {
            address: &address,
            method: "PUT",
            path: "/",
            headers: &[],
            content_type: "text/plain",
            body: b"",
            timeout: Duration::from_secs(1),
        };
        let cases = [
            (
                "address",
                Request {
                    address: &injected_address,
                    ..valid
                },
            ),
            (
                "address",
                Request {
                    address: &spaced_address,
                    ..valid
                },
            ),
            (
                "address",
                Request {
                    address: "",
                    ..valid
                },
            ),
            (
                "address",
                Request {
                    address: "host/x:80",
                    ..valid
                },
            ),
            (
                "method",
                Request {
                    method: "PUT / HTTP/1.1\r\n",
                    ..valid
                },
            ),
            (
                "path",
                Request {
                    path: "/a b",
                    ..valid
                },
            ),
            (
                "path",
                Request {
                    path: "/a\r\nx-evil: 1",
                    ..valid
                },
            ),
            (
                "content type",
                Request {
                    content_type: "text/plain\r\nx: 1",
                    ..valid
                },
            ),
            (
                "header name",
                Request {
                    headers: &bad_name,
                    ..valid
                },
            ),
            (
                "header value",
                Request {
                    headers: &bad_value,
                    ..valid
                },
            ),
        ];
        for (part, request) in &cases {
            match (send(request), *part) {
                (Err(SendError::InvalidAddress), "address") => {}
                (Err(SendError::InvalidRequest(seen)), part) => assert_eq!(seen, part),
                (other, part) => panic!("{part}: {other:?}"),
            }
        }
        // No request made a connection.
        assert_nothing_connected(&listener);
    }

    #[test]
    fn a_server_that_keeps_the_connection_open_gets_its_answer_read_by_length() {
        let (address, server) = serve_once(answer_and_keep_open(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ));
        let started = Instant::now();
        let answer = post(&address, Duration::from_secs(10)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
        server.join().unwrap();
    }

    #[test]
    fn interim_answers_are_skipped() {
        let (address, server) = serve_once(answer_and_keep_open(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
              HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
        ));
        let answer = post(&address, Duration::from_secs(10)).unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (202, &b""[..]));
        server.join().unwrap();
    }

    #[test]
    fn a_chunked_body_is_read_to_its_last_chunk() {
        let (address, server) = serve_once(answer_and_keep_open(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;name=value\r\nbad \r\n7\r\nrequest\r\n0\r\n\r\n",
        ));
        let answer = post(&address, Duration::from_secs(10)).unwrap();
        assert_eq!(
            (answer.status, answer.message()),
            (400, "bad request".to_owned())
        );
        server.join().unwrap();
    }

    #[test]
    fn a_body_without_length_or_chunks_ends_with_the_connection() {
        let (address, server) = serve_once(|conn| {
            conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
                .unwrap();
        });
        let answer = post(&address, Duration::from_secs(10)).unwrap();
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b"until the end"[..])
        );
        server.join().unwrap();
    }

    #[test]
    fn answers_that_are_not_http_are_refused() {
        for reply in [
            &b"SMTP ready\r\n"[..],
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n+2\r\nok\r\n0\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
        ] {
            let (address, server) = serve_once(move |conn| conn.write_all(reply).unwrap());
            let result = post(&address, Duration::from_secs(10));
            assert!(
                matches!(result, Err(SendError::InvalidResponse)),
                "{}: {result:?}",
                String::from_utf8_lossy(reply)
            );
            server.join().unwrap();
        }
    }

    #[test]
    fn a_body_shorter_than_its_length_is_an_error() {
        let (address, server) = serve_once(|conn| {
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nok")
                .unwrap();
        });
        let result = post(&address, Duration::from_secs(10));
        assert!(
            matches!(&result, Err(SendError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{result:?}"
        );
        server.join().unwrap();
    }

    #[test]
    fn one_deadline_bounds_an_answer_that_trickles() {
        // 58 bytes at one per 50 ms: about 3 s to send; each byte comes long before a 300 ms
        // timeout per read would end.
        let (address, server) = serve_once(trickle(
            b"HTTP/1.1 200 OK\r\nx-padding: 0123456789\r\ncontent-length: 2\r\n\r\nok",
        ));
        let started = Instant::now();
        let result = post(&address, Duration::from_millis(300));
        let elapsed = started.elapsed();
        assert!(matches!(result, Err(SendError::TimedOut)), "{result:?}");
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        server.join().unwrap();
    }
}
