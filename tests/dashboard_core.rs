//! The live dashboard's JavaScript logic (`assets/dashboard/core.js`: the text-format parser,
//! counter resets, windowed rates, histogram quantiles) tested under node by
//! `tests/dashboard/core.test.js`. Node comes with `.ci/run`; elsewhere a missing node skips
//! with what to install, and fails in CI.

mod common;

use std::process::Command;

/// The number of tests in `tests/dashboard/core.test.js`: all must run and pass.
const NODE_TESTS: usize = 11;

#[test]
fn dashboard_core_logic_passes_its_node_tests() {
    let Some(node) = common::stack::require("node", "nodejs") else {
        return;
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(node)
        .current_dir(root)
        .args(["tests/dashboard/core.test.js", "assets/dashboard/core.js"])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed:\n{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some(format!("{NODE_TESTS} passed, 0 failed").as_str()),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok - ")).count(),
        NODE_TESTS,
        "{stdout}"
    );
}
