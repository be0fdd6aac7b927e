//! The load and cancellation tests, one test binary: they share the crate's Prometheus recorder,
//! set as this binary's global recorder by [`load_support::global_handle`] (each test counts
//! under its own model name, so their figures do not mix). Nothing else may run in this
//! process: another test recording without a local recorder would land in the same recorder.
//!
//! - `exact_under_load`: exact counts under load, in process and over real HTTP;
//! - `cancellation_storm`: requests dropped at random points and handlers that panic.

#[path = "../common/mod.rs"]
mod common;
mod load_support;

mod cancellation_storm;
mod exact_under_load;
