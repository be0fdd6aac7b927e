//! The integration tests that need no process-wide set-up of their own, in one test binary: the
//! dependency tree is linked once for all of them, not once per file. Each module is one former
//! `tests/<name>.rs`, with its test names unchanged: `cargo test --test suite <module>::` runs
//! one module, `cargo test <test name>` finds a test wherever it is.
//!
//! What may not come here: a global recorder (`set_global_recorder`, `install()`), a
//! `#[global_allocator]`, or anything else one test sets for the whole process that another
//! test would see. Those keep a binary of their own: `tests/allocations.rs`,
//! `tests/cardinality_attack.rs` and `tests/memory_bounded.rs` (counting allocators),
//! `tests/custom_recorder.rs` and `tests/install.rs` (a global recorder each), and `tests/load/`
//! (the load tests, sharing one global Prometheus recorder). Every test here records through a
//! local recorder of its own, or in a child process.
//!
//! One thing here is process-wide and shared: the crate's count of recorder panics
//! (`recorder_panics()`). Only `recorder_faults` uses a panicking recorder, and it checks how
//! much the count grew by its own requests; no other test may use a recorder that panics.

#[path = "../common/mod.rs"]
mod common;
/// The examples' loan model (`crate::loan_model`, as `fuzz/check.rs` expects it).
#[path = "../../examples/loan_model/mod.rs"]
mod loan_model;

mod actix_loan;
mod axum_loan;
mod axum_multi_model;
mod axum_stream;
mod batch_scoring;
mod dashboard_browser;
mod dashboard_core;
mod deploy_rules;
mod direct_recording;
mod fuzz_corpus;
mod graceful_shutdown;
mod grafana_dashboard;
mod grpc;
mod hostile_input;
mod hyper_loan;
mod layer;
/// Formerly `tests/loan_model.rs` (the name `loan_model` is the example's model itself).
mod loan_model_tests;
mod macros;
mod metrics_endpoint;
mod metrics_starvation;
mod open_inference;
mod otlp;
mod prometheus;
mod pushgateway;
mod readme;
mod recorder_faults;
mod same_counts;
mod signals;
mod stack_e2e;
mod start_up_faults;
mod streaming;
mod tonic_loan;
mod trace;
