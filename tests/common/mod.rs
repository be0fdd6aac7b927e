//! Helpers shared by the integration tests: the strict Prometheus text parser
//! ([`exposition`]), a tiny HTTP/1.1 client, and a runner for the example servers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use exposition::Exposition;

/// An HTTP response as the tests see it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole answer.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("response has a head");
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// POSTs a JSON body to `path`.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Fetches and parses `/metrics`.
pub fn scrape(addr: SocketAddr) -> Exposition {
    let res = http(addr, "GET", "/metrics", &[], b"");
    assert_eq!(res.status, 200, "GET /metrics: {}", res.body);
    Exposition::parse(&res.body)
}

/// A running example server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub banner: Vec<String>,
    /// What the server printed on stdout after its banner, line by line.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Sends SIGTERM, then waits at most `limit` for the process to exit (killing it and
    /// failing past that): how long it took, its exit status and the lines it printed after its
    /// banner.
    #[cfg(unix)]
    pub fn terminate_within(
        &mut self,
        limit: Duration,
    ) -> (Duration, std::process::ExitStatus, Vec<String>) {
        let sent = std::time::Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM failed");
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if sent.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running {limit:?} after SIGTERM; printed: {:?}",
                    self.output.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = sent.elapsed();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let output = self.output.lock().unwrap().clone();
        (took, status, output)
    }

    /// The process's resident memory (`VmRSS` of `/proc/<pid>/status`), in bytes.
    #[cfg(target_os = "linux")]
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .expect("VmRSS line");
        kib * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The address of `/metrics` in the banner's `metrics: curl -s http://ADDR/metrics …` line.
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self
            .banner
            .iter()
            .find(|l| l.trim_start().starts_with("metrics: curl"))
            .unwrap_or_else(|| panic!("no metrics line in the banner: {:?}", self.banner));
        let rest = line.split("http://").nth(1).expect("metrics URL");
        rest.split("/metrics")
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("bad metrics address in {line:?}: {e}"))
    }
}

/// The path of a built example binary (`cargo test` builds the examples before running tests).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (it builds the examples), or `cargo build --example {name}` first",
        path.display()
    );
    path
}

/// Starts example `name` on a free loopback port (`ADDR=127.0.0.1:0`) and waits for its banner.
pub fn start_example(name: &str, env: &[(&str, &str)]) -> Server {
    start_command(name, Command::new(example_path(name)), env)
}

/// [`start_example`] with at most `files` open file descriptors (`ulimit -n` in a shell that
/// then becomes the example).
#[cfg(unix)]
pub fn start_example_with_fd_limit(name: &str, files: u32, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\""))
        .arg(example_path(name));
    start_command(name, cmd, env)
}

fn start_command(name: &str, mut cmd: Command, env: &[(&str, &str)]) -> Server {
    cmd.env("ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start example");
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut banner = Vec::new();
    let addr = loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read banner");
        assert!(
            n > 0,
            "{name} exited before printing its address; banner so far: {banner:?}"
        );
        banner.push(line.trim_end().to_owned());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().parse::<SocketAddr>().expect("banner address");
        }
    };
    // Keep reading stdout so the child never blocks on a full pipe, and keep what it says.
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = std::sync::Arc::clone(&output);
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            lines.lock().unwrap().push(line.trim_end().to_owned());
            line.clear();
        }
    });
    Server {
        child,
        addr,
        banner,
        output,
        reader: Some(reader),
    }
}

pub mod browser;
pub mod by_hand;
pub mod exposition;
pub mod frames;
pub mod handlers;
pub mod loan_api;
pub mod recorded;
pub mod stack;
