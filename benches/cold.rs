//! What a request through the layer costs when the caches are cold, as they are in a server
//! under load: between two requests, the other work of the server (hyper, serde, the kernel's
//! TCP path, the load generator on the same cores) pushes the model's state out of the caches.
//! This harness stands in for that work by writing one word per cache line of a buffer between
//! two requests.
//!
//! Run natively it times the layer against the bare service, request by request and the two
//! alternating, for several buffer sizes (a larger buffer evicts to a farther level):
//!
//! ```sh
//! cargo bench --bench cold                  # ~10 s
//! ```
//!
//! Run under a cache simulator it counts the cache lines a cold request misses beyond the bare
//! service, which is exact and does not depend on the machine's mood: `benches/cold.sh`.
//! Arguments (after `--`): `MODE N KIB` runs `N` requests of one mode (`bare`, `layer`, or
//! `app`: the layer with `only_paths`, as around a router) with `KIB` KiB between two requests.

use std::hint::black_box;
use std::time::Duration;

use inference_monitor::InferenceMonitorLayer;
use tower::Layer;

mod support;
use support::{inner, installed_monitor, request};

/// Writes one word per cache line of `buffer`.
fn evict(buffer: &mut [u64], salt: u64) {
    for word in buffer.iter_mut().step_by(8) {
        *word = word.wrapping_add(salt);
    }
}

/// Touches 16 KiB of stack: a server's stack stays warm between two requests (every poll runs
/// on it), so the eviction above must not leave it cold.
#[inline(never)]
fn warm_stack() {
    let mut stack = [0u8; 16 * 1024];
    for (i, byte) in stack.iter_mut().enumerate().step_by(64) {
        *byte = i as u8;
    }
    black_box(&mut stack);
}

fn main() {
    let (_metrics, monitor) = installed_monitor();
    let mut bare = inner();
    let mut layer = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(inner());
    let mut app = InferenceMonitorLayer::for_model(monitor.model("loan"))
        .only_paths(["/", "/predict"])
        .layer(inner());
    // Each label and path seen once, as in a server that has been up for a while.
    request(&mut layer);
    request(&mut app);

    // `cargo bench` passes `--bench`; anything else is for a single mode.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let [mode, n, kib] = args.as_slice() {
        let n: u64 = n.parse().expect("N is a number of requests");
        let kib: usize = kib.parse().expect("KIB is a size in KiB");
        let mut buffer = vec![0u64; kib * 1024 / 8];
        for i in 0..n {
            evict(&mut buffer, i);
            warm_stack();
            match mode.as_str() {
                "bare" => request(&mut bare),
                "layer" => request(&mut layer),
                "app" => request(&mut app),
                other => panic!("unknown mode {other:?}: bare, layer or app"),
            }
        }
        black_box(&buffer);
        return;
    }

    let clock = quanta::Clock::new();
    let n = 20_000;
    println!("cold requests: median time of one request, {n} of each, alternating");
    for kib in [0, 1024, 4096, 16384] {
        let mut buffer = vec![0u64; kib * 1024 / 8];
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for i in 0..n {
            for (m, times) in times.iter_mut().enumerate() {
                evict(&mut buffer, i);
                warm_stack();
                let start = clock.raw();
                match m {
                    0 => request(&mut bare),
                    1 => request(&mut layer),
                    _ => request(&mut app),
                }
                times.push(clock.raw() - start);
            }
        }
        black_box(&buffer);
        let [b, l, a] = times.map(|mut t| {
            t.sort_unstable();
            clock.delta(0, t[t.len() / 2])
        });
        let over = |d: Duration| d.as_nanos() as i128 - b.as_nanos() as i128;
        println!(
            "{:>6} KiB between requests: bare {:>6} ns, layer +{:>5} ns, only_paths +{:>5} ns",
            kib,
            b.as_nanos(),
            over(l),
            over(a)
        );
    }
}
