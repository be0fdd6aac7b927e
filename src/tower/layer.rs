//! [`InferenceMonitorLayer`]: the tower layer, its own builder.

use std::fmt;

use tower_layer::Layer;

use super::request::{PassRequestBody, WatchRequestBody};
use super::service::InferenceMonitorService;
use super::source::{
    interned_paths, model_list, FixedModel, ModelFromRequest, OnlyPaths, OpenInference,
};
use super::streaming::{NoStreaming, Streaming};
use super::{LatencyEnd, RequestHead};
use crate::classify::{ClassifyOutcome, StatusClassifier};
use crate::{ModelMonitor, Monitor};

/// A tower [`Layer`] that monitors every request to the service it wraps with the four
/// inference metrics.
///
/// ```
/// use axum::{routing::post, Json, Router};
/// use inference_monitor::{InferenceMonitorLayer, Prediction};
///
/// async fn predict() -> (Prediction, Json<f64>) {
///     (Prediction::new("approved"), Json(0.93))
/// }
///
/// let app: Router = Router::new()
///     .route("/predict", post(predict))
///     .layer(InferenceMonitorLayer::new("loan"));
/// ```
///
/// Per request it raises `inference_inprogress_requests{model}`, and when the response body
/// ends (see [`LatencyEnd`]) it counts `inference_requests_total{model,outcome}`, records
/// `inference_request_latency_seconds{model,outcome}` and, if the handler put a
/// [`Prediction`](crate::Prediction) in the response, counts
/// `inference_predictions_total{model,label}`. A request whose future or body is dropped early
/// is counted as `cancelled`, one that panics as `server_error`.
///
/// The layer is its own builder: [`classify_with`](Self::classify_with) replaces the outcome
/// classifier (for gRPC: [`GrpcClassifier`](crate::classify::GrpcClassifier)),
/// [`latency_until`](Self::latency_until) moves the end of the measurement,
/// [`streaming`](Self::streaming) adds the signals of streamed generation. The model comes from
/// the layer ([`new`](Self::new)), the request's Open Inference Protocol path
/// ([`open_inference`](Self::open_inference)) or any part of the request
/// ([`from_request`](Self::from_request)).
/// It works with any service of `http::Request<B>` to `http::Response<B2>`: axum, hyper, tonic.
#[derive(Clone)]
#[must_use]
pub struct InferenceMonitorLayer<
    M = FixedModel,
    C = StatusClassifier,
    T = NoStreaming,
    R = PassRequestBody,
> {
    pub(crate) models: M,
    pub(crate) classifier: C,
    pub(crate) stream: T,
    pub(crate) latency: LatencyEnd,
    pub(crate) request: R,
}

impl<M: fmt::Debug, C, T: fmt::Debug, R: fmt::Debug> fmt::Debug
    for InferenceMonitorLayer<M, C, T, R>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceMonitorLayer")
            .field("models", &self.models)
            .field("classifier", &std::any::type_name::<C>())
            .field("stream", &self.stream)
            .field("latency", &self.latency)
            .field("request", &self.request)
            .finish()
    }
}

impl InferenceMonitorLayer {
    /// Monitors requests as model `model`, with the default [`Monitor`].
    ///
    /// Build it after installing the exporter: the metric handles are registered here.
    pub fn new(model: &str) -> Self {
        Self::for_model(ModelMonitor::new(model))
    }

    /// Monitors requests as the given model.
    pub fn for_model(model: ModelMonitor) -> Self {
        Self {
            models: FixedModel { model },
            classifier: StatusClassifier,
            stream: NoStreaming,
            latency: LatencyEnd::default(),
            request: PassRequestBody,
        }
    }
}

impl<F> InferenceMonitorLayer<ModelFromRequest<F>>
where
    F: for<'a> Fn(RequestHead<'a>) -> Option<&'a str>,
{
    /// Takes the model name of each request from the request itself (its path, a header, an
    /// extension such as axum's `MatchedPath`), falling back to `fallback` when `select`
    /// returns `None`. Names pass the monitor's model limiter, so a client cannot create
    /// series at will; [`only_models`](InferenceMonitorLayer::only_models) admits the served
    /// models only, and creates their series at zero. For the common `/models/{name}/...`
    /// shape, [`model_in_path`](InferenceMonitorLayer::model_in_path) is ready-made.
    ///
    /// ```
    /// use inference_monitor::{InferenceMonitorLayer, Monitor};
    ///
    /// // /v2/models/{name}/infer
    /// let layer = InferenceMonitorLayer::from_request(&Monitor::new(), "unknown", |head| {
    ///     head.uri().path().strip_prefix("/v2/models/")?.split('/').next()
    /// });
    /// # let _ = layer;
    /// ```
    ///
    /// Write the closure in the call, as above, or write a `fn`: the name returned borrows
    /// from the request, and Rust gives a closure that signature only when it sees the closure
    /// passed straight to a function that asks for it. A `fn` item always works, and can be
    /// named and reused:
    ///
    /// ```
    /// use inference_monitor::{InferenceMonitorLayer, Monitor, tower::RequestHead};
    ///
    /// fn tenant_model(head: RequestHead<'_>) -> Option<&str> {
    ///     head.headers().get("x-model")?.to_str().ok()
    /// }
    /// let layer = InferenceMonitorLayer::from_request(&Monitor::new(), "unknown", tenant_model);
    /// # let _ = layer;
    /// ```
    ///
    /// A closure bound to a variable first does not compile (the error speaks of lifetimes
    /// and "one type is more general than the other"):
    ///
    /// ```compile_fail
    /// use inference_monitor::{InferenceMonitorLayer, Monitor, tower::RequestHead};
    ///
    /// let select = |head: RequestHead<'_>| head.headers().get("x-model")?.to_str().ok();
    /// let layer = InferenceMonitorLayer::from_request(&Monitor::new(), "unknown", select);
    /// ```
    pub fn from_request(monitor: &Monitor, fallback: &str, select: F) -> Self {
        Self {
            models: ModelFromRequest {
                fallback: monitor.model(fallback),
                only: None,
                select,
            },
            classifier: StatusClassifier,
            stream: NoStreaming,
            latency: LatencyEnd::default(),
            request: PassRequestBody,
        }
    }
}

/// The model name in a path of the shape `{prefix}{name}/...` (or `{prefix}{name}`): the
/// segment after `prefix`, if it is not empty.
fn segment_after(
    prefix: &'static str,
) -> impl for<'a> Fn(RequestHead<'a>) -> Option<&'a str> + Clone {
    move |head| {
        let rest = head.uri().path().strip_prefix(prefix)?;
        let name = rest.split('/').next()?;
        (!name.is_empty()).then_some(name)
    }
}

impl InferenceMonitorLayer {
    /// Takes the model of each request from its path, as the segment that follows `prefix`:
    /// with `"/models/"`, `/models/loan/predict` counts under `loan`, and every path without a
    /// name there (`/healthz`, `/models/`) under `fallback`. The ready-made form of
    /// [`from_request`](InferenceMonitorLayer::from_request) for the most common route
    /// shape; names pass the monitor's model limiter, and
    /// [`only_models`](InferenceMonitorLayer::only_models) admits the served models only.
    ///
    /// ```
    /// use axum::{routing::post, Router};
    /// use inference_monitor::{InferenceMonitorLayer, Monitor};
    ///
    /// # async fn predict() {}
    /// let monitor = Monitor::new();
    /// let app: Router = Router::new()
    ///     .route("/models/{name}/predict", post(predict))
    ///     .layer(
    ///         InferenceMonitorLayer::model_in_path(&monitor, "unknown", "/models/")
    ///             .only_models(["loan", "iris"]),
    ///     );
    /// ```
    pub fn model_in_path(
        monitor: &Monitor,
        fallback: &str,
        prefix: &'static str,
    ) -> InferenceMonitorLayer<
        ModelFromRequest<impl for<'a> Fn(RequestHead<'a>) -> Option<&'a str> + Clone>,
    > {
        InferenceMonitorLayer::from_request(monitor, fallback, segment_after(prefix))
    }
}

impl<F, C, T, R> InferenceMonitorLayer<ModelFromRequest<F>, C, T, R> {
    /// Admits only these model names; a request naming any other model is counted under the
    /// fallback, so names sent by clients create no series. Their series are created now, at
    /// zero, so they are on the first scrape.
    ///
    /// Defaults to every name, bounded by the monitor's model limiter.
    pub fn only_models<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.models.only = Some(model_list(self.models.fallback.monitor(), names));
        self
    }
}

impl InferenceMonitorLayer<OpenInference> {
    /// Takes the model of each request from its Open Inference Protocol path (the v2 inference
    /// protocol of Triton and others): `/v2/models/{name}/infer` and
    /// `/v2/models/{name}/versions/{version}/infer` count under `{name}`, every other path
    /// under `fallback`. See [`OpenInference`].
    ///
    /// Names pass the monitor's model limiter (past `max_models`, new names share `other`);
    /// [`only_models`](InferenceMonitorLayer::only_models) admits the served models only.
    ///
    /// ```
    /// use axum::{routing::post, Router};
    /// use inference_monitor::{InferenceMonitorLayer, Monitor};
    ///
    /// # async fn infer() {}
    /// let monitor = Monitor::new();
    /// let app: Router = Router::new()
    ///     .route("/v2/models/{name}/infer", post(infer))
    ///     .layer(InferenceMonitorLayer::open_inference(&monitor, "unknown").only_models(["loan", "iris"]));
    /// ```
    pub fn open_inference(monitor: &Monitor, fallback: &str) -> Self {
        Self {
            models: OpenInference::new(monitor, fallback),
            classifier: StatusClassifier,
            stream: NoStreaming,
            latency: LatencyEnd::default(),
            request: PassRequestBody,
        }
    }
}

impl<C, T, R> InferenceMonitorLayer<OpenInference, C, T, R> {
    /// Admits only these model names; a request naming any other model is counted under the
    /// fallback, so names sent by clients create no series. Their series are created now, at
    /// zero.
    ///
    /// Defaults to every name, bounded by the monitor's model limiter.
    pub fn only_models<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.models = self.models.only(names);
        self
    }
}

impl<M, C, T, R> InferenceMonitorLayer<M, C, T, R> {
    /// Replaces the outcome classifier (a [`ClassifyOutcome`], or a closure
    /// `Fn(StatusCode, &HeaderMap) -> Outcome`).
    ///
    /// Defaults to [`StatusClassifier`]: 4xx is `client_error`, 5xx `server_error`.
    pub fn classify_with<C2: ClassifyOutcome>(
        self,
        classifier: C2,
    ) -> InferenceMonitorLayer<M, C2, T, R> {
        InferenceMonitorLayer {
            models: self.models,
            classifier,
            stream: self.stream,
            latency: self.latency,
            request: self.request,
        }
    }

    /// Adds the signals of streamed (generative) responses: time to first token, time per
    /// output token and tokens in and out (see [`Streaming`]). Each non-empty data frame of
    /// the body is one output token; the handler reports input tokens with
    /// [`TokenUsage`](crate::TokenUsage).
    ///
    /// ```
    /// use axum::{routing::post, Router};
    /// use inference_monitor::{InferenceMonitorLayer, TokenUsage};
    ///
    /// async fn generate() -> (TokenUsage, &'static str) {
    ///     // A real generator streams a body (server-sent events or chunks), one token a frame.
    ///     (TokenUsage::input(3), "Hello")
    /// }
    ///
    /// let app: Router = Router::new()
    ///     .route("/generate", post(generate))
    ///     .layer(InferenceMonitorLayer::new("llm").streaming());
    /// ```
    ///
    /// Defaults to off: the body does not look at its frames, and none of these series exist.
    pub fn streaming(self) -> InferenceMonitorLayer<M, C, Streaming, R> {
        InferenceMonitorLayer {
            models: self.models,
            classifier: self.classifier,
            stream: Streaming,
            latency: self.latency,
            request: self.request,
        }
    }

    /// Watches each request body, so a request its client aborted, or sent malformed, is not
    /// counted as the server's failure when the server answers it with one (see
    /// [`WatchRequestBody`]): after a failed request body (a reset stream, a connection closed
    /// mid-request) a `server_error` counts as `cancelled`; after a malformed gRPC body (cut
    /// inside a message, a bad message prefix, no message) as `client_error`.
    ///
    /// Use it with [`GrpcClassifier`](crate::classify::GrpcClassifier): a gRPC server answers a
    /// call whose client reset it, or whose body it cannot decode, with a status of its own
    /// (tonic: `INTERNAL`), which would count as `server_error`.
    ///
    /// ```
    /// use inference_monitor::{classify::GrpcClassifier, InferenceMonitorLayer};
    ///
    /// let layer = InferenceMonitorLayer::new("ranker")
    ///     .classify_with(GrpcClassifier)
    ///     .watch_request_body();
    /// # let _ = layer;
    /// ```
    ///
    /// The inner service then receives a [`RequestBody`](crate::tower::RequestBody)`<B>` for a
    /// request body `B`: services generic over the body (tonic's generated servers and `Routes`,
    /// axum's `Router`) take it as they are. Costs nothing per request beyond a word in the
    /// body and, for gRPC, a look at each message prefix; nothing is allocated.
    ///
    /// Defaults to off: the request body passes through untouched.
    pub fn watch_request_body(self) -> InferenceMonitorLayer<M, C, T, WatchRequestBody> {
        InferenceMonitorLayer {
            models: self.models,
            classifier: self.classifier,
            stream: self.stream,
            latency: self.latency,
            request: WatchRequestBody,
        }
    }

    /// Sets when the latency measurement ends.
    ///
    /// Defaults to [`LatencyEnd::EndOfBody`].
    pub fn latency_until(mut self, end: LatencyEnd) -> Self {
        self.latency = end;
        self
    }

    /// Monitors only the requests whose path is one of `paths` (exactly, without the query);
    /// every other request passes through untouched and counts nowhere.
    ///
    /// For wrapping a whole application at once, around its router, instead of its inference
    /// routes one by one: axum boxes each route a layer wraps, and a layer around the router
    /// saves that per request (see `docs/performance.md`).
    ///
    /// ```
    /// use axum::{extract::Request, response::IntoResponse, routing::{get, post}, Router};
    /// use inference_monitor::{InferenceMonitorLayer, Prediction};
    /// use tower::{Layer, ServiceExt};
    ///
    /// async fn predict() -> (Prediction, &'static str) {
    ///     (Prediction::new("approved"), "{}")
    /// }
    ///
    /// let router: Router = Router::new()
    ///     .route("/predict", post(predict))
    ///     .route("/healthz", get(|| async { "ok" }));
    /// let app = InferenceMonitorLayer::new("loan").only_paths(["/predict"]).layer(router);
    /// // axum serves services whose body is its own `Body`.
    /// let app = ServiceExt::<Request>::map_response(app, IntoResponse::into_response);
    /// let app = axum::ServiceExt::<Request>::into_make_service(app);
    /// // axum::serve(listener, app).await
    /// # let _ = app;
    /// ```
    ///
    /// Defaults to every path.
    pub fn only_paths<I, P>(self, paths: I) -> InferenceMonitorLayer<OnlyPaths<M>, C, T, R>
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        InferenceMonitorLayer {
            models: OnlyPaths {
                models: self.models,
                paths: interned_paths(paths.into_iter().map(Into::into).collect()),
            },
            classifier: self.classifier,
            stream: self.stream,
            latency: self.latency,
            request: self.request,
        }
    }
}

impl<S, M: Clone, C: Clone, T: Clone, R: Clone> Layer<S> for InferenceMonitorLayer<M, C, T, R> {
    type Service = InferenceMonitorService<S, M, C, T, R>;

    fn layer(&self, inner: S) -> Self::Service {
        InferenceMonitorService {
            inner,
            models: self.models.clone(),
            classifier: self.classifier.clone(),
            stream: self.stream.clone(),
            latency: self.latency,
            request: self.request.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestRecorder;
    use crate::tower::source::interned_paths;
    use crate::{InferenceMonitorLayer, Monitor};
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use tower_layer::Layer;
    use tower_service::Service;

    /// Sends a request for `path` through `layer` around a service that answers 200 at once,
    /// and reads the body to its end.
    fn send<L>(layer: &L, path: &str)
    where
        L: Layer<
            tower::util::ServiceFn<
                fn(
                    http::Request<()>,
                )
                    -> std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>,
            >,
        >,
        L::Service: Service<
            http::Request<()>,
            Response = http::Response<crate::tower::ResponseBody<String>>,
        >,
    {
        fn ok(
            _: http::Request<()>,
        ) -> std::future::Ready<Result<http::Response<String>, std::convert::Infallible>> {
            std::future::ready(Ok(http::Response::new(String::from("ok"))))
        }
        let inner = tower::service_fn(
            ok as fn(
                _,
            ) -> std::future::Ready<
                Result<http::Response<String>, std::convert::Infallible>,
            >,
        );
        let mut service = layer.layer(inner);
        let mut cx = Context::from_waker(Waker::noop());
        let request = http::Request::get(path).body(()).unwrap();
        let mut future = std::pin::pin!(service.call(request));
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
            panic!("the service answers at once");
        };
        let mut body = std::pin::pin!(response.into_body());
        while let Poll::Ready(Some(frame)) = http_body::Body::poll_frame(body.as_mut(), &mut cx) {
            frame.unwrap();
        }
    }

    #[test]
    fn the_model_in_the_path_with_only_models_admits_the_served_models_from_zero() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let monitor = Monitor::builder().prefix("segment").build().unwrap();
        let layer = InferenceMonitorLayer::model_in_path(&monitor, "unknown", "/models/")
            .only_models(["loan", "iris"]);
        let requests = |model| {
            recorder.counter(
                "segment_inference_requests_total",
                &[("model", model), ("outcome", "success")],
            )
        };
        // Registered with the layer: on the first scrape, at zero.
        assert_eq!(requests("loan"), Some(0));
        assert_eq!(requests("iris"), Some(0));
        for path in [
            "/models/loan/predict",
            "/models/loan",
            "/models/iris/predict",
        ] {
            send(&layer, path);
        }
        for path in [
            "/models/evil/predict",
            "/healthz",
            "/models/",
            "/models//predict",
        ] {
            send(&layer, path);
        }
        assert_eq!(requests("loan"), Some(2));
        assert_eq!(requests("iris"), Some(1));
        assert_eq!(requests("unknown"), Some(4));
        assert_eq!(requests("evil"), None, "a name not served makes no series");
    }

    #[test]
    fn from_request_takes_the_same_allow_list() {
        fn header(head: super::RequestHead<'_>) -> Option<&str> {
            head.uri().path().strip_prefix("/m/")
        }
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let monitor = Monitor::builder().prefix("allow").build().unwrap();
        let open = InferenceMonitorLayer::from_request(&monitor, "fallback", header);
        let only =
            InferenceMonitorLayer::from_request(&monitor, "fallback", header).only_models(["a"]);
        let count = |model| {
            recorder.counter(
                "allow_inference_requests_total",
                &[("model", model), ("outcome", "success")],
            )
        };
        assert_eq!(count("a"), Some(0));
        send(&only, "/m/a");
        send(&only, "/m/b");
        send(&open, "/m/b");
        assert_eq!(count("a"), Some(1));
        assert_eq!(count("b"), Some(1), "admitted by the open layer only");
        assert_eq!(count("fallback"), Some(1));
    }

    #[test]
    fn a_list_of_paths_is_kept_once_however_many_layers_name_it() {
        let list = |paths: &[&str]| interned_paths(paths.iter().map(|p| (*p).to_owned()).collect());
        let first = list(&["/predict", "/predict/batch"]);
        assert!(first.iter().eq(["/predict", "/predict/batch"]));
        assert_eq!(first.position("/predict/batch"), Some(1));
        assert_eq!(first.position("/predict/"), None);
        for _ in 0..1000 {
            assert!(std::ptr::eq(first, list(&["/predict", "/predict/batch"])));
        }
        let other = list(&["/predict/batch", "/predict"]);
        assert!(!std::ptr::eq(first, other));
        assert!(other.iter().eq(["/predict/batch", "/predict"]));
        assert_eq!(list(&[]).len(), 0);
    }
}
