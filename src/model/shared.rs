//! What a registered model holds: its [`Handle`] (the fast-path block first, then the rest),
//! [`ModelShared`] (its metric handles and configuration), its opt-in signals' handles
//! ([`ModelSignals`]) and its streaming handles ([`StreamHandles`]), each with its own methods.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Label, SharedString, Unit};

use super::clock::Clock;
use super::contain::contain;
use super::handles::{counter, describe_counter, describe_histogram, histogram};
use super::limiter::Limiter;
use super::mark::Marks;
use super::stage::{Signal, Stage};
use super::Monitor;
use crate::fast::{Block, Path, Published, Sample, Stripe};
use crate::names::{self, MetricNames};
use crate::Outcome;

/// What a [`ModelMonitor`](super::ModelMonitor) points to. What a request reads comes first:
/// the [`Block`] (its first line the clock, the stripes and the flags, its second the bounds).
#[repr(C)]
pub(crate) struct Handle {
    pub(crate) block: Block,
    pub(crate) shared: ModelShared,
    published: Published,
    /// For an unbound model: its registration with the installed recorder, once one is
    /// (see [`register::bound`](super::register::bound)).
    pub(super) rebound: OnceLock<&'static Handle>,
}

impl Handle {
    /// A registration of `shared` recording through `block`.
    pub(crate) fn new(block: Block, shared: ModelShared) -> Self {
        Self {
            block,
            shared,
            published: Published::default(),
            rebound: OnceLock::new(),
        }
    }

    /// The model's state.
    #[inline]
    pub(crate) fn shared(&'static self) -> &'static ModelShared {
        &self.shared
    }

    /// The clock the model's requests are timed with.
    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.block.clock
    }

    /// Whether the tower layer should hand each request a [`Signals`](super::Signals) handle.
    #[inline]
    pub(crate) fn request_signals(&self) -> bool {
        self.block.request_signals
    }

    /// Counts a request in: on its stripe (direct path) or on the gauge.
    #[inline]
    pub(crate) fn start(&'static self) -> Stripe {
        let stripe = self.block.stripe();
        if self.block.path == Path::Direct {
            Block::start(stripe);
        } else {
            contain(|| self.shared.inprogress.increment(1.0));
        }
        stripe
    }

    /// Records a request that started on `stripe`. Called by
    /// [`InFlight`](super::InFlight) exactly once.
    #[inline]
    pub(crate) fn record(&self, stripe: Stripe, outcome: Outcome, took: Duration, label: u32) {
        let s = &self.shared;
        let i = outcome.index();
        if self.block.path == Path::Direct {
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            if self.block.record(stripe, i, nanos, label) {
                return;
            }
        } else {
            s.requests[i].increment(1);
            s.latency[i].record(took.as_secs_f64());
            s.inprogress.decrement(1.0);
        }
        if let Some(counter) = s.labels.entry(label) {
            counter.increment(1);
        }
    }
}

impl Sample for Handle {
    /// Brings the model's series up to date: the in-progress gauge to the requests in flight,
    /// the requests and the predicted labels to their sums over the stripes.
    fn refresh(&self) {
        let shared = &self.shared;
        self.published.publish(
            &self.block.totals(),
            &shared.inprogress,
            &shared.requests,
            |label| shared.labels.entry(label),
        );
    }
}

/// One model's metric handles and configuration.
pub(crate) struct ModelShared {
    name: SharedString,
    monitor: Monitor,
    requests: [Counter; 4],
    latency: [Histogram; 4],
    inprogress: Gauge,
    labels: Limiter<Counter>,
    clock: Clock,
    pub(crate) signals: ModelSignals,
    /// Opt-in: the streaming handles, registered on the first streamed response.
    streaming: OnceLock<Arc<StreamHandles>>,
    /// Opt-in: the marks of its requests ([`Marks`]), made on the first request whose body is
    /// watched.
    marks: OnceLock<Box<Marks>>,
}

impl ModelShared {
    /// The state of model `name` of `monitor` with its four metrics' handles.
    pub(crate) fn new(
        name: SharedString,
        monitor: &Monitor,
        requests: [Counter; 4],
        latency: [Histogram; 4],
        inprogress: Gauge,
    ) -> Self {
        let preset = monitor
            .preset_labels()
            .iter()
            .map(|l| (l.clone(), monitor.register_label(&name, l)))
            .collect();
        let shared = Self {
            name,
            monitor: monitor.clone(),
            requests,
            latency,
            inprogress,
            labels: Limiter::new(monitor.max_labels(), monitor.max_label_len(), preset),
            clock: Clock::get(),
            signals: ModelSignals::default(),
            streaming: OnceLock::new(),
            marks: OnceLock::new(),
        };
        for signal in monitor.declared() {
            shared.declare(*signal);
        }
        shared
    }

    /// The model name as it appears in the `model` label.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The index of the predictions counter of `label` (bounded) in the model's limiter.
    #[inline]
    pub(crate) fn label_index(&self, label: &str) -> u32 {
        self.labels.index(label, |bounded| {
            self.monitor.register_label(&self.name, bounded)
        })
    }

    /// The monitor the model belongs to.
    pub(crate) fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// The model's predictions counters, by label index.
    pub(crate) fn labels(&self) -> &Limiter<Counter> {
        &self.labels
    }

    /// The clock the model's requests are timed with.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The model's streaming handles, registered on first use.
    pub(crate) fn streaming(&self) -> &Arc<StreamHandles> {
        self.streaming
            .get_or_init(|| Arc::new(StreamHandles::register(self.monitor.names(), &self.name)))
    }

    /// The model's table of marks, made on first use.
    pub(crate) fn marks(&self) -> &Marks {
        self.marks.get_or_init(|| Box::new(Marks::new()))
    }

    /// The model's table of marks, if a request was ever watched.
    #[inline]
    pub(crate) fn marks_if_any(&self) -> Option<&Marks> {
        self.marks.get().map(|m| &**m)
    }

    /// The `model` label of this model's series.
    pub(crate) fn model_label(&self) -> Label {
        Label::new(names::LABEL_MODEL, self.name.clone())
    }

    fn stages(&self) -> &[Histogram; 4] {
        self.signals.stages.get_or_init(|| {
            let names = self.monitor().names();
            describe_histogram(
                &names.stage_duration_seconds,
                Some(Unit::Seconds),
                names::help::STAGE_DURATION,
            );
            Stage::ALL.map(|stage| {
                histogram(
                    &names.stage_duration_seconds,
                    vec![
                        self.model_label(),
                        Label::new(names::LABEL_STAGE, stage.as_str()),
                    ],
                )
            })
        })
    }

    fn batch(&self) -> &Histogram {
        self.signals.batch.get_or_init(|| {
            let names = self.monitor().names();
            describe_histogram(
                &names.batch_size,
                Some(Unit::Count),
                names::help::BATCH_SIZE,
            );
            histogram(&names.batch_size, vec![self.model_label()])
        })
    }

    fn confidence(&self) -> &Histogram {
        self.signals.confidence.get_or_init(|| {
            let names = self.monitor().names();
            describe_histogram(
                &names.prediction_confidence,
                None,
                names::help::PREDICTION_CONFIDENCE,
            );
            histogram(&names.prediction_confidence, vec![self.model_label()])
        })
    }

    /// Registers the declared signals at zero.
    pub(crate) fn declare(&self, signal: Signal) {
        contain(|| match signal {
            Signal::Stages => drop(self.stages()),
            Signal::BatchSize => drop(self.batch()),
            Signal::Confidence => drop(self.confidence()),
        });
    }

    #[inline]
    pub(crate) fn record_stage(&self, stage: Stage, took: Duration) {
        let seconds = took.as_secs_f64();
        contain(|| self.stages()[stage.index()].record(seconds));
    }

    #[inline]
    pub(crate) fn record_batch_size(&self, size: usize) {
        #[allow(clippy::cast_precision_loss)] // exact up to 2^53 predictions
        let size = size as f64;
        contain(|| self.batch().record(size));
    }

    #[inline]
    pub(crate) fn record_confidence(&self, confidence: f64) {
        if (0.0..=1.0).contains(&confidence) {
            contain(|| self.confidence().record(confidence));
        }
    }

    /// Counts one prediction of `label` now (through the label limiter).
    #[inline]
    pub(crate) fn count_prediction(&self, label: &str) {
        contain(|| {
            if let Some(counter) = self.labels().entry(self.label_index(label)) {
                counter.increment(1);
            }
        });
    }

    /// Counts every label of a batch and records its size.
    pub(crate) fn predicted_batch<'a>(&self, labels: impl IntoIterator<Item = &'a str>) -> usize {
        let mut size = 0;
        for label in labels {
            self.count_prediction(label);
            size += 1;
        }
        self.record_batch_size(size);
        size
    }
}

/// One model's opt-in handles, each registered on first use.
#[derive(Default)]
pub(crate) struct ModelSignals {
    stages: OnceLock<[Histogram; 4]>,
    batch: OnceLock<Histogram>,
    confidence: OnceLock<Histogram>,
    pub(crate) load: OnceLock<Gauge>,
    /// The info series registered so far (their label pairs), and which one is current.
    pub(crate) info: Mutex<InfoSeries>,
}

/// The `inference_model_info` series of one model.
#[derive(Default)]
pub(crate) struct InfoSeries {
    /// Each series' label pairs and gauge.
    pub(crate) series: Vec<(Vec<(String, String)>, Gauge)>,
    /// The index of the series at 1.
    pub(crate) current: Option<usize>,
}

/// One model's streaming handles, registered the first time a streamed response of the model
/// is seen (with the recorder current then).
pub(crate) struct StreamHandles {
    pub(crate) time_to_first_token: Histogram,
    pub(crate) time_per_output_token: Histogram,
    pub(crate) input: Counter,
    pub(crate) output: Counter,
    pub(crate) clock: Clock,
}

impl StreamHandles {
    fn register(names: &MetricNames, model: &SharedString) -> Self {
        describe_histogram(
            &names.time_to_first_token_seconds,
            Some(Unit::Seconds),
            names::help::TIME_TO_FIRST_TOKEN,
        );
        describe_histogram(
            &names.time_per_output_token_seconds,
            Some(Unit::Seconds),
            names::help::TIME_PER_OUTPUT_TOKEN,
        );
        describe_counter(
            &names.tokens_total,
            Some(Unit::Count),
            names::help::TOKENS_TOTAL,
        );
        let model_label = || Label::new(names::LABEL_MODEL, model.clone());
        let tokens = |kind: &'static str| {
            counter(
                &names.tokens_total,
                vec![model_label(), Label::new(names::LABEL_TOKEN_TYPE, kind)],
            )
        };
        Self {
            time_to_first_token: histogram(&names.time_to_first_token_seconds, vec![model_label()]),
            time_per_output_token: histogram(
                &names.time_per_output_token_seconds,
                vec![model_label()],
            ),
            input: tokens("input"),
            output: tokens("output"),
            clock: Clock::get(),
        }
    }
}
