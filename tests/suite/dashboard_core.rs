//! The live dashboard's JavaScript logic (`assets/dashboard/core.js`: the text-format parser,
//! counter resets, windowed rates, histogram quantiles) tested under node by
//! `tests/dashboard/core.test.js`. Node comes with `.ci/run`; elsewhere a missing node skips
//! with what to install, and fails in CI.

use crate::common;

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

/// The page's files are in the published package (`include_str!` needs them to build the
/// crate from crates.io), the vendored library with its licence and origin.
#[test]
fn dashboard_assets_ship_in_the_package() {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .output()
        .expect("run cargo package --list");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Vec<&str> = stdout.lines().collect();
    for file in [
        "assets/dashboard/app.js",
        "assets/dashboard/body.html",
        "assets/dashboard/core.js",
        "assets/dashboard/dashboard.css",
        "assets/dashboard/vendor/uplot/LICENSE",
        "assets/dashboard/vendor/uplot/README.md",
        "assets/dashboard/vendor/uplot/uPlot.iife.min.js",
        "assets/dashboard/vendor/uplot/uPlot.min.css",
    ] {
        assert!(listed.contains(&file), "{file} is not in the package");
    }
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/dashboard/vendor/uplot/README.md"
    ))
    .unwrap();
    assert!(readme.starts_with("# uPlot 1.6.32 (vendored)"), "{readme}");
    let bundle = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/dashboard/vendor/uplot/uPlot.iife.min.js"
    ))
    .unwrap();
    assert!(bundle.starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.32) */"));
}
