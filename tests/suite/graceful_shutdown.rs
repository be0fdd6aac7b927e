//! Graceful shutdown finishes the requests in flight, and they are counted.
//!
//! An axum server with the layer, on a free loopback port; two requests are in flight in a slow
//! handler when shutdown starts. Both must get their 200 and be counted as `success`, the gauge
//! must come back to 0, and a connection attempted after shutdown must be refused.

use std::time::Duration;

use axum::routing::post;
use axum::Router;
use inference_monitor::testing::TestRecorder;
use inference_monitor::{InferenceMonitorLayer, Monitor, Prediction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

async fn slow() -> (Prediction, &'static str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    (Prediction::new("approved"), "{\"label\":\"approved\"}")
}

/// One HTTP/1.1 request on its own connection; the status line's code and the body.
async fn post_predict(addr: std::net::SocketAddr) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn requests_in_flight_at_shutdown_are_served_and_counted() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    // The layer's handles (the label declared in advance too) are registered here, on the test
    // thread, with the local recorder; the server's worker threads then record through them.
    let monitor = Monitor::builder().labels(["approved"]).build().unwrap();
    let app = Router::new()
        .route("/predict", post(slow))
        .layer(InferenceMonitorLayer::for_model(monitor.model("loan")));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });

        // Two requests in the handler, then shutdown.
        let in_handler = std::sync::Arc::new(Semaphore::new(0));
        let clients: Vec<_> = (0..2)
            .map(|_| {
                let in_handler = in_handler.clone();
                tokio::spawn(async move {
                    let answer = tokio::spawn(post_predict(addr));
                    in_handler.add_permits(1);
                    answer.await.unwrap()
                })
            })
            .collect();
        let _ = in_handler.acquire_many(2).await.unwrap();
        // Let both requests reach the handler (it sleeps 300 ms): polled, not a fixed wait, so
        // a busy machine (other tests run in this process) does not start shutdown too early.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let inprogress = || recorder.gauge("inference_inprogress_requests", &[("model", "loan")]);
        while inprogress() != Some(2.0) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            inprogress(),
            Some(2.0),
            "both requests are in flight when shutdown starts"
        );
        stop.send(()).unwrap();

        for client in clients {
            let (status, body) = client.await.unwrap();
            assert_eq!(status, 200);
            assert_eq!(body, "{\"label\":\"approved\"}");
        }
        server.await.unwrap().unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed after shutdown"
        );
    });

    let success = [("model", "loan"), ("outcome", "success")];
    assert_eq!(
        recorder.counter("inference_requests_total", &success),
        Some(2)
    );
    assert_eq!(
        recorder.counter(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(2)
    );
    assert_eq!(
        recorder.gauge("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
    for outcome in ["cancelled", "server_error", "client_error"] {
        assert_eq!(
            recorder.counter(
                "inference_requests_total",
                &[("model", "loan"), ("outcome", outcome)]
            ),
            Some(0),
            "{outcome}"
        );
    }
}
