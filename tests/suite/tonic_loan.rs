//! End to end: the real `tonic_loan` example (a tonic gRPC server behind
//! `InferenceMonitorLayer` with `GrpcClassifier`), called by a tonic client over HTTP/2, and its
//! `/metrics` parsed and checked to the exact count.

use crate::common;
use crate::loan_model;
#[path = "../../examples/tonic_loan/proto.rs"]
mod proto;

use std::net::SocketAddr;

use http::uri::PathAndQuery;
use loan_model::{LoanApplication, LoanModel};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_prost::ProstCodec;

/// The application `tests/common/loan_api.rs` calls `GOOD`.
fn good() -> proto::Application {
    proto::Application {
        applicant_income: 5000.0,
        coapplicant_income: 1500.0,
        loan_amount: 120.0,
        loan_term_months: 360,
        credit_history: true,
        dependents: 0,
        education: "graduate".into(),
        self_employed: false,
        property_area: "urban".into(),
    }
}

/// The application `tests/common/loan_api.rs` calls `RISKY`.
fn risky() -> proto::Application {
    proto::Application {
        applicant_income: 1200.0,
        coapplicant_income: 0.0,
        loan_amount: 700.0,
        loan_term_months: 120,
        credit_history: false,
        dependents: 3,
        education: "not_graduate".into(),
        self_employed: true,
        property_area: "rural".into(),
    }
}

/// The same application as the JSON API takes it, to compare with the model run here.
fn as_json(a: &proto::Application) -> serde_json::Value {
    serde_json::json!({
        "applicant_income": a.applicant_income,
        "coapplicant_income": a.coapplicant_income,
        "loan_amount": a.loan_amount,
        "loan_term_months": a.loan_term_months,
        "credit_history": a.credit_history,
        "dependents": a.dependents,
        "education": a.education,
        "self_employed": a.self_employed,
        "property_area": a.property_area,
    })
}

/// One unary call of `path` with `application`, through tonic's client and prost codec.
async fn call(
    channel: &Channel,
    path: &'static str,
    application: proto::Application,
) -> Result<proto::Prediction, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    grpc.unary(
        tonic::Request::new(application),
        PathAndQuery::from_static(path),
        ProstCodec::<proto::Application, proto::Prediction>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// The `/metrics` address from the banner, whose line is exactly
/// `metrics: curl -s http://ADDR/metrics`.
fn metrics_addr(server: &common::Server) -> SocketAddr {
    let addr = server.metrics_addr();
    let line = format!("metrics: curl -s http://{addr}/metrics");
    assert!(
        server.banner.iter().any(|l| l.trim() == line),
        "no `{line}` in the banner: {:?}",
        server.banner
    );
    addr
}

#[test]
fn grpc_calls_are_counted_by_their_grpc_status_with_their_labels() {
    let server = common::start_example("tonic_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    assert_ne!(server.addr.port(), 0, "the banner must show the real port");
    assert!(
        server
            .banner
            .last()
            .is_some_and(|l| l.starts_with("tonic_loan listening on http://")),
        "banner: {:?}",
        server.banner
    );
    let metrics = metrics_addr(&server);
    let model = LoanModel::load();
    let expected = |a: &proto::Application| {
        model.predict(&LoanApplication::from_json(&as_json(a)).expect("valid application"))
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to tonic_loan");

        // Two valid applications: the model's own answers.
        for (application, label) in [(good(), "approved"), (risky(), "rejected")] {
            let decision = expected(&application);
            assert_eq!(decision.label, label);
            let answer = call(&channel, proto::PREDICT_PATH, application)
                .await
                .expect("a valid application is answered");
            assert_eq!(answer.label, label);
            assert_eq!(answer.probability, decision.probability);
            assert_eq!(answer.model_version, model.version());
        }

        // An invalid one: INVALID_ARGUMENT, with the JSON API's message naming the field.
        let invalid = proto::Application {
            loan_amount: 0.0,
            ..good()
        };
        let refusal = LoanApplication::from_json(&as_json(&invalid)).unwrap_err();
        assert_eq!(refusal.field, "loan_amount");
        let status = call(&channel, proto::PREDICT_PATH, invalid)
            .await
            .expect_err("loan_amount 0 is refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), refusal.to_string());

        // A method the service does not have: UNIMPLEMENTED.
        let status = call(&channel, "/loan.Loan/Explain", good())
            .await
            .expect_err("no such method");
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    });

    let m = common::scrape(metrics);
    let requests = |outcome: &str| m.requests("loan", outcome);
    assert_eq!(requests("success"), Some(2.0));
    assert_eq!(requests("client_error"), Some(1.0));
    // UNIMPLEMENTED (12) is the server's failing: `server_error` (docs/metrics.md).
    assert_eq!(requests("server_error"), Some(1.0));
    assert_eq!(requests("cancelled"), Some(0.0));
    let latency_count = |outcome: &str| {
        m.value(
            "inference_request_latency_seconds_count",
            &[("model", "loan"), ("outcome", outcome)],
        )
    };
    assert_eq!(latency_count("success"), Some(2.0));
    assert_eq!(latency_count("client_error"), Some(1.0));
    assert_eq!(latency_count("server_error"), Some(1.0));
    assert_eq!(
        m.sum(
            "inference_request_latency_seconds_count",
            &[("model", "loan")]
        ),
        4.0
    );
    let predictions = |label: &str| m.predictions("loan", label);
    assert_eq!(predictions("approved"), Some(1.0));
    assert_eq!(predictions("rejected"), Some(1.0));
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        2.0
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

/// The value of the `final: <sample> <value>` line `sample` the example printed on its way out.
#[cfg(unix)]
fn final_value(output: &[String], sample: &str) -> f64 {
    let prefix = format!("final: {sample} ");
    output
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {output:?}"))
        .parse()
        .unwrap()
}

/// With `SHUTDOWN_TIMEOUT=1`, SIGTERM while one call is stuck (its request stream sends an
/// application and never ends): the process exits 0 within 2.5 s instead of waiting for the
/// client, and its final counts show the cut call as `cancelled`.
#[cfg(unix)]
#[test]
fn sigterm_drains_within_the_deadline_with_a_stuck_call() {
    use tonic::codegen::tokio_stream::{self, StreamExt};

    let mut server = common::start_example(
        "tonic_loan",
        &[("METRICS_ADDR", "127.0.0.1:0"), ("SHUTDOWN_TIMEOUT", "1")],
    );
    let metrics = metrics_addr(&server);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = server.addr;
    let stuck = runtime.spawn(async move {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect to tonic_loan");
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.expect("channel ready");
        let requests = tokio_stream::iter([good()]).chain(tokio_stream::pending());
        grpc.client_streaming(
            tonic::Request::new(requests),
            PathAndQuery::from_static(proto::PREDICT_PATH),
            ProstCodec::<proto::Application, proto::Prediction>::default(),
        )
        .await
        .map(|_: tonic::Response<proto::Prediction>| ())
    });
    let in_flight =
        || common::scrape(metrics).value("inference_inprogress_requests", &[("model", "loan")]);
    let started = std::time::Instant::now();
    while in_flight() != Some(1.0) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the stuck call never reached the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (took, status, output) = server.terminate_within(std::time::Duration::from_secs(5));
    assert!(status.success(), "exit status: {status}; {output:?}");
    assert!(
        took >= std::time::Duration::from_millis(950)
            && took < std::time::Duration::from_millis(2500),
        "exited {took:?} after SIGTERM; {output:?}"
    );
    let loan = |outcome: &str| {
        final_value(
            &output,
            &format!("inference_requests_total{{model=\"loan\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(loan("cancelled"), 1.0, "{output:?}");
    assert_eq!(loan("success"), 0.0, "{output:?}");
    assert_eq!(loan("server_error"), 0.0, "{output:?}");
    assert_eq!(
        final_value(&output, "inference_inprogress_requests{model=\"loan\"}"),
        0.0
    );
    // The client sees its call end with the server gone.
    let ended = runtime.block_on(stuck).unwrap();
    assert!(ended.is_err(), "{ended:?}");
}
