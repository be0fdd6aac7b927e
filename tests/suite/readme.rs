//! The README's quick start compiles as written: its Rust block is a doctest (the README is
//! the crate's documentation) compiled against the dev-dependencies, and this checks that the
//! `[dependencies]` block above it declares every crate that code names, with the tokio
//! features it needs.

use std::collections::BTreeSet;

/// The first fenced block after `heading` whose info string starts with `lang`: the info string
/// and the text.
fn block_after<'a>(readme: &'a str, heading: &str, lang: &str) -> (&'a str, &'a str) {
    let section = &readme[readme.find(heading).expect("heading in README")..];
    let fence = format!("```{lang}");
    let start = section.find(&fence).expect("block in the section");
    let rest = &section[start + 3..];
    let (info, body) = rest.split_once('\n').unwrap();
    let end = body.find("```").expect("closed block");
    (info, &body[..end])
}

#[test]
fn the_quick_start_declares_every_crate_its_code_uses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let (_, toml) = block_after(&readme, "## Quick start", "toml");
    let (info, code) = block_after(&readme, "## Quick start", "rust");
    // Compiled by `cargo test` (no_run: it would bind a port), never skipped.
    assert!(
        info == "rust" || info == "rust,no_run",
        "the quick start must be compiled as a doctest, not `{info}`"
    );

    let declared: BTreeSet<String> = toml
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.trim().replace('-', "_"))
        .filter(|name| !name.starts_with('['))
        .collect();
    // Crate roots the code names: `use x::…` lines, and `x::…` paths and `#[x::main]`
    // elsewhere (inside a `use` line, `{a::b}` is relative to its root).
    let mut used = BTreeSet::new();
    for line in code.lines().map(str::trim) {
        let words: Vec<&str> = match line.strip_prefix("use ") {
            Some(rest) => vec![rest],
            None => line
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .collect(),
        };
        for word in words {
            if let Some((root, _)) = word.split_once("::") {
                // A crate's name is lower case; `Router::new` is a type's path.
                let is_crate = root.starts_with(|c: char| c.is_ascii_lowercase());
                if is_crate && !["std", "crate", "self", "super"].contains(&root) {
                    used.insert(root.to_owned());
                }
            }
        }
    }
    for krate in ["axum", "tokio", "inference_monitor"] {
        assert!(
            used.contains(krate),
            "the quick start no longer uses {krate}?"
        );
    }
    let missing: Vec<_> = used.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "the quick start uses {missing:?}, which its [dependencies] do not declare: {declared:?}"
    );

    let tokio = toml
        .lines()
        .find(|l| l.trim_start().starts_with("tokio"))
        .expect("tokio line");
    for feature in ["macros", "rt-multi-thread", "net"] {
        assert!(
            tokio.contains(&format!("\"{feature}\"")),
            "`#[tokio::main]` and `tokio::net` need tokio's `{feature}` feature: {tokio}"
        );
    }
    let monitor = toml
        .lines()
        .find(|l| l.trim_start().starts_with("inference-monitor"))
        .expect("inference-monitor line");
    assert!(
        monitor.contains("\"axum\""),
        "`Prediction` as a handler's response needs the `axum` feature: {monitor}"
    );
}
