//! Where the model of a request comes from: one fixed model ([`FixedModel`]), any part of the
//! request ([`ModelFromRequest`]), the Open Inference Protocol path ([`OpenInference`],
//! `/v2/models/{name}/infer` or `/v2/models/{name}/versions/{version}/infer`), and the path
//! filter around any of them ([`OnlyPaths`]).

use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::{ModelSource, RequestHead};
use crate::fast::packed::PackedStrs;
use crate::{InFlight, ModelMonitor, Monitor};

/// Every request belongs to one model. Made by [`InferenceMonitorLayer::new`](super::InferenceMonitorLayer::new).
#[derive(Debug, Clone)]
pub struct FixedModel {
    pub(super) model: ModelMonitor,
}

impl ModelSource for FixedModel {
    #[inline]
    fn start<B>(&self, _request: &http::Request<B>) -> InFlight {
        self.model.start()
    }
}

/// The model is named by each request. Made by [`InferenceMonitorLayer::from_request`](super::InferenceMonitorLayer::from_request).
#[derive(Clone)]
pub struct ModelFromRequest<F> {
    /// The fallback model, through which the monitor is reached too: a plain reference, since
    /// servers clone the service (and so this) for each request.
    pub(super) fallback: ModelMonitor,
    /// The admitted models, interned (`only_models`); any model when `None`.
    pub(super) only: Option<&'static [ModelMonitor]>,
    pub(super) select: F,
}

impl<F> fmt::Debug for ModelFromRequest<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelFromRequest")
            .field("monitor", self.fallback.monitor())
            .field("fallback", &self.fallback.name())
            .finish_non_exhaustive()
    }
}

impl<F> ModelSource for ModelFromRequest<F>
where
    F: for<'a> Fn(RequestHead<'a>) -> Option<&'a str>,
{
    fn start<B>(&self, request: &http::Request<B>) -> InFlight {
        match ((self.select)(RequestHead::of(request)), self.only) {
            (Some(name), Some(models)) => start_among(models, name, &self.fallback),
            (Some(name), None) => self.fallback.monitor().start_request(name),
            (None, _) => self.fallback.start(),
        }
    }
}

/// Monitors only the requests to some paths, with the model source `M`. Made by
/// [`InferenceMonitorLayer::only_paths`](super::InferenceMonitorLayer::only_paths).
#[derive(Debug, Clone)]
pub struct OnlyPaths<M> {
    pub(super) models: M,
    /// Interned ([`interned_paths`]): axum and hyper clone the service for each request, and
    /// a reference count here would be a cache line both cores write.
    pub(super) paths: &'static PackedStrs,
}

/// The list `paths`, packed side by side ([`PackedStrs`]: a request compares its path against
/// one cache line) and kept for the life of the process, shared by every layer given the same
/// list: memory is bounded by the distinct lists a program writes, not by the layers it builds.
pub(super) fn interned_paths(paths: Vec<String>) -> &'static PackedStrs {
    static LISTS: Mutex<Vec<&'static PackedStrs>> = Mutex::new(Vec::new());
    let mut lists = LISTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(list) = lists
        .iter()
        .find(|list| list.iter().eq(paths.iter().map(String::as_str)))
    {
        return list;
    }
    let list: &'static PackedStrs =
        Box::leak(Box::new(PackedStrs::new(paths.iter().map(String::as_str))));
    lists.push(list);
    list
}

impl<M: ModelSource> ModelSource for OnlyPaths<M> {
    #[inline]
    fn start<B>(&self, request: &http::Request<B>) -> InFlight {
        self.models.start(request)
    }

    #[inline]
    fn monitors<B>(&self, request: &http::Request<B>) -> bool {
        let path = request.uri().path();
        self.paths.position(path).is_some() && self.models.monitors(request)
    }
}

/// The model named in the path of an Open Inference Protocol request (the v2 inference protocol
/// of Triton and others). Made by [`InferenceMonitorLayer::open_inference`](super::InferenceMonitorLayer::open_inference).
///
/// - `/v2/models/{name}/infer` and `/v2/models/{name}/versions/{version}/infer` are counted under
///   `{name}` (the version is not a label: it would multiply the series at every release; put
///   it in a model info metric instead).
/// - Every other path (health, metadata, a path that is not the protocol's) is counted under
///   the fallback model.
/// - By default any name is admitted through the monitor's model limiter: past
///   [`max_models`](crate::MonitorBuilder::max_models) distinct names, new names share the model
///   `other`. With [`only_models`](crate::InferenceMonitorLayer::only_models), only the models
///   the server really serves get their own series and every other name goes to the fallback;
///   that is the better choice when the list is known, since a client naming models that do not
///   exist then creates no series at all.
#[derive(Clone)]
pub struct OpenInference {
    /// The fallback model, through which the monitor is reached too. Plain references:
    /// servers clone the service (and so this) for each request, and a reference count or a
    /// boxed list here would be a shared line written or an allocation per request.
    fallback: ModelMonitor,
    /// Interned ([`interned_models`]).
    only: Option<&'static [ModelMonitor]>,
}

impl fmt::Debug for OpenInference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenInference")
            .field("fallback", &self.fallback.name())
            .field(
                "only",
                &self
                    .only
                    .as_ref()
                    .map(|m| m.iter().map(ModelMonitor::name).collect::<Vec<_>>()),
            )
            .finish_non_exhaustive()
    }
}

impl OpenInference {
    pub(crate) fn new(monitor: &Monitor, fallback: &str) -> Self {
        Self {
            fallback: monitor.model(fallback),
            only: None,
        }
    }

    pub(crate) fn only<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.only = Some(model_list(self.fallback.monitor(), names));
        self
    }

    /// The model of `path`, if it is an inference path of the protocol.
    ///
    /// ```
    /// use inference_monitor::tower::OpenInference;
    ///
    /// assert_eq!(OpenInference::model_in_path("/v2/models/loan/infer"), Some("loan"));
    /// assert_eq!(OpenInference::model_in_path("/v2/models/loan/versions/3/infer"), Some("loan"));
    /// assert_eq!(OpenInference::model_in_path("/v2/models/loan/ready"), None);
    /// assert_eq!(OpenInference::model_in_path("/v2/models//infer"), None);
    /// ```
    #[must_use]
    pub fn model_in_path(path: &str) -> Option<&str> {
        let rest = path.strip_prefix("/v2/models/")?;
        let (name, rest) = rest.split_once('/')?;
        if name.is_empty() {
            return None;
        }
        let infer = match rest.strip_prefix("versions/") {
            Some(versioned) => {
                let (version, tail) = versioned.split_once('/')?;
                !version.is_empty() && tail == "infer"
            }
            None => rest == "infer",
        };
        infer.then_some(name)
    }
}

/// The models `names` of `monitor`, registered now (so their series exist at zero from the
/// first scrape), without repeats, interned: the list an `only_models` admits.
pub(super) fn model_list<I, N>(monitor: &Monitor, names: I) -> &'static [ModelMonitor]
where
    I: IntoIterator<Item = N>,
    N: AsRef<str>,
{
    let mut models: Vec<ModelMonitor> = Vec::new();
    for name in names {
        let model = monitor.model(name.as_ref());
        if !models.iter().any(|m| m.name() == model.name()) {
            models.push(model);
        }
    }
    interned_models(models)
}

/// Starts a request of the model called `name` among `models`, or of `fallback` when none is.
#[inline]
fn start_among(models: &[ModelMonitor], name: &str, fallback: &ModelMonitor) -> InFlight {
    models
        .iter()
        .find(|m| m.name() == name)
        .unwrap_or(fallback)
        .start()
}

/// The list `models`, kept for the life of the process (as the models themselves are) and
/// shared by every layer given the same models in the same order: memory is bounded by the
/// distinct lists a program writes, not by the layers it builds.
fn interned_models(models: Vec<ModelMonitor>) -> &'static [ModelMonitor] {
    static LISTS: Mutex<Vec<&'static [ModelMonitor]>> = Mutex::new(Vec::new());
    let mut lists = LISTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(list) = lists.iter().find(|list| {
        list.len() == models.len() && list.iter().zip(&models).all(|(a, b)| a.same_as(b))
    }) {
        return list;
    }
    let list: &'static [ModelMonitor] = Box::leak(models.into_boxed_slice());
    lists.push(list);
    list
}

impl ModelSource for OpenInference {
    fn start<B>(&self, request: &http::Request<B>) -> InFlight {
        let Some(name) = Self::model_in_path(request.uri().path()) else {
            return self.fallback.start();
        };
        match self.only {
            Some(models) => start_among(models, name, &self.fallback),
            None => self.fallback.monitor().start_request(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_models_is_kept_once_however_many_layers_name_it() {
        let monitor = Monitor::new();
        let first = OpenInference::new(&monitor, "unknown").only(["loan", "iris", "loan"]);
        let first = first.only.expect("a list");
        let names: Vec<&str> = first.iter().map(ModelMonitor::name).collect();
        assert_eq!(names, ["loan", "iris"]);
        for _ in 0..1000 {
            let again = OpenInference::new(&monitor, "unknown").only(["loan", "iris"]);
            assert!(std::ptr::eq(first, again.only.expect("a list")));
        }
        let reordered = OpenInference::new(&monitor, "unknown").only(["iris", "loan"]);
        assert!(!std::ptr::eq(first, reordered.only.expect("a list")));
        // A monitor of the same configuration shares its models' registrations: the same list.
        let same = Monitor::new();
        let ours = OpenInference::new(&same, "unknown").only(["loan", "iris"]);
        assert!(std::ptr::eq(first, ours.only.expect("a list")));
        // Another configuration's models of the same names are other models: another list.
        let other = Monitor::builder().prefix("other").build().unwrap();
        let theirs = OpenInference::new(&other, "unknown").only(["loan", "iris"]);
        assert!(!std::ptr::eq(first, theirs.only.expect("a list")));
    }
}
