//! The opt-in model signals: stage timing, batch sizes, confidence, model info and load time,
//! each checked to the exact value, through the test recorder and through the Prometheus
//! exporter's text.

use crate::common;

use std::convert::Infallible;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use http::{Request, Response};
use inference_monitor::testing::TestRecorder;
use inference_monitor::{
    ConfigError, InferenceMonitorLayer, ModelMonitor, Monitor, Outcome, Signal, Signals, Stage,
};
use tower::{service_fn, Layer, ServiceExt};

const STAGES: &str = "inference_stage_duration_seconds";
const BATCH: &str = "inference_batch_size";
const CONFIDENCE: &str = "inference_prediction_confidence";
const INFO: &str = "inference_model_info";
const LOAD: &str = "inference_model_load_duration_seconds";

fn stage(recorder: &TestRecorder, model: &str, stage: &str) -> Option<Vec<f64>> {
    recorder.histogram(STAGES, &[("model", model), ("stage", stage)])
}

#[test]
fn stages_are_recorded_exactly_and_registered_together() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let model = ModelMonitor::new("loan");
    assert_eq!(
        stage(&recorder, "loan", "queue"),
        None,
        "nothing before use"
    );

    let signals = model.signals();
    signals.record(Stage::Queue, Duration::from_millis(250));
    signals.record(Stage::Queue, Duration::from_micros(1500));
    model
        .signals()
        .record(Stage::Postprocess, Duration::from_secs(2));
    let timer = signals.time(Stage::Predict);
    std::thread::sleep(Duration::from_millis(5));
    let took = timer.stop(); // recorded once, not again when dropped
    {
        let _t = signals.time(Stage::Preprocess);
    }

    assert_eq!(stage(&recorder, "loan", "queue"), Some(vec![0.25, 0.0015]));
    assert_eq!(stage(&recorder, "loan", "postprocess"), Some(vec![2.0]));
    let predict = stage(&recorder, "loan", "predict").unwrap();
    assert_eq!(predict, vec![took.as_secs_f64()]);
    assert!(took >= Duration::from_millis(5), "{took:?}");
    assert_eq!(stage(&recorder, "loan", "preprocess").unwrap().len(), 1);
    // Four stages, one model: four series, and nothing else of the family.
    assert_eq!(recorder.series(STAGES).len(), 4);
    let description = recorder.description(STAGES).unwrap();
    assert_eq!(description.kind, "histogram");
    assert_eq!(description.unit, Some(metrics::Unit::Seconds));
}

#[test]
fn a_requests_signals_measure_the_queue_from_the_start_of_the_request() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let model = ModelMonitor::new("loan");
    let mut request = model.start();
    std::thread::sleep(Duration::from_millis(20));
    let signals = request.signals();
    let waited = signals.queue_wait();
    assert!(waited >= Duration::from_millis(20), "{waited:?}");
    request
        .signals()
        .record(Stage::Predict, Duration::from_millis(4));
    request.predicted("approved");
    request.signals().confidence(0.75);
    request.finish(Outcome::Success);

    assert_eq!(
        stage(&recorder, "loan", "queue"),
        Some(vec![waited.as_secs_f64()])
    );
    assert_eq!(stage(&recorder, "loan", "predict"), Some(vec![0.004]));
    assert_eq!(
        recorder.histogram(CONFIDENCE, &[("model", "loan")]),
        Some(vec![0.75])
    );
    assert_eq!(
        recorder.counter(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(1)
    );
    assert_eq!(signals.model_name(), "loan");
}

#[test]
fn confidence_outside_zero_to_one_is_dropped_not_recorded() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let model = ModelMonitor::new("loan");
    for p in [
        0.0,
        1.0,
        0.5,
        f64::NAN,
        -0.01,
        1.000_001,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        model.signals().confidence(p);
    }
    let request = model.start();
    request.signals().confidence(f64::NAN);
    request.signals().confidence(0.25);
    request.finish(Outcome::Success);
    assert_eq!(
        recorder.histogram(CONFIDENCE, &[("model", "loan")]),
        Some(vec![0.0, 1.0, 0.5, 0.25])
    );
}

#[test]
fn a_batch_counts_each_label_and_its_size_once_through_the_limiter() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let monitor = Monitor::builder()
        .labels(["approved", "rejected"])
        .max_labels(2)
        .build()
        .unwrap();
    let model = monitor.model("loan");
    let request = model.start();
    let n = request
        .signals()
        .predicted_batch(["approved", "rejected", "approved", "maybe", "perhaps"]);
    request.finish(Outcome::Success);
    assert_eq!(n, 5);
    model.signals().batch_size(1);
    assert_eq!(model.signals().predicted_batch([]), 0);

    let predictions = |label| {
        recorder.counter(
            "inference_predictions_total",
            &[("model", "loan"), ("label", label)],
        )
    };
    assert_eq!(predictions("approved"), Some(2));
    assert_eq!(predictions("rejected"), Some(1));
    assert_eq!(predictions("other"), Some(2), "past max_labels");
    assert_eq!(predictions("maybe"), None);
    assert_eq!(
        recorder.histogram(BATCH, &[("model", "loan")]),
        Some(vec![5.0, 1.0, 0.0])
    );
    assert_eq!(
        recorder.counter(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(1)
    );
}

#[test]
fn model_info_names_the_current_version_and_stays_bounded() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let monitor = Monitor::builder()
        .max_labels(2)
        .max_label_len(8)
        .build()
        .unwrap();
    let model = monitor.model("loan");
    let info = |version: &str| recorder.gauge(INFO, &[("model", "loan"), ("version", version)]);

    model.info("v1");
    assert_eq!(info("v1"), Some(1.0));
    model.info("v2");
    assert_eq!(info("v1"), Some(0.0));
    assert_eq!(info("v2"), Some(1.0));
    model.info("v1"); // back: the same series again, not a new one
    assert_eq!(info("v1"), Some(1.0));
    assert_eq!(info("v2"), Some(0.0));
    model.info("v3"); // past max_labels (2): `other`
    assert_eq!(info("other"), Some(1.0));
    assert_eq!(info("v1"), Some(0.0));
    model.info("v4");
    assert_eq!(info("other"), Some(1.0));
    model.info("a-very-long-version"); // cut to 8 bytes, and a third set: `other`
    assert_eq!(recorder.series(INFO).len(), 3);

    let other = monitor.model("fraud");
    other
        .info_with("v9", &[("framework", "onnx"), ("quant", "int8")])
        .unwrap();
    assert_eq!(
        recorder.gauge(
            INFO,
            &[
                ("model", "fraud"),
                ("version", "v9"),
                ("framework", "onnx"),
                ("quant", "int8")
            ]
        ),
        Some(1.0)
    );
    let bad = |extra: &[(&str, &str)]| match other.info_with("v9", extra) {
        Err(ConfigError::InvalidInfoLabel(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(bad(&[("model", "x")]).contains("already set"));
    assert!(bad(&[("version", "x")]).contains("already set"));
    assert!(bad(&[("__name__", "x")]).contains("`__`"));
    assert!(bad(&[("9lives", "x")]).contains("not a label name"));
    assert!(bad(&[("a-b", "x")]).contains("not a label name"));
    assert!(bad(&[("a", "x"), ("a", "y")]).contains("twice"));
    let nine: Vec<(String, &str)> = (0..9).map(|i| (format!("k{i}"), "v")).collect();
    let nine: Vec<(&str, &str)> = nine.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert!(bad(&nine).contains("at most 8"));
    // Refused calls recorded nothing.
    assert_eq!(recorder.series(INFO).len(), 4);

    model.loaded_in(Duration::from_millis(2500));
    assert_eq!(recorder.gauge(LOAD, &[("model", "loan")]), Some(2.5));
    model.loaded_in(Duration::from_millis(125));
    assert_eq!(recorder.gauge(LOAD, &[("model", "loan")]), Some(0.125));
}

#[test]
fn declared_signals_start_at_zero_and_undeclared_ones_do_not_exist() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let monitor = Monitor::builder()
        .signals([Signal::Stages, Signal::BatchSize, Signal::Confidence])
        .build()
        .unwrap();
    let _loan = monitor.model("loan");
    for s in Stage::ALL {
        assert_eq!(stage(&recorder, "loan", s.as_str()), Some(vec![]), "{s}");
    }
    assert_eq!(
        recorder.histogram(BATCH, &[("model", "loan")]),
        Some(vec![])
    );
    assert_eq!(
        recorder.histogram(CONFIDENCE, &[("model", "loan")]),
        Some(vec![])
    );

    let plain = Monitor::new().model("plain");
    plain.start().finish(Outcome::Success);
    assert_eq!(stage(&recorder, "plain", "queue"), None);
    assert_eq!(recorder.histogram(BATCH, &[("model", "plain")]), None);
    assert_eq!(recorder.histogram(CONFIDENCE, &[("model", "plain")]), None);
    assert_eq!(recorder.series(INFO), Vec::<Vec<(String, String)>>::new());
    assert_eq!(recorder.series(LOAD), Vec::<Vec<(String, String)>>::new());
}

#[test]
fn a_prefix_names_every_signal() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let model = Monitor::builder()
        .prefix("llm")
        .build()
        .unwrap()
        .model("chat");
    model
        .signals()
        .record(Stage::Predict, Duration::from_secs(1));
    model.signals().batch_size(8);
    model.signals().confidence(0.5);
    model.info("v1");
    model.loaded_in(Duration::from_secs(3));
    let m = [("model", "chat")];
    assert_eq!(
        recorder.histogram(
            "llm_inference_stage_duration_seconds",
            &[("model", "chat"), ("stage", "predict")]
        ),
        Some(vec![1.0])
    );
    assert_eq!(
        recorder.histogram("llm_inference_batch_size", &m),
        Some(vec![8.0])
    );
    assert_eq!(
        recorder.histogram("llm_inference_prediction_confidence", &m),
        Some(vec![0.5])
    );
    assert_eq!(
        recorder.gauge(
            "llm_inference_model_info",
            &[("model", "chat"), ("version", "v1")]
        ),
        Some(1.0)
    );
    assert_eq!(
        recorder.gauge("llm_inference_model_load_duration_seconds", &m),
        Some(3.0)
    );
    assert_eq!(recorder.series(STAGES).len(), 0);
}

#[test]
fn bucket_lists_are_validated() {
    assert!(Monitor::builder().batch_size_buckets(&[]).is_err());
    assert!(Monitor::builder().batch_size_buckets(&[2.0, 1.0]).is_err());
    let e = Monitor::builder()
        .confidence_buckets(&[0.5, 1.5])
        .unwrap_err();
    assert!(e.to_string().contains("0..=1"), "{e}");
    let monitor = Monitor::builder()
        .batch_size_buckets(&[1.0, 8.0])
        .unwrap()
        .confidence_buckets(&[0.5, 0.9])
        .unwrap()
        .build()
        .unwrap();
    let [_, _, batch, confidence, _, _] = monitor.histogram_buckets();
    assert_eq!(batch, ("inference_batch_size", &[1.0, 8.0][..]));
    assert_eq!(
        confidence,
        ("inference_prediction_confidence", &[0.5, 0.9][..])
    );
}

// ---------------------------------------------------------------------------------------------
// Through the Prometheus exporter: the buckets reach it, and the text holds exact counts.

/// The value of the sample written exactly `series` on the page `text`, strictly parsed.
fn line_value(text: &str, series: &str) -> Option<f64> {
    common::Exposition::parse(text).exact(series)
}

#[test]
fn the_prometheus_text_has_the_signal_buckets_and_exact_counts() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let monitor = Monitor::builder()
        .signals([Signal::Stages, Signal::BatchSize, Signal::Confidence])
        .build()
        .unwrap();
    let model = monitor.model("loan");
    let zero = metrics.render();
    for series in [
        r#"inference_stage_duration_seconds_count{model="loan",stage="queue"}"#,
        r#"inference_stage_duration_seconds_bucket{model="loan",stage="postprocess",le="+Inf"}"#,
        r#"inference_batch_size_count{model="loan"}"#,
        r#"inference_prediction_confidence_bucket{model="loan",le="0.999"}"#,
    ] {
        assert_eq!(line_value(&zero, series), Some(0.0), "{series} in\n{zero}");
    }

    // Boundaries are inclusive: 0.5 is in le="0.5", 0.95 in le="0.95".
    for p in [0.05, 0.5, 0.55, 0.95, 0.97, 0.9995, 1.0, f64::NAN, 2.0] {
        model.signals().confidence(p);
    }
    for n in [1, 3, 4, 1000, 1025] {
        model.signals().batch_size(n);
    }
    model
        .signals()
        .record(Stage::Predict, Duration::from_millis(20));
    model
        .signals()
        .record(Stage::Predict, Duration::from_millis(50));
    model
        .signals()
        .record(Stage::Predict, Duration::from_secs(120));

    let text = metrics.render();
    let confidence = |le: &str| {
        line_value(
            &text,
            &format!(r#"inference_prediction_confidence_bucket{{model="loan",le="{le}"}}"#),
        )
    };
    let expected = [
        ("0.1", 1.0),
        ("0.4", 1.0),
        ("0.5", 2.0),
        ("0.6", 3.0),
        ("0.9", 3.0),
        ("0.95", 4.0),
        ("0.99", 5.0),
        ("0.999", 5.0),
        ("+Inf", 7.0),
    ];
    for (le, count) in expected {
        assert_eq!(confidence(le), Some(count), "le={le}\n{text}");
    }
    assert_eq!(confidence("1"), None, "no boundary at 1");
    assert_eq!(
        line_value(
            &text,
            r#"inference_prediction_confidence_count{model="loan"}"#
        ),
        Some(7.0)
    );

    let batch = |le: &str| {
        line_value(
            &text,
            &format!(r#"inference_batch_size_bucket{{model="loan",le="{le}"}}"#),
        )
    };
    for (le, count) in [
        ("1", 1.0),
        ("2", 1.0),
        ("4", 3.0),
        ("512", 3.0),
        ("1024", 4.0),
        ("+Inf", 5.0),
    ] {
        assert_eq!(batch(le), Some(count), "le={le}\n{text}");
    }
    assert_eq!(
        line_value(&text, r#"inference_batch_size_sum{model="loan"}"#),
        Some(2033.0)
    );

    let predict = |le: &str| {
        line_value(
            &text,
            &format!(
                r#"inference_stage_duration_seconds_bucket{{model="loan",stage="predict",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(predict("0.025"), Some(1.0));
    assert_eq!(predict("0.05"), Some(2.0));
    assert_eq!(predict("60"), Some(2.0));
    assert_eq!(predict("+Inf"), Some(3.0));
    for help in [
        "# TYPE inference_stage_duration_seconds histogram",
        "# TYPE inference_batch_size histogram",
        "# TYPE inference_prediction_confidence histogram",
    ] {
        assert!(text.contains(help), "{help} not in\n{text}");
    }

    model.info("logreg-v1");
    model.loaded_in(Duration::from_millis(750));
    let text = metrics.render();
    assert_eq!(
        line_value(
            &text,
            r#"inference_model_info{model="loan",version="logreg-v1"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        line_value(
            &text,
            r#"inference_model_load_duration_seconds{model="loan"}"#
        ),
        Some(0.75)
    );
    assert!(text.contains("# TYPE inference_model_info gauge"), "{text}");
}

#[test]
fn a_prefixed_monitor_gives_the_exporter_its_signal_buckets() {
    let monitor = Monitor::builder()
        .prefix("llm")
        .batch_size_buckets(&[1.0, 16.0])
        .unwrap()
        .build()
        .unwrap();
    let (recorder, metrics) = inference_monitor::prometheus()
        .monitor(&monitor)
        .build()
        .unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let model = monitor.model("chat");
    model.signals().batch_size(10);
    model.signals().confidence(0.92);
    let text = metrics.render();
    let bucket = |series: &str| line_value(&text, series);
    assert_eq!(
        bucket(r#"llm_inference_batch_size_bucket{model="chat",le="1"}"#),
        Some(0.0)
    );
    assert_eq!(
        bucket(r#"llm_inference_batch_size_bucket{model="chat",le="16"}"#),
        Some(1.0)
    );
    assert_eq!(
        bucket(r#"llm_inference_batch_size_bucket{model="chat",le="2"}"#),
        None
    );
    assert_eq!(
        bucket(r#"llm_inference_prediction_confidence_bucket{model="chat",le="0.95"}"#),
        Some(1.0)
    );
    assert_eq!(
        bucket(r#"llm_inference_prediction_confidence_bucket{model="chat",le="0.9"}"#),
        Some(0.0)
    );
}

// ---------------------------------------------------------------------------------------------
// Through the tower layer: the handler finds its request's handle in the extensions.

/// A handler that reports every stage and a confidence through the request's `Signals`, and
/// says whether it found them.
async fn handler(request: Request<String>) -> Result<Response<String>, Infallible> {
    let Some(signals) = request.extensions().get::<Signals>().cloned() else {
        return Ok(Response::new("no signals".to_owned()));
    };
    signals.queue_wait();
    {
        let _t = signals.time(Stage::Preprocess);
    }
    signals.record(Stage::Predict, Duration::from_millis(10));
    signals.time(Stage::Postprocess).stop();
    signals.confidence(0.8);
    Ok(Response::new(signals.model_name().to_owned()))
}

#[tokio::test]
async fn the_layer_hands_each_request_its_signals_when_asked() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let with = Monitor::builder().request_signals(true).build().unwrap();
    assert!(with.has_request_signals());
    let service = InferenceMonitorLayer::for_model(with.model("loan")).layer(service_fn(handler));
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(Request::new(String::new()))
            .await
            .unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"loan");
    }
    for s in Stage::ALL {
        assert_eq!(
            stage(&recorder, "loan", s.as_str()).map(|v| v.len()),
            Some(3),
            "{s}"
        );
    }
    assert_eq!(
        stage(&recorder, "loan", "predict"),
        Some(vec![0.01, 0.01, 0.01])
    );
    assert_eq!(
        recorder.histogram(CONFIDENCE, &[("model", "loan")]),
        Some(vec![0.8, 0.8, 0.8])
    );

    // Off (the default): no handle, nothing recorded.
    let without = Monitor::new();
    assert!(!without.has_request_signals());
    let service =
        InferenceMonitorLayer::for_model(without.model("plain")).layer(service_fn(handler));
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"no signals");
    assert_eq!(stage(&recorder, "plain", "queue"), None);
    assert_eq!(
        recorder.counter(
            "inference_requests_total",
            &[("model", "plain"), ("outcome", "success")]
        ),
        Some(1)
    );
}

/// `promtool check metrics` lints the page against Prometheus naming practice (units as
/// suffixes, `_total` counters, no reserved labels): every signal passes, with no remark.
#[test]
fn promtool_finds_nothing_to_say_about_the_signals() {
    let Some(promtool) = common::stack::require("promtool", "prometheus") else {
        return;
    };
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let monitor = Monitor::builder()
        .labels(["approved", "rejected"])
        .signals([Signal::Stages, Signal::BatchSize, Signal::Confidence])
        .build()
        .unwrap();
    let model = monitor.model("loan");
    let request = model.start();
    request.signals().predicted_batch(["approved", "rejected"]);
    request.signals().queue_wait();
    request.signals().confidence(0.9);
    request.finish(Outcome::Success);
    model
        .info_with("logreg-v1", &[("framework", "none")])
        .unwrap();
    model.loaded_in(Duration::from_millis(12));
    let text = metrics.render();
    assert!(
        text.contains("inference_model_load_duration_seconds"),
        "{text}"
    );

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let remarks =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(remarks, "", "{text}");
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test]
async fn the_macro_reports_a_confidence_from_the_output() {
    use inference_monitor::monitor;
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let model = ModelMonitor::new("loan");
    let score = |p: f64| -> Result<f64, &'static str> {
        if p.is_nan() {
            Err("no score")
        } else {
            Ok(p)
        }
    };

    let p = monitor!(model, 0.93_f64, confidence = |p| *p);
    assert_eq!(p, 0.93);
    let _ = monitor!(
        model,
        score(0.25),
        label =
            |r: &Result<f64, &str>| r
                .ok()
                .map(|p| if p >= 0.5 { "approved" } else { "rejected" }),
        confidence = |r: &Result<f64, &str>| r.ok().map(|p| p.max(1.0 - p)),
        outcome = |r: &Result<f64, &str>| if r.is_ok() {
            Outcome::Success
        } else {
            Outcome::ClientError
        }
    );
    // `None`: nothing to record.
    let _ = monitor!(
        model,
        score(f64::NAN),
        confidence = |r: &Result<f64, &str>| r.ok()
    );
    let p = monitor!(model, async { 0.5_f32 }, confidence = |p| *p).await;
    assert_eq!(p, 0.5);

    assert_eq!(
        recorder.histogram(CONFIDENCE, &[("model", "loan")]),
        Some(vec![0.93, 0.75, 0.5])
    );
    let requests = |outcome| {
        recorder.counter(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", outcome)],
        )
    };
    assert_eq!(requests("success"), Some(3));
    assert_eq!(requests("server_error"), Some(1));
    assert_eq!(
        recorder.counter(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "rejected")]
        ),
        Some(1)
    );
}

/// The entry points deprecated in favour of `Signals` still record, one release, exactly as
/// their replacements do.
#[test]
#[allow(deprecated)]
fn the_deprecated_entry_points_record_as_signals_does() {
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    let model = ModelMonitor::new("old");
    model.stage(Stage::Queue, Duration::from_millis(4));
    model.confidence(0.75);
    model.batch_size(3);
    let mut request = model.start();
    request.stage(Stage::Predict, Duration::from_millis(2));
    request.confidence(0.5);
    request.predicted_with_confidence("approved", 0.25);
    assert_eq!(request.predicted_batch(["rejected", "rejected"]), 2);
    request.finish(Outcome::Success);

    assert_eq!(stage(&recorder, "old", "queue"), Some(vec![0.004]));
    assert_eq!(stage(&recorder, "old", "predict"), Some(vec![0.002]));
    assert_eq!(
        recorder.histogram(CONFIDENCE, &[("model", "old")]),
        Some(vec![0.75, 0.5, 0.25])
    );
    assert_eq!(
        recorder.histogram(BATCH, &[("model", "old")]),
        Some(vec![3.0, 2.0])
    );
    let predictions = |label| {
        recorder.counter(
            "inference_predictions_total",
            &[("model", "old"), ("label", label)],
        )
    };
    assert_eq!(predictions("approved"), Some(1));
    assert_eq!(predictions("rejected"), Some(2));
}
