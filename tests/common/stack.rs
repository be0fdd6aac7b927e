//! Real Prometheus and Alertmanager processes for end-to-end tests, on loopback and free ports,
//! each with its own temporary directory, stopped when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http;

/// Whether this run must have the real stack (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The path of `binary`, or `None` after explaining what to install. In CI a missing binary
/// fails the test.
pub fn require(binary: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!(
            "{binary} not found: install it with `sudo apt-get install {package}` (Debian/Ubuntu)"
        );
        assert!(!in_ci(), "{msg}; CI must run this test");
        eprintln!("skipped: {msg}");
    }
    found
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "inference-monitor-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process stopped (SIGTERM, then kill) and reaped when dropped.
pub struct Process {
    pub name: &'static str,
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `GET path` answers 200.
fn wait_ready(addr: SocketAddr, path: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(addr).is_ok()
            && http(addr, "GET", path, &[], b"").status == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} on {addr} did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the Pushgateway on a free loopback port, ready when `/-/ready` answers. Persistence
/// is off (`--persistence.file=` empty: memory only): Debian's default file,
/// `/var/lib/prometheus/pushgateway.data`, would keep the tests' groups and show them to the
/// machine's own gateway later.
pub fn pushgateway(binary: &Path) -> Process {
    let dir = TempDir::new("pushgateway");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(binary)
        .arg(format!("--web.listen-address={addr}"))
        .arg("--persistence.file=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-pushgateway");
    let process = Process {
        name: "pushgateway",
        child,
        addr,
        dir,
    };
    wait_ready(addr, "/-/ready", "pushgateway");
    process
}

/// Starts Prometheus with `config` (YAML text; `rules` files are written beside it).
pub fn prometheus(binary: &Path, config: &str, rules: &[(&str, String)]) -> Process {
    let dir = TempDir::new("prometheus");
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    for (name, text) in rules {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-lifecycle")
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let p = Process {
        name: "prometheus",
        child,
        addr,
        dir,
    };
    wait_ready(addr, "/-/ready", "prometheus");
    p
}

/// Starts Alertmanager with `config` (YAML text), not clustering.
pub fn alertmanager(binary: &Path, config: &str) -> Process {
    let dir = TempDir::new("alertmanager");
    std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
    let child = Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    let p = Process {
        name: "alertmanager",
        child,
        addr,
        dir,
    };
    wait_ready(addr, "/-/ready", "alertmanager");
    p
}

/// A webhook receiver on loopback: keeps every request body it is sent.
pub struct Webhook {
    pub addr: SocketAddr,
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Webhook {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    sink.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Webhook { addr, bodies }
    }
}

/// Percent-encodes a query parameter.
pub fn encode(query: &str) -> String {
    let mut out = String::new();
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs an instant query; returns the `data.result` array.
pub fn query(prometheus: SocketAddr, promql: &str) -> Vec<serde_json::Value> {
    let res = http(
        prometheus,
        "GET",
        &format!("/api/v1/query?query={}", encode(promql)),
        &[],
        b"",
    );
    let json = res.json();
    assert_eq!(res.status, 200, "query {promql:?} failed: {json}");
    assert_eq!(json["status"], "success", "query {promql:?}: {json}");
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The value of a one-element vector result.
pub fn scalar(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let result = query(prometheus, promql);
    assert!(result.len() <= 1, "{promql} gave {} series", result.len());
    result
        .first()
        .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
}

/// Polls until `check` returns `Some`, or panics with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
