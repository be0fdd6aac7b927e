//! Keeps a misbehaving recorder from taking the service down.
//!
//! The crate calls into the installed [`metrics::Recorder`] on every request. If that recorder
//! panics, the panic must not reach the service: the request has been served and must stay
//! served. Worse, the guard records from `Drop`, also while a handler's panic unwinds, where a
//! second panic aborts the process. So every call into the recorder on the request path runs
//! here: a panic is caught, counted in [`recorder_panics`](crate::recorder_panics), and
//! reported once on standard error (the panic hook has printed the message itself).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static PANICS: AtomicU64 = AtomicU64::new(0);
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Runs `record` (a call into the recorder), containing a panic.
#[inline]
pub(crate) fn contain<T>(record: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(record)) {
        Ok(value) => Some(value),
        Err(_) => {
            PANICS.fetch_add(1, Ordering::Relaxed);
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "inference-monitor: the metrics recorder panicked; requests are still served, \
                     their metrics may be incomplete (further panics are counted, not reported)"
                );
            }
            None
        }
    }
}

/// How many times the metrics recorder has panicked while the crate recorded a request, in
/// this process. Each panic was contained: the request was served, some of its metrics may be
/// missing. Non-zero means the recorder is broken.
///
/// ```
/// assert_eq!(inference_monitor::recorder_panics(), 0);
/// ```
#[must_use]
pub fn recorder_panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}
