//! The core: [`Monitor`] (configuration and the bounded set of models), [`ModelMonitor`] (one
//! model's metrics, registered once per recorder), [`InFlight`] (one request) and the opt-in
//! [`Signals`]. Every adapter (the tower layer, the macros, framework glue) records through
//! here and nowhere else.
//!
//! The core imports no exporter, no tower, no `http` and no framework: it speaks to the
//! `metrics` facade ([`handles`]) and, when the recorder in effect is the crate's own, to the
//! fast path through its seam ([`crate::fast`]).
//!
//! Inside, the modules depend one way: `clock`, `contain`, `handles`, `limiter` (leaves) <-
//! `shared`, `signals`, `request` <- `model`, `monitor`, `register`.

pub(crate) mod clock;
pub(crate) mod contain;
pub(crate) mod handles;
pub mod limiter;
// `model/model.rs` holds `ModelMonitor`, the type the folder is named for.
#[allow(clippy::module_inception)]
mod model;
mod monitor;
pub(crate) mod register;
mod request;
pub(crate) mod shared;
mod signals;

pub use contain::recorder_panics;
pub use model::ModelMonitor;
pub use monitor::{Monitor, MonitorBuilder};
pub use request::{InFlight, Observed};
pub use signals::{Signal, Signals, Stage, StageTimer, MAX_INFO_LABELS};

pub(crate) use request::poll_recording_panics;
