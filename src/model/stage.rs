//! The kinds of opt-in signal: the stages of a request ([`Stage`], the `stage` label) and the
//! signals a monitor can declare at zero ([`Signal`]). A leaf.

use std::fmt;

/// A stage of one inference request, the `stage` label of `inference_stage_duration_seconds`.
///
/// The set is fixed, so the label is bounded: four series per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Waiting before the work starts: in a queue, for a batch to fill, for a worker.
    Queue,
    /// Turning the request into model input: parsing, validation, feature engineering,
    /// tokenization.
    Preprocess,
    /// The model call itself.
    Predict,
    /// Turning the model output into the answer: decoding, thresholds, serialization.
    Postprocess,
}

impl Stage {
    /// Every stage, in the order a request goes through them.
    pub const ALL: [Stage; 4] = [
        Stage::Queue,
        Stage::Preprocess,
        Stage::Predict,
        Stage::Postprocess,
    ];

    /// The value of the `stage` label: `queue`, `preprocess`, `predict` or `postprocess`.
    ///
    /// ```
    /// assert_eq!(inference_monitor::Stage::Preprocess.as_str(), "preprocess");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Queue => "queue",
            Stage::Preprocess => "preprocess",
            Stage::Predict => "predict",
            Stage::Postprocess => "postprocess",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opt-in signal whose series can be created at zero with each model, so `rate()` and
/// `histogram_quantile()` work from the first scrape. See
/// [`MonitorBuilder::signals`](crate::MonitorBuilder::signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `inference_stage_duration_seconds{model,stage}`, the four stages.
    Stages,
    /// `inference_batch_size{model}`.
    BatchSize,
    /// `inference_prediction_confidence{model}`.
    Confidence,
}
