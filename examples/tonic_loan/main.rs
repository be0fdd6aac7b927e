//! The loan-approval model as a tonic gRPC service, monitored by inference-monitor: the same
//! tower layer as the HTTP examples, with [`GrpcClassifier`] so each call is counted by its
//! `grpc-status` (gRPC answers almost every call with HTTP `200`).
//!
//! Run it:
//!
//! ```sh
//! cargo run --example tonic_loan                        # gRPC on 127.0.0.1:50051, /metrics on 127.0.0.1:9464
//! ADDR=127.0.0.1:0 METRICS_ADDR=127.0.0.1:0 cargo run --example tonic_loan  # free ports; the banner shows them
//! MAX_CONCURRENT_STREAMS=32 cargo run --example tonic_loan   # calls open at once per connection (default 100)
//! ```
//!
//! Then call `loan.Loan/Predict` (the messages are in `proto.rs`, with the `.proto` they
//! stand for), for example with grpcurl and that `.proto` saved as `loan.proto`:
//!
//! ```sh
//! grpcurl -plaintext -proto loan.proto -d '{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "education": "graduate", "property_area": "urban"}' 127.0.0.1:50051 loan.Loan/Predict
//! grpcurl -plaintext -proto loan.proto -d '{"applicant_income": 5000}' 127.0.0.1:50051 loan.Loan/Predict   # InvalidArgument, names the field
//! curl -s 127.0.0.1:9464/metrics
//! ```
//!
//! How it fits together, with no `protoc` and no generated code:
//!
//! * the messages derive `prost::Message` by hand (`proto.rs`), and `Loan` is a
//!   `tower::Service<http::Request<B>>` (for any request body, as generated servers are) that
//!   routes `/loan.Loan/Predict` to `tonic::server::Grpc::unary` with `tonic_prost::ProstCodec`
//!   (what tonic-build would generate) and answers `UNIMPLEMENTED` to any other path;
//! * the layer goes on the server: `Server::builder().layer(InferenceMonitorLayer::…
//!   .classify_with(GrpcClassifier).watch_request_body())`. A call that fails at once
//!   (`INVALID_ARGUMENT`, `UNIMPLEMENTED`) is a trailers-only response whose `grpc-status` is in
//!   the headers; a successful one ends with `grpc-status: 0` in the trailers, where the layer
//!   records it. Watching the request body counts a call its client cancelled (`RST_STREAM`, or
//!   the connection closed mid-call) as `cancelled` and a malformed one as `client_error`, where
//!   tonic answers both with `INTERNAL`; the codec answers a message that is not valid protobuf
//!   with `INVALID_ARGUMENT` (tonic's prost codec says `INTERNAL`);
//! * the server advertises `MAX_CONCURRENT_STREAMS` (HTTP/2's bound on the calls a connection
//!   has open at once; env `MAX_CONCURRENT_STREAMS`, default 100): a client cannot hold more
//!   calls open per connection, nor raise `inference_inprogress_requests` past it with one;
//! * the predicted label reaches the layer through the extensions of the `tonic::Response`:
//!   tonic moves them into the `http::Response` it sends (`Response::into_http`), where the
//!   layer reads the [`Prediction`], exactly as with an axum handler. No extra middleware.
//!
//! `/metrics` is served by a plain HTTP/1.1 listener of its own (`METRICS_ADDR`), since the
//! gRPC port speaks HTTP/2 only.
//!
//! On Ctrl-C or SIGTERM tonic stops accepting and lets the calls in flight finish, for at most
//! `SHUTDOWN_TIMEOUT` seconds (default 10, `loan_model/serving.rs`); a call still open then is
//! cut, counted as `cancelled`, and the final counts are printed.

#[path = "../loan_model/mod.rs"]
mod loan_model;
mod proto;

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use inference_monitor::{classify::GrpcClassifier, InferenceMonitorLayer, Prediction};
use serde_json::json;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use loan_model::serving::{self, Drain, Limits, Shutdown, Stopped};
use loan_model::{LoanApplication, LoanModel};

/// The `loan.Loan` service: `Predict`, and `UNIMPLEMENTED` for any other method.
#[derive(Clone)]
struct Loan {
    model: Arc<LoanModel>,
}

/// Generic over the request body, as tonic's generated servers are: behind the layer it is the
/// layer's `RequestBody`.
impl<B> tower::Service<http::Request<B>> for Loan
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() == proto::PREDICT_PATH {
            let predict = Predict {
                model: Arc::clone(&self.model),
            };
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(LoanCodec::default());
                Ok(grpc.unary(predict, request).await)
            })
        } else {
            let status = Status::unimplemented(format!(
                "unknown method {}: loan.Loan has only Predict",
                request.uri().path()
            ));
            Box::pin(ready(Ok(status.into_http())))
        }
    }
}

/// tonic's prost codec, except that a message that is not valid protobuf is the client's
/// error, `INVALID_ARGUMENT` (prost's decode error is `INTERNAL` in tonic, which the layer would
/// count as `server_error`: any client could raise it).
#[derive(Default)]
struct LoanCodec(ProstCodec<proto::Prediction, proto::Application>);

impl Codec for LoanCodec {
    type Encode = proto::Prediction;
    type Decode = proto::Application;
    type Encoder = <ProstCodec<proto::Prediction, proto::Application> as Codec>::Encoder;
    type Decoder = InvalidArgumentOnDecode<
        <ProstCodec<proto::Prediction, proto::Application> as Codec>::Decoder,
    >;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        InvalidArgumentOnDecode(self.0.decoder())
    }
}

/// A decoder whose errors are `INVALID_ARGUMENT`, with the decoder's message.
struct InvalidArgumentOnDecode<D>(D);

impl<D: Decoder<Error = Status>> Decoder for InvalidArgumentOnDecode<D> {
    type Item = D::Item;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D::Item>, Status> {
        self.0
            .decode(src)
            .map_err(|e| Status::invalid_argument(e.message().to_owned()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// The `Predict` method.
struct Predict {
    model: Arc<LoanModel>,
}

impl tonic::server::UnaryService<proto::Application> for Predict {
    type Response = proto::Prediction;
    type Future = Ready<Result<Response<proto::Prediction>, Status>>;

    fn call(&mut self, request: Request<proto::Application>) -> Self::Future {
        ready(predict(&self.model, request.get_ref()))
    }
}

/// Validates `application` as the JSON API does (same rules, same messages naming the field)
/// and scores it. An invalid application is `INVALID_ARGUMENT`, which the layer counts as
/// `client_error`; a valid one carries its label to the layer in the response's extensions.
fn predict(
    model: &LoanModel,
    application: &proto::Application,
) -> Result<Response<proto::Prediction>, Status> {
    let application = LoanApplication::from_json(&json!({
        "applicant_income": application.applicant_income,
        "coapplicant_income": application.coapplicant_income,
        "loan_amount": application.loan_amount,
        "loan_term_months": application.loan_term_months,
        "credit_history": application.credit_history,
        "dependents": application.dependents,
        "education": application.education,
        "self_employed": application.self_employed,
        "property_area": application.property_area,
    }))
    .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let decision = model.predict(&application);
    let mut response = Response::new(proto::Prediction {
        label: decision.label.to_owned(),
        probability: decision.probability,
        model_version: model.version().to_owned(),
    });
    // tonic copies these extensions into the `http::Response`, where the layer finds them.
    response
        .extensions_mut()
        .insert(Prediction::new(decision.label));
    Ok(response)
}

/// An address from the environment variable `name`, or `default`.
fn addr_from(name: &str, default: &str) -> Result<SocketAddr, String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .parse()
        .map_err(|e| format!("{name} must be an address like {default}: {e}"))
}

/// HTTP/2's `SETTINGS_MAX_CONCURRENT_STREAMS` the server advertises, from the environment
/// variable `MAX_CONCURRENT_STREAMS` (default 100, the least RFC 9113 recommends).
fn max_concurrent_streams() -> Result<u32, String> {
    match std::env::var("MAX_CONCURRENT_STREAMS") {
        Err(_) => Ok(100),
        Ok(v) => {
            v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("MAX_CONCURRENT_STREAMS must be a number above 0, not {v:?}")
            })
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serving::run(serve())
}

async fn serve() -> Result<Stopped, Box<dyn std::error::Error>> {
    let addr = addr_from("ADDR", "127.0.0.1:50051")?;
    let metrics_addr = addr_from("METRICS_ADDR", "127.0.0.1:9464")?;
    let limits = Limits::from_env()?;
    let streams = max_concurrent_streams()?;
    let (monitor, metrics) = loan_model::server::install_monitoring()?;
    let shutdown = Shutdown::listen("calls", &limits)
        .map_err(|e| format!("cannot listen for signals: {e}"))?;

    let loading = std::time::Instant::now();
    let model = Arc::new(LoanModel::load());
    let loan = monitor.model("loan");
    loan.loaded_in(loading.elapsed());
    loan.info(model.version());

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
        .await
        .map_err(|e| format!("cannot listen on METRICS_ADDR {metrics_addr}: {e}"))?;
    let metrics_local = metrics_listener.local_addr()?;
    let metrics_server = tokio::spawn(loan_model::server::serve_metrics(
        metrics_listener,
        metrics.service(),
        loan_model::server::dashboard(),
    ));

    println!("tonic_loan: loan-approval model over gRPC (tonic), monitored by inference-monitor");
    println!(
        "  predict: grpc {local} {} (messages in examples/tonic_loan/proto.rs)",
        proto::PREDICT_PATH
    );
    println!("  streams: {streams} calls open at once per connection (MAX_CONCURRENT_STREAMS)");
    println!("  metrics: curl -s http://{metrics_local}/metrics");
    println!("  dashboard: http://{metrics_local}/dashboard");
    println!(
        "  stop:    Ctrl-C or SIGTERM (in-flight calls get {} s to finish, then count as cancelled)",
        limits.shutdown.as_secs_f64()
    );
    // The last line: scripts and tests wait for it. The scheme is the runner's convention; the
    // port speaks gRPC (HTTP/2 without TLS).
    println!("tonic_loan listening on http://{local}");

    // tonic drains by itself once the signal comes; the deadline cuts what is still open then
    // (an open stream, a stuck call), and `serving::run` drops it, counted as cancelled.
    let server = Server::builder()
        .max_concurrent_streams(streams)
        .layer(
            InferenceMonitorLayer::for_model(loan)
                .classify_with(GrpcClassifier)
                .watch_request_body(),
        )
        .serve_with_incoming_shutdown(
            Loan { model },
            TcpIncoming::from(listener),
            shutdown.requested(),
        );
    let drain = match shutdown.within_deadline(server).await {
        Some(served) => {
            served?;
            Drain::Finished
        }
        // tonic does not say how many connections it still had.
        None => Drain::Cut(None),
    };
    metrics_server.abort();
    Ok(Stopped {
        metrics: Some(metrics),
        drain,
    })
}
