//! Start-up faults of the example servers: an address already in use and an address that does
//! not parse each end the process at once with exit code 1 and one clear line on stderr, for
//! all three servers; a server already running on the address keeps serving.

use crate::common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::example_path;

const EXAMPLES: [&str; 3] = ["axum_loan", "hyper_loan", "actix_loan"];

/// Runs example `name` with `ADDR=addr`; its exit code and stderr. Fails the test if the
/// process is still running after 10 s (a start-up fault must not hang).
fn run_with_addr(name: &str, addr: &str) -> (Option<i32>, String) {
    let mut child = Command::new(example_path(name))
        .env("ADDR", addr)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} with ADDR={addr} still runs after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_address_in_use_is_a_clear_error_and_exit_code_1() {
    // A port held by this test: the servers cannot bind it.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    for name in EXAMPLES {
        let (code, stderr) = run_with_addr(name, &addr);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot listen on {addr}")),
            "{name}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
    }
}

#[test]
fn an_address_that_does_not_parse_is_a_clear_error_and_exit_code_1() {
    for name in EXAMPLES {
        let (code, stderr) = run_with_addr(name, "not-an-address");
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("ADDR must be an address like 127.0.0.1:8000"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_second_server_on_the_same_address_leaves_the_first_serving() {
    let first = common::start_example("axum_loan", &[]);
    let (code, stderr) = run_with_addr("axum_loan", &first.addr.to_string());
    assert_eq!(code, Some(1), "{stderr}");
    let health = common::http(first.addr, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
}
