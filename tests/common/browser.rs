//! Headless Chromium for the live dashboard's tests: a page's rendered DOM (`--dump-dom` after
//! a virtual-time budget) and screenshots, each run with a fresh profile in a temporary
//! directory; and a scripted HTTP server that serves a page and a `/metrics` that changes
//! from one request to the next.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::stack::{require, TempDir};

/// The flags every run gets: no sandbox (containers), no GPU, and nothing that reaches the
/// network on its own.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The installed Chromium.
pub struct Chromium {
    binary: PathBuf,
}

impl Chromium {
    /// Chromium, or `None` after saying what to install (`sudo apt-get install chromium`); in
    /// CI a missing browser fails the test.
    pub fn find() -> Option<Self> {
        require("chromium", "chromium").map(|binary| Self { binary })
    }

    /// Runs Chromium on `url` with `extra` flags and returns its standard output.
    fn run(&self, url: &str, extra: &[String]) -> String {
        let profile = TempDir::new("chromium");
        let log = profile.path().join("chromium.log");
        let mut child = Command::new(&self.binary)
            .args(FLAGS)
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("chromium log"))
            .spawn()
            .expect("start chromium");
        let mut stdout = child.stdout.take().unwrap();
        // The DOM is larger than a pipe: read it while Chromium runs.
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for chromium") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish {url} in 90 s; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = reader.join().expect("chromium output");
        assert!(
            status.success(),
            "chromium failed on {url} ({status}); its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        out
    }

    /// The DOM of `url` once `virtual_ms` of virtual time have passed (timers run, fetches
    /// complete) — what the page shows then.
    pub fn dom(&self, url: &str, virtual_ms: u32) -> Dom {
        let html = self.run(
            url,
            &[
                format!("--virtual-time-budget={virtual_ms}"),
                "--dump-dom".to_owned(),
            ],
        );
        assert!(html.contains("</body>"), "no DOM from {url}: {html:?}");
        Dom(html)
    }

    /// A 1280x900 screenshot of `url` into `path` after `virtual_ms` of virtual time.
    pub fn screenshot(&self, url: &str, virtual_ms: u32, path: &Path) {
        self.run(
            url,
            &[
                format!("--virtual-time-budget={virtual_ms}"),
                "--window-size=1280,900".to_owned(),
                "--hide-scrollbars".to_owned(),
                format!("--screenshot={}", path.display()),
            ],
        );
        assert!(path.is_file(), "no screenshot of {url}");
    }
}

/// A rendered DOM, serialized by Chromium.
pub struct Dom(pub String);

impl Dom {
    /// The start tag of the element with `data-testid="id"`, and where its content starts.
    fn start_tag(&self, id: &str) -> Option<(&str, usize)> {
        let at = self.0.find(&format!("data-testid=\"{id}\""))?;
        let open = self.0[..at].rfind('<')?;
        let close = at + self.0[at..].find('>')?;
        Some((&self.0[open..=close], close + 1))
    }

    /// The text of the element with `data-testid="id"` (up to its first child tag), unescaped.
    pub fn text(&self, id: &str) -> Option<String> {
        let (_, content) = self.start_tag(id)?;
        let end = content + self.0[content..].find('<')?;
        Some(unescape(&self.0[content..end]))
    }

    /// Attribute `name` of the element with `data-testid="id"`, unescaped; `Some("")` for a
    /// present attribute without a value.
    pub fn attr(&self, id: &str, name: &str) -> Option<String> {
        let (tag, _) = self.start_tag(id)?;
        let at = tag.find(&format!(" {name}"))?;
        let rest = &tag[at + 1 + name.len()..];
        match rest.strip_prefix("=\"") {
            Some(value) => Some(unescape(&value[..value.find('"')?])),
            None => Some(String::new()),
        }
    }

    /// The unescaped text of every element whose start tag is exactly `start_tag` (such as
    /// `<td class="label">`), in order.
    pub fn texts(&self, start_tag: &str) -> Vec<String> {
        self.0
            .match_indices(start_tag)
            .map(|(at, _)| {
                let content = at + start_tag.len();
                let end = content + self.0[content..].find('<').unwrap_or(0);
                unescape(&self.0[content..end])
            })
            .collect()
    }

    /// Whether the serialized DOM contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.0.contains(needle)
    }
}

/// Text of the serialized DOM back to characters.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// What the scripted server answers to the n-th `/metrics` request.
pub enum Reply {
    /// `200` with this text.
    Metrics(String),
    /// This status, empty body.
    Status(u16),
    /// Closes the connection without an answer: the endpoint is down.
    Hangup,
}

/// A loopback HTTP server: the given pages by path, and `/metrics` from a script called with
/// the request's number (1 for the first). Its thread lives until the test process ends.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    metrics_requests: Arc<AtomicUsize>,
}

impl ScriptedServer {
    /// Serves each `(path, response)` of `pages`, and `/metrics` by `script`.
    pub fn start(
        pages: Vec<(&'static str, http::Response<String>)>,
        script: impl Fn(usize) -> Reply + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics_requests = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&metrics_requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let path = match read_request_path(&stream) {
                    Some(path) => path,
                    None => continue,
                };
                let path = path.split(['?', '#']).next().unwrap_or_default().to_owned();
                if path == "/metrics" {
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    match script(n) {
                        Reply::Metrics(text) => write_response(stream, 200, &[], &text),
                        Reply::Status(status) => write_response(stream, status, &[], ""),
                        Reply::Hangup => drop(stream),
                    }
                } else if let Some((_, page)) = pages.iter().find(|(p, _)| *p == path) {
                    let headers: Vec<(String, String)> = page
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                        .collect();
                    write_response(stream, 200, &headers, page.body());
                } else {
                    write_response(stream, 404, &[], "not found");
                }
            }
        });
        Self {
            addr,
            metrics_requests,
        }
    }

    /// How many `/metrics` requests it has had.
    pub fn metrics_requests(&self) -> usize {
        self.metrics_requests.load(Ordering::SeqCst)
    }
}

fn read_request_path(stream: &TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
    }
    first.split_whitespace().nth(1).map(str::to_owned)
}

fn write_response(mut stream: TcpStream, status: u16, headers: &[(String, String)], body: &str) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k == "content-type") {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}
