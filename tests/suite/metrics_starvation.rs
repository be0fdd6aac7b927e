//! The metrics listener (`METRICS_ADDR`) cannot be starved by clients without the token
//! (issue 17, item 3): with 1,000 hostile connections open — idle sockets, clients sending their
//! request head a byte at a time, and unauthenticated keep-alive clients asking again and
//! again, each reconnecting when the server closes it — an authenticated scrape gets its 200
//! in well under a second.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;

const TOKEN: &str = "starvation-test-token-0123456789";
const IDLE: usize = 400;
const SLOW_HEAD: usize = 300;
const UNAUTHENTICATED: usize = 300;
/// How long a hostile client waits before it reconnects, once the server has closed it.
const RECONNECT_AFTER: Duration = Duration::from_millis(200);

/// What the hostile clients have done so far.
#[derive(Default)]
struct Tally {
    /// Clients that have connected at least once.
    connected: AtomicUsize,
    /// Connections the server closed (evicted, timed out, or after a 401).
    closed_by_server: AtomicUsize,
    /// 401 answers the unauthenticated clients got.
    denied: AtomicUsize,
}

#[derive(Clone, Copy)]
enum Hostile {
    /// Connects and sends nothing.
    Idle,
    /// Sends a request head one byte every 500 ms.
    SlowHead,
    /// Sends `GET /metrics` without a token every second on one keep-alive connection.
    Unauthenticated,
}

async fn hostile(kind: Hostile, addr: SocketAddr, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        };
        if first {
            tally.connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        let mut buf = [0_u8; 4096];
        let closed = match kind {
            Hostile::Idle => matches!(stream.read(&mut buf).await, Ok(0) | Err(_)),
            Hostile::SlowHead => {
                let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
                let mut closed = false;
                for byte in head {
                    if stream.write_all(&[*byte]).await.is_err() || stop.load(Ordering::Relaxed) {
                        closed = true;
                        break;
                    }
                    tokio::select! {
                        read = stream.read(&mut buf) => {
                            // Anything (a 408) or the end: the server is done with us.
                            let _ = read;
                            closed = true;
                            break;
                        }
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                closed
            }
            Hostile::Unauthenticated => loop {
                let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
                if stream.write_all(request).await.is_err() {
                    break true;
                }
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break true,
                    Ok(n) => {
                        if buf[..n].starts_with(b"HTTP/1.1 401") {
                            tally.denied.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break false;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        };
        if closed {
            tally.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
        drop(stream);
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One authenticated scrape on a new connection: its status and how long it took, or what went
/// wrong within `limit`.
async fn scrape(addr: SocketAddr, limit: Duration) -> Result<(u16, String, Duration), String> {
    let started = Instant::now();
    let answer = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok::<_, String>(String::from_utf8_lossy(&raw).into_owned())
    };
    let text = tokio::time::timeout(limit, answer)
        .await
        .map_err(|_| format!("no answer within {limit:?}"))??;
    let took = started.elapsed();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((status, text, took))
}

/// `authenticates`: whether the example takes `METRICS_TOKEN` (`tonic_loan`'s listener has no
/// credentials: its "unauthenticated" clients are answered 200, and must not starve it either).
fn starved_scrape_gets_through(example: &str, authenticates: bool) {
    let server = common::start_example(
        example,
        &[("METRICS_ADDR", "127.0.0.1:0"), ("METRICS_TOKEN", TOKEN)],
    );
    let line = server
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("metrics: curl"))
        .unwrap_or_else(|| panic!("no metrics line in the banner: {:?}", server.banner));
    let metrics: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/metrics").next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let kinds = std::iter::repeat_n(Hostile::Idle, IDLE)
            .chain(std::iter::repeat_n(Hostile::SlowHead, SLOW_HEAD))
            .chain(std::iter::repeat_n(Hostile::Unauthenticated, UNAUTHENTICATED));
        let clients: Vec<_> = kinds
            .map(|kind| {
                tokio::spawn(hostile(
                    kind,
                    metrics,
                    Arc::clone(&tally),
                    Arc::clone(&stop),
                ))
            })
            .collect();
        let total = IDLE + SLOW_HEAD + UNAUTHENTICATED;
        let started = Instant::now();
        // On a listener that stops accepting, not all of them get in: the scrape is tried
        // anyway, and fails first.
        while tally.connected.load(Ordering::Relaxed) < total
            && started.elapsed() < Duration::from_secs(15)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connected = tally.connected.load(Ordering::Relaxed);
        // Let the unauthenticated ones ask and the slow ones trickle for a while.
        tokio::time::sleep(Duration::from_secs(2)).await;

        let mut took = Vec::new();
        for _ in 0..5 {
            let (status, text, time) = scrape(metrics, Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| {
                    panic!("{example}: authenticated scrape with {connected} hostile clients connected failed: {e}")
                });
            assert_eq!(status, 200, "{example}: {text}");
            assert!(
                text.contains("inference_requests_total{model=\"loan\",outcome=\"success\"} 0"),
                "{example}: {text}"
            );
            took.push(time);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!(
            "{example}: authenticated scrapes with {total} hostile clients: {took:?}; hostile: {} closed by the server, {} 401s",
            tally.closed_by_server.load(Ordering::Relaxed),
            tally.denied.load(Ordering::Relaxed),
        );
        for client in clients {
            client.abort();
        }
        assert_eq!(connected, total, "not every hostile client could connect");
        if authenticates {
            assert!(
                tally.denied.load(Ordering::Relaxed) >= UNAUTHENTICATED,
                "the unauthenticated clients were not answered 401"
            );
        } else {
            assert_eq!(tally.denied.load(Ordering::Relaxed), 0, "{example} asks for no token");
        }
        let slowest = took.iter().max().unwrap();
        assert!(
            *slowest < Duration::from_secs(1),
            "{example}: an authenticated scrape took {slowest:?} with {total} hostile connections open: {took:?}"
        );
    });
}

#[test]
fn axum_loan_scrape_gets_through_1000_hostile_connections() {
    starved_scrape_gets_through("axum_loan", true);
}

#[test]
fn actix_loan_scrape_gets_through_1000_hostile_connections() {
    starved_scrape_gets_through("actix_loan", true);
}

#[test]
fn hyper_loan_scrape_gets_through_1000_hostile_connections() {
    starved_scrape_gets_through("hyper_loan", true);
}

#[test]
fn tonic_loan_scrape_gets_through_1000_hostile_connections() {
    starved_scrape_gets_through("tonic_loan", false);
}
