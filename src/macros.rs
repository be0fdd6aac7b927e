//! [`monitor!`](crate::monitor!): wrap any model call, sync or async, as one monitored request.
//!
//! The macro is thin sugar over [`ModelMonitor::start`](crate::ModelMonitor::start),
//! [`InFlight::predicted`](crate::InFlight::predicted) and
//! [`InFlight::finish`](crate::InFlight::finish); the helpers below are its private plumbing.

/// Monitors one model call — a sync expression or an async block — as one request.
///
/// ```text
/// monitor!(MODEL, expression)                                   // sync: evaluates to its value
/// monitor!(MODEL, async { ... })                                // async: a future to .await
/// monitor!(MODEL, call, label = |out| ...)                      // name the predicted label
/// monitor!(MODEL, call, outcome = |out| ...)                    // classify the output yourself
/// monitor!(MODEL, call, label = |out| ..., outcome = |out| ...) // both, in this order
/// monitor!(MODEL, call, label = ..., confidence = |out| ..., outcome = ...) // any, in this order
/// ```
///
/// `MODEL` is a [`ModelMonitor`](crate::ModelMonitor) (or a reference to one, or a static
/// `LazyLock` of one), or a string literal naming the model: the literal form builds the
/// model's monitor once per call site, with the default configuration and the recorder
/// current at its first use.
///
/// The outcome is `success`, unless the value is a `Result` that is `Err` (`server_error`) or
/// the call panics (`server_error`, and the panic goes on). A `Result` is recognised when its
/// type is known at the call site; in generic code pass `outcome = ...`. An async call dropped
/// before it completes counts as `cancelled`.
///
/// The `label` closure receives a reference to the value and returns the label: a `&str`,
/// `String`, or an `Option` of one (`None`: no prediction to count).
///
/// The `confidence` closure returns the probability of the answer (`f64`, `f32`, or an
/// `Option` of one): it goes to `inference_prediction_confidence{model}` (see
/// [`Signals::confidence`](crate::Signals::confidence); values outside `0..=1` are dropped).
///
/// Put `?` after the macro, not inside it: `monitor!(m, model.try_predict(x))?` records the
/// `Err`, while a `?` inside returns before anything is recorded but the drop (`cancelled`).
///
/// ```
/// use std::sync::LazyLock;
/// use inference_monitor::{monitor, ModelMonitor, Outcome};
/// # let recorder = inference_monitor::testing::TestRecorder::new();
/// # let _local = recorder.local();
///
/// static LOAN: LazyLock<ModelMonitor> = LazyLock::new(|| ModelMonitor::new("loan"));
///
/// fn score(income: f64) -> f64 { (income / 10_000.0).min(1.0) }
/// fn try_score(income: f64) -> Result<f64, String> {
///     if income < 0.0 { Err("negative income".into()) } else { Ok(score(income)) }
/// }
///
/// // Sync, with the label taken from the output.
/// let p = monitor!(LOAN, score(8_000.0), label = |p| if *p >= 0.5 { "approved" } else { "rejected" });
/// assert_eq!(p, 0.8);
///
/// // A Result: `Err` counts as server_error.
/// assert!(monitor!(LOAN, try_score(-1.0)).is_err());
///
/// // Async.
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let p = monitor!(LOAN, async { score(2_000.0) }, label = |p| (*p >= 0.5).then_some("approved")).await;
/// assert_eq!(p, 0.2);
/// # });
///
/// let count = |outcome| recorder.counter("inference_requests_total", &[("model", "loan"), ("outcome", outcome)]);
/// assert_eq!(count("success"), Some(2));
/// assert_eq!(count("server_error"), Some(1));
/// assert_eq!(recorder.counter("inference_predictions_total", &[("model", "loan"), ("label", "approved")]), Some(1));
/// ```
#[macro_export]
macro_rules! monitor {
    ($name:literal, $($rest:tt)+) => {{
        static __IM_MODEL: ::std::sync::OnceLock<$crate::ModelMonitor> = ::std::sync::OnceLock::new();
        $crate::monitor!(
            __IM_MODEL.get_or_init(|| $crate::ModelMonitor::new($name)),
            $($rest)+
        )
    }};
    ($model:expr, async move $body:block $(, label = $label:expr)? $(, confidence = $confidence:expr)? $(, outcome = $outcome:expr)? $(,)?) => {
        $crate::__monitor_async!($model, async move $body $(, label = $label)? $(, confidence = $confidence)? $(, outcome = $outcome)?)
    };
    ($model:expr, async $body:block $(, label = $label:expr)? $(, confidence = $confidence:expr)? $(, outcome = $outcome:expr)? $(,)?) => {
        $crate::__monitor_async!($model, async $body $(, label = $label)? $(, confidence = $confidence)? $(, outcome = $outcome)?)
    };
    ($model:expr, $call:expr $(, label = $label:expr)? $(, confidence = $confidence:expr)? $(, outcome = $outcome:expr)? $(,)?) => {{
        let __im_guard = ($model).start();
        let __im_out = $call;
        $crate::__monitor_finish!(__im_guard, &__im_out $(, label = $label)? $(, confidence = $confidence)? $(, outcome = $outcome)?);
        __im_out
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __monitor_async {
    ($model:expr, $future:expr $(, label = $label:expr)? $(, confidence = $confidence:expr)? $(, outcome = $outcome:expr)?) => {{
        // `observe_future`'s wrapper records `server_error` while a panic unwinds through its
        // poll, also when a catch-panic layer keeps the future and drops it later.
        ($model).observe_future($future, |__im_out, __im_guard| {
            $crate::__monitor_finish!(__im_guard, __im_out $(, label = $label)? $(, confidence = $confidence)? $(, outcome = $outcome)?);
        })
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __monitor_finish {
    ($guard:ident, $out:expr $(, label = $label:expr)? $(, confidence = $confidence:expr)? $(, outcome = $outcome:expr)?) => {{
        #[allow(unused_mut)]
        let mut __im_guard = $guard;
        // A reference to the call's output.
        let __im_out_ref = $out;
        $(
            let __im_label = $crate::__private::call_label(__im_out_ref, $label);
            if let ::core::option::Option::Some(__im_l) = $crate::__private::AsLabel::as_label(&__im_label) {
                __im_guard.predicted(__im_l);
            }
        )?
        $(
            let __im_confidence = $crate::__private::call_label(__im_out_ref, $confidence);
            if let ::core::option::Option::Some(__im_c) = $crate::__private::AsConfidence::as_confidence(&__im_confidence) {
                __im_guard.signals().confidence(__im_c);
            }
        )?
        let __im_outcome = $crate::__monitor_outcome!(__im_out_ref $(, $outcome)?);
        __im_guard.finish(__im_outcome);
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __monitor_outcome {
    ($out:ident) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ProbeAny as _, ProbeResult as _};
        (&$crate::__private::Probe($out)).__im_outcome()
    }};
    ($out:ident, $outcome:expr) => {
        $crate::__private::call_outcome($out, $outcome)
    };
}

/// Plumbing of the macros. Not public API.
#[doc(hidden)]
pub mod __private {
    use std::borrow::Cow;

    use crate::Outcome;

    /// Autoref probe: `(&Probe(&value)).__im_outcome()` picks [`ProbeResult`] for a `Result`
    /// (method found on `&Probe`) and [`ProbeAny`] for anything else (found one autoref later).
    #[derive(Debug)]
    pub struct Probe<'a, T>(pub &'a T);

    pub trait ProbeResult {
        fn __im_outcome(&self) -> Outcome;
    }

    impl<T, E> ProbeResult for Probe<'_, Result<T, E>> {
        fn __im_outcome(&self) -> Outcome {
            Outcome::of_result(self.0)
        }
    }

    pub trait ProbeAny {
        fn __im_outcome(&self) -> Outcome;
    }

    impl<T> ProbeAny for &Probe<'_, T> {
        fn __im_outcome(&self) -> Outcome {
            Outcome::Success
        }
    }

    pub fn call_label<'a, T, L>(out: &'a T, f: impl FnOnce(&'a T) -> L) -> L {
        f(out)
    }

    pub fn call_outcome<T>(out: &T, f: impl FnOnce(&T) -> Outcome) -> Outcome {
        f(out)
    }

    /// What a `label = ...` closure may return.
    pub trait AsLabel {
        fn as_label(&self) -> Option<&str>;
    }

    impl AsLabel for str {
        fn as_label(&self) -> Option<&str> {
            Some(self)
        }
    }

    impl AsLabel for String {
        fn as_label(&self) -> Option<&str> {
            Some(self)
        }
    }

    impl AsLabel for Cow<'_, str> {
        fn as_label(&self) -> Option<&str> {
            Some(self)
        }
    }

    impl AsLabel for Box<str> {
        fn as_label(&self) -> Option<&str> {
            Some(self)
        }
    }

    impl AsLabel for crate::Prediction {
        fn as_label(&self) -> Option<&str> {
            Some(self.label())
        }
    }

    impl<T: AsLabel + ?Sized> AsLabel for &T {
        fn as_label(&self) -> Option<&str> {
            (**self).as_label()
        }
    }

    impl<T: AsLabel> AsLabel for Option<T> {
        fn as_label(&self) -> Option<&str> {
            self.as_ref().and_then(AsLabel::as_label)
        }
    }

    /// What a `confidence = ...` closure may return.
    pub trait AsConfidence {
        fn as_confidence(&self) -> Option<f64>;
    }

    impl AsConfidence for f64 {
        fn as_confidence(&self) -> Option<f64> {
            Some(*self)
        }
    }

    impl AsConfidence for f32 {
        fn as_confidence(&self) -> Option<f64> {
            Some(f64::from(*self))
        }
    }

    impl<T: AsConfidence> AsConfidence for Option<T> {
        fn as_confidence(&self) -> Option<f64> {
            self.as_ref().and_then(AsConfidence::as_confidence)
        }
    }
}
