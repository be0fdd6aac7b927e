//! End to end: the real `tonic_loan` example (a tonic gRPC server behind
//! `InferenceMonitorLayer` with `GrpcClassifier` and `watch_request_body`), called by a tonic
//! client and by raw HTTP/2 clients (the `h2` crate, and frames written by hand), and its
//! `/metrics` parsed and checked to the exact count: outcomes, the cancel paths (a reset stream,
//! a closed connection, a tonic call dropped mid-request), malformed calls and the bound on
//! streams open at once.

use crate::common;
use crate::loan_model;
#[path = "../../examples/tonic_loan/proto.rs"]
mod proto;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

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
    // INVALID_ARGUMENT, and UNIMPLEMENTED (12): any client can call a method that does not
    // exist, so it is the client's error (docs/metrics.md).
    assert_eq!(requests("client_error"), Some(2.0));
    assert_eq!(requests("server_error"), Some(0.0));
    assert_eq!(requests("cancelled"), Some(0.0));
    let latency_count = |outcome: &str| {
        m.value(
            "inference_request_latency_seconds_count",
            &[("model", "loan"), ("outcome", outcome)],
        )
    };
    assert_eq!(latency_count("success"), Some(2.0));
    assert_eq!(latency_count("client_error"), Some(2.0));
    assert_eq!(latency_count("server_error"), Some(0.0));
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

/// The in-progress gauge of `loan` and its four outcome counts (`success`, `client_error`,
/// `server_error`, `cancelled`), from one scrape.
fn loan_counts(metrics: SocketAddr) -> (f64, [f64; 4]) {
    let m = common::scrape(metrics);
    let counts = ["success", "client_error", "server_error", "cancelled"]
        .map(|o| m.requests("loan", o).expect("outcome series"));
    let inprogress = m
        .value("inference_inprogress_requests", &[("model", "loan")])
        .expect("in-progress gauge");
    (inprogress, counts)
}

/// Scrapes until `loan` has `n` requests in flight (10 s at most); the counts then.
fn wait_inprogress(metrics: SocketAddr, n: f64) -> [f64; 4] {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (inprogress, counts) = loan_counts(metrics);
        if inprogress == n {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "in flight: {inprogress}, waited for {n}; counts {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_inprogress`] from async code.
async fn wait_inprogress_async(metrics: SocketAddr, n: f64) -> [f64; 4] {
    tokio::task::spawn_blocking(move || wait_inprogress(metrics, n))
        .await
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A raw HTTP/2 connection to `addr` (the `h2` crate's client), driven by a task of its own.
async fn h2_connect(
    addr: SocketAddr,
) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, driver)
}

/// The head of a `Predict` call, as a gRPC client sends it.
fn predict_head(addr: SocketAddr) -> http::Request<()> {
    http::Request::post(format!("http://{addr}{}", proto::PREDICT_PATH))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// `application` as one gRPC message: flag 0, its length, its protobuf bytes.
fn framed(application: &proto::Application) -> Vec<u8> {
    let bytes = prost::Message::encode_to_vec(application);
    let mut out = vec![0];
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// Opens `n` `Predict` calls on `client`: their HEADERS without `END_STREAM`, and for every second
/// call half of a message after them. Returns the calls' send halves and response futures.
async fn open_calls(
    addr: SocketAddr,
    client: &mut h2::client::SendRequest<Bytes>,
    n: usize,
) -> Vec<(h2::SendStream<Bytes>, h2::client::ResponseFuture)> {
    let message = framed(&good());
    let mut calls = Vec::with_capacity(n);
    for i in 0..n {
        *client = client.clone().ready().await.unwrap();
        let (response, mut send) = client.send_request(predict_head(addr), false).unwrap();
        if i % 2 == 1 {
            send.send_data(Bytes::copy_from_slice(&message[..message.len() / 2]), false)
                .unwrap();
        }
        calls.push((send, response));
    }
    calls
}

#[test]
fn a_call_its_client_resets_is_cancelled() {
    let server = common::start_example("tonic_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    let metrics = metrics_addr(&server);
    let addr = server.addr;
    runtime().block_on(async {
        let (mut client, _driver) = h2_connect(addr).await;
        // 100 calls in flight on one connection (the default bound), 50 of them half sent.
        let calls = open_calls(addr, &mut client, 100).await;
        assert_eq!(wait_inprogress_async(metrics, 100.0).await, [0.0; 4]);
        // RST_STREAM(CANCEL) on each: tonic answers each `INTERNAL` ("Missing request
        // message") before hyper sees the reset; the layer saw the request body fail first.
        for (mut send, _response) in calls {
            send.send_reset(h2::Reason::CANCEL);
        }
        assert_eq!(
            wait_inprogress_async(metrics, 0.0).await,
            [0.0, 0.0, 0.0, 100.0]
        );
    });
    let m = common::scrape(metrics);
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_count",
            &[("model", "loan"), ("outcome", "cancelled")]
        ),
        Some(100.0)
    );
    assert_eq!(
        m.sum(
            "inference_request_latency_seconds_count",
            &[("model", "loan")]
        ),
        100.0
    );
}

#[test]
fn calls_open_when_their_connection_closes_are_cancelled() {
    let server = common::start_example("tonic_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    let metrics = metrics_addr(&server);
    let addr = server.addr;
    runtime().block_on(async {
        // 4 connections with 100 calls each, header-only or half sent, then each connection
        // closed under them (its task dropped: the socket closes without a frame more).
        let mut open = Vec::new();
        for _ in 0..4 {
            let (mut client, driver) = h2_connect(addr).await;
            let calls = open_calls(addr, &mut client, 100).await;
            open.push((client, driver, calls));
        }
        assert_eq!(wait_inprogress_async(metrics, 400.0).await, [0.0; 4]);
        for (_, driver, _) in &open {
            driver.abort();
        }
        assert_eq!(
            wait_inprogress_async(metrics, 0.0).await,
            [0.0, 0.0, 0.0, 400.0]
        );
        drop(open);
    });
}

#[test]
fn a_tonic_call_dropped_mid_request_is_cancelled() {
    let server = common::start_example("tonic_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    let metrics = metrics_addr(&server);
    runtime().block_on(async {
        let channel = Endpoint::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to tonic_loan");
        // Ten calls whose request stream never sends its message: each is in flight at the
        // server, waiting for it, when the client drops the call's future.
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let channel = channel.clone();
                tokio::spawn(async move {
                    let mut grpc = tonic::client::Grpc::new(channel);
                    grpc.ready().await.expect("channel ready");
                    let _ = grpc
                        .client_streaming(
                            tonic::Request::new(tokio_stream::pending::<proto::Application>()),
                            PathAndQuery::from_static(proto::PREDICT_PATH),
                            ProstCodec::<proto::Application, proto::Prediction>::default(),
                        )
                        .await;
                    unreachable!("the server waits for the message");
                })
            })
            .collect();
        assert_eq!(wait_inprogress_async(metrics, 10.0).await, [0.0; 4]);
        for call in &calls {
            call.abort();
        }
        for call in calls {
            assert!(call.await.unwrap_err().is_cancelled());
        }
        assert_eq!(
            wait_inprogress_async(metrics, 0.0).await,
            [0.0, 0.0, 0.0, 10.0]
        );
        // The channel still works, and a whole call is a success.
        let answer = call(&channel, proto::PREDICT_PATH, good()).await.unwrap();
        assert_eq!(answer.label, "approved");
    });
    assert_eq!(loan_counts(metrics), (0.0, [1.0, 0.0, 0.0, 10.0]));
}

#[test]
fn malformed_calls_are_client_errors() {
    let server = common::start_example("tonic_loan", &[("METRICS_ADDR", "127.0.0.1:0")]);
    let metrics = metrics_addr(&server);
    let addr = server.addr;
    let well_formed = framed(&good());
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("a whole call", well_formed.clone(), "0"),
        // Compression flag 7 (only 0 and 1 exist): tonic's INTERNAL, the client's fault.
        ("a bad flag", b"\x07\0\0\0\x01x".to_vec(), "13"),
        // 16 bytes announced, 3 sent, then END_STREAM: INTERNAL "Unexpected EOF".
        ("a cut message", b"\0\0\0\0\x10abc".to_vec(), "13"),
        // END_STREAM with no message: INTERNAL "Missing request message".
        ("no message", Vec::new(), "13"),
        // Well framed, not protobuf: the example's codec answers INVALID_ARGUMENT.
        ("not protobuf", b"\0\0\0\0\x02\xff\xff".to_vec(), "3"),
        // An empty message is a valid (empty) application, which the model refuses.
        ("an empty message", b"\0\0\0\0\0".to_vec(), "3"),
    ];
    runtime().block_on(async {
        let (mut client, _driver) = h2_connect(addr).await;
        for (what, body, status) in cases {
            client = client.ready().await.unwrap();
            let (response, mut send) = client
                .send_request(predict_head(addr), body.is_empty())
                .unwrap();
            if !body.is_empty() {
                send.send_data(Bytes::from(body), true).unwrap();
            }
            let response = response.await.unwrap();
            assert_eq!(response.status(), 200, "{what}");
            let (head, mut body) = response.into_parts();
            // Trailers-only answers carry the status in the headers, the others in trailers.
            let code = match head.headers.get("grpc-status") {
                Some(code) => code.clone(),
                None => {
                    while let Some(data) = body.data().await {
                        let data = data.unwrap();
                        body.flow_control().release_capacity(data.len()).unwrap();
                    }
                    body.trailers().await.unwrap().unwrap()["grpc-status"].clone()
                }
            };
            assert_eq!(code, status, "{what}");
        }
    });
    assert_eq!(loan_counts(metrics), (0.0, [1.0, 5.0, 0.0, 0.0]));
}

/// HTTP/2 frames written by hand, for a client that ignores the server's settings.
mod frames {
    use std::io::{Read, Write};

    /// A frame: its 9-byte header, then `payload`.
    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut out = vec![len[1], len[2], len[3], kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A HEADERS frame (`END_HEADERS`, no `END_STREAM`) of a `Predict` call, its fields as HPACK
    /// literals without indexing (no table, no Huffman).
    pub fn predict_headers(stream: u32, path: &str) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            block.push(0);
            block.push(u8::try_from(name.len()).unwrap());
            block.extend_from_slice(name.as_bytes());
            block.push(u8::try_from(value.len()).unwrap());
            block.extend_from_slice(value.as_bytes());
        }
        frame(0x1, 0x4, stream, &block)
    }

    /// Reads one frame: its type, flags, stream and payload.
    pub fn read_frame(stream: &mut impl Read) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload)?;
        Ok((head[3], head[4], id, payload))
    }

    pub fn write(stream: &mut impl Write, bytes: &[u8]) {
        stream.write_all(bytes).unwrap();
    }
}

#[test]
fn a_client_cannot_open_more_calls_at_once_than_max_concurrent_streams() {
    use std::net::TcpStream;

    const BOUND: u32 = 8;
    let server = common::start_example(
        "tonic_loan",
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("MAX_CONCURRENT_STREAMS", "8"),
        ],
    );
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.trim()
                == "streams: 8 calls open at once per connection (MAX_CONCURRENT_STREAMS)"),
        "{:?}",
        server.banner
    );
    let metrics = metrics_addr(&server);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    frames::write(&mut tcp, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    frames::write(&mut tcp, &frames::frame(0x4, 0, 0, &[]));
    // The server's first frame: its SETTINGS, with MAX_CONCURRENT_STREAMS (0x3) = 8.
    let (kind, flags, id, payload) = frames::read_frame(&mut tcp).unwrap();
    assert_eq!((kind, flags, id), (0x4, 0, 0), "SETTINGS");
    let advertised: Vec<(u16, u32)> = payload
        .chunks(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    assert!(advertised.contains(&(0x3, BOUND)), "{advertised:?}");
    // This client ignores it: 20 calls opened at once, none ended.
    for i in 0..20 {
        frames::write(
            &mut tcp,
            &frames::predict_headers(1 + 2 * i, proto::PREDICT_PATH),
        );
    }
    // The server refuses the 12 past the bound: RST_STREAM (0x3) REFUSED_STREAM (0x7), which a
    // client may retry; they never reach the service.
    let mut refused = Vec::new();
    while refused.len() < 12 {
        let (kind, _, id, payload) = frames::read_frame(&mut tcp).expect("the server's frames");
        if kind == 0x3 {
            assert_eq!(payload, 7u32.to_be_bytes(), "stream {id}");
            refused.push(id);
        }
    }
    refused.sort_unstable();
    assert_eq!(refused, (8..20).map(|i| 1 + 2 * i).collect::<Vec<u32>>());
    // The gauge shows the bound, never more.
    assert_eq!(wait_inprogress(metrics, f64::from(BOUND)), [0.0; 4]);
    for _ in 0..10 {
        assert_eq!(loan_counts(metrics), (f64::from(BOUND), [0.0; 4]));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Closing the connection cancels the 8.
    drop(tcp);
    assert_eq!(wait_inprogress(metrics, 0.0), [0.0, 0.0, 0.0, 8.0]);
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
