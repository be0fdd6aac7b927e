//! The `metrics` facade, as the core uses it: registering a handle with the recorder in
//! effect, and giving that recorder a metric's HELP text and unit. A leaf: it imports nothing
//! of the crate but the panic containment.

// Names are `Cow`s cloned into the key: a static name stays a borrow, with no allocation.
#![allow(clippy::ptr_arg)]

use std::borrow::Cow;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, SharedString, Unit,
};

use super::contain::contain;

/// The metadata every handle of the crate is registered with.
pub(crate) static METADATA: Metadata<'static> =
    Metadata::new(env!("CARGO_PKG_NAME"), Level::INFO, Some(module_path!()));

/// The facade's name of metric `name`.
pub(crate) fn key_name(name: &Cow<'static, str>) -> KeyName {
    KeyName::from(SharedString::from(name.clone()))
}

/// Registers counter `name{labels}` with the recorder in effect.
pub(crate) fn counter(name: &Cow<'static, str>, labels: Vec<Label>) -> Counter {
    let key = Key::from_parts(key_name(name), labels);
    metrics::with_recorder(|r| r.register_counter(&key, &METADATA))
}

/// Registers histogram `name{labels}` with the recorder in effect.
pub(crate) fn histogram(name: &Cow<'static, str>, labels: Vec<Label>) -> Histogram {
    let key = Key::from_parts(key_name(name), labels);
    metrics::with_recorder(|r| r.register_histogram(&key, &METADATA))
}

/// Registers gauge `name{labels}` with the recorder in effect.
pub(crate) fn gauge(name: &Cow<'static, str>, labels: Vec<Label>) -> Gauge {
    let key = Key::from_parts(key_name(name), labels);
    metrics::with_recorder(|r| r.register_gauge(&key, &METADATA))
}

/// Gives the recorder in effect the HELP text and unit of histogram `name`.
pub(crate) fn describe_histogram(name: &Cow<'static, str>, unit: Option<Unit>, help: &'static str) {
    contain(|| {
        metrics::with_recorder(|r| r.describe_histogram(key_name(name), unit, help.into()));
    });
}

/// Gives the recorder in effect the HELP text and unit of counter `name`.
pub(crate) fn describe_counter(name: &Cow<'static, str>, unit: Option<Unit>, help: &'static str) {
    contain(|| {
        metrics::with_recorder(|r| r.describe_counter(key_name(name), unit, help.into()));
    });
}

/// Gives the recorder in effect the HELP text and unit of gauge `name`.
pub(crate) fn describe_gauge(name: &Cow<'static, str>, unit: Option<Unit>, help: &'static str) {
    contain(|| {
        metrics::with_recorder(|r| r.describe_gauge(key_name(name), unit, help.into()));
    });
}
