//! What a handler reports to the layer in its response's extensions: the predicted label
//! ([`Prediction`]) and the tokens of a generation ([`TokenUsage`]).

use std::borrow::Cow;

/// The predicted label (class) of one response, put in the response's extensions by the
/// handler and read by [`InferenceMonitorLayer`](crate::InferenceMonitorLayer), which counts it
/// in `inference_predictions_total{model, label}`.
///
/// With the `axum` feature a handler can return it directly as a response part:
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::Json;
/// use inference_monitor::Prediction;
///
/// async fn predict() -> (Prediction, Json<&'static str>) {
///     (Prediction::new("approved"), Json("approved"))
/// }
/// # }
/// ```
///
/// Anywhere else (hyper, tonic, a hand-written service), insert it:
///
/// ```
/// use inference_monitor::Prediction;
///
/// let mut response = http::Response::new(String::from("{\"label\":\"approved\"}"));
/// Prediction::new("approved").insert_into(&mut response);
/// assert_eq!(response.extensions().get::<Prediction>().map(Prediction::label), Some("approved"));
/// ```
///
/// Labels should come from the model's own set of classes, never from request bytes; the
/// limiter bounds them anyway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Prediction {
    label: Cow<'static, str>,
}

impl Prediction {
    /// A prediction of `label`. A `&'static str` costs no allocation.
    #[must_use]
    pub fn new(label: impl Into<Cow<'static, str>>) -> Self {
        Self {
            label: label.into(),
        }
    }

    /// The predicted label.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Puts this prediction in the extensions of `response`.
    pub fn insert_into<B>(self, response: &mut http::Response<B>) {
        response.extensions_mut().insert(self);
    }
}

impl From<&'static str> for Prediction {
    fn from(label: &'static str) -> Self {
        Self::new(label)
    }
}

impl From<String> for Prediction {
    fn from(label: String) -> Self {
        Self::new(label)
    }
}

/// How many tokens a request read and wrote, reported by the handler as a response extension
/// and counted in `inference_tokens_total{model, type}` by a
/// [`streaming`](crate::InferenceMonitorLayer::streaming) layer.
///
/// The input count is the handler's to give (only the model's tokenizer knows it). The output
/// count of a streamed body is the number of its data frames, one per token; give it here only
/// for an answer sent whole (a JSON completion), where frames do not count tokens.
///
/// ```
/// use inference_monitor::TokenUsage;
///
/// let mut response = http::Response::new(String::from("data: Hello\n\n"));
/// TokenUsage::input(12).insert_into(&mut response);
/// assert_eq!(response.extensions().get::<TokenUsage>().map(TokenUsage::input_tokens), Some(12));
/// ```
///
/// With the `axum` feature it is a response part: `(TokenUsage::input(12), Sse::new(stream))`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    input: u64,
    output: Option<u64>,
}

impl TokenUsage {
    /// `tokens` input (prompt) tokens; output tokens counted from the body's data frames.
    #[must_use]
    pub const fn input(tokens: u64) -> Self {
        Self {
            input: tokens,
            output: None,
        }
    }

    /// Sets the number of output tokens, for an answer sent whole. It replaces the count of data
    /// frames, and no time per output token is recorded (the frames do not time tokens).
    #[must_use]
    pub const fn with_output(mut self, tokens: u64) -> Self {
        self.output = Some(tokens);
        self
    }

    /// The input tokens.
    #[must_use]
    pub const fn input_tokens(&self) -> u64 {
        self.input
    }

    /// The output tokens, if given.
    #[must_use]
    pub const fn output_tokens(&self) -> Option<u64> {
        self.output
    }

    /// Puts this usage in the extensions of `response`.
    pub fn insert_into<B>(self, response: &mut http::Response<B>) {
        response.extensions_mut().insert(self);
    }
}
