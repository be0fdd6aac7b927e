//! How a handler reports its predicted label to the layer: the [`Prediction`] response extension.

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
