//! Framework glue, each behind its cargo feature. Thin: the recording lives in the core.

#[cfg(feature = "axum")]
pub mod axum;

#[cfg(feature = "actix")]
pub mod actix;
