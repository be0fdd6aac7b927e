// Tests of the live dashboard's logic (assets/dashboard/core.js) under node, run by
// tests/suite/dashboard_core.rs: `node tests/dashboard/core.test.js assets/dashboard/core.js`.
"use strict";
const assert = require("node:assert/strict");
const path = require("node:path");

const core = require(path.resolve(process.argv[2]));
const NAMES = {
  requests: "inference_requests_total",
  latency: "inference_request_latency_seconds",
  predictions: "inference_predictions_total",
  inProgress: "inference_inprogress_requests",
};

const tests = [];
const test = (name, body) => tests.push([name, body]);

test("parses names, labels, values and skips comments", () => {
  const page = core.parseText(
    [
      "# HELP inference_requests_total Finished requests.",
      "# TYPE inference_requests_total counter",
      'inference_requests_total{model="loan",outcome="success"} 7',
      "process_start_time_seconds 1.7e9",
      'x{le="+Inf"} +Inf',
      "y NaN",
      "z -Inf 1700000000000",
      "",
    ].join("\n"),
  );
  assert.equal(page.skipped, 0);
  assert.equal(page.samples.length, 5);
  assert.deepEqual({ ...page.samples[0].labels }, { model: "loan", outcome: "success" });
  assert.equal(page.samples[0].value, 7);
  assert.equal(page.samples[0].key, 'inference_requests_total{model="loan",outcome="success"}');
  assert.equal(page.samples[1].value, 1.7e9);
  assert.equal(page.samples[2].labels.le, "+Inf");
  assert.equal(page.samples[2].value, Infinity);
  assert.ok(Number.isNaN(page.samples[3].value));
  assert.equal(page.samples[4].value, -Infinity);
});

test("unescapes label values: backslash, quote, newline", () => {
  const s = core.parseLine(
    String.raw`m{label="a\\b",q="say \"hi\"",n="one\ntwo",brace="}{,=",u="\x"} 1`,
  );
  assert.equal(s.labels.label, "a\\b");
  assert.equal(s.labels.q, 'say "hi"');
  assert.equal(s.labels.n, "one\ntwo");
  assert.equal(s.labels.brace, "}{,=");
  assert.equal(s.labels.u, "\\x");
  assert.equal(s.value, 1);
});

test("rejects what is not a sample", () => {
  for (const bad of [
    'm{label="unterminated} 1',
    'm{label=unquoted} 1',
    "m{} notanumber",
    "9bad 1",
    'm{label="x"',
    'm{label="trailing\\',
    "m",
  ]) {
    assert.equal(core.parseLine(bad), null, bad);
  }
  assert.equal(core.parseText("m 1\nbad line here\nn 2\n").skipped, 1);
  // CRLF line ends are fine.
  assert.equal(core.parseText("m 1\r\nn 2\r\n").samples[1].value, 2);
});

test("histogram quantile interpolates like Prometheus", () => {
  const buckets = [
    [0.1, 2],
    [0.5, 6],
    [1, 8],
    [Infinity, 10],
  ];
  // rank 5 falls in (0.1, 0.5]: 0.1 + 0.4 * (3 / 4)
  assert.equal(core.histogramQuantile(0.5, buckets), 0.1 + (0.5 - 0.1) * (3 / 4));
  // rank 1 in the first bucket: 0 + 0.1 * (1 / 2)
  assert.equal(core.histogramQuantile(0.1, buckets), 0.05);
  // rank 9.5 in the +Inf bucket: the highest finite bound
  assert.equal(core.histogramQuantile(0.95, buckets), 1);
  // order does not matter; a non-monotone count is lifted
  assert.equal(core.histogramQuantile(0.5, [[Infinity, 10], [0.5, 6], [0.1, 2], [1, 5]]), 0.1 + 0.4 * (3 / 4));
  assert.ok(Number.isNaN(core.histogramQuantile(0.5, [[0.1, 0], [Infinity, 0]])));
  assert.ok(Number.isNaN(core.histogramQuantile(0.5, [[0.1, 1], [1, 2]])), "no +Inf bucket");
  assert.equal(core.histogramQuantile(1.5, buckets), Infinity);
  assert.equal(core.histogramQuantile(-1, buckets), -Infinity);
});

/// A page with `success`/`client_error` counts, one latency histogram and label counts.
function page(model, ok, bad, labels, buckets, inProgress = 0) {
  const lines = [
    `inference_requests_total{model="${model}",outcome="success"} ${ok}`,
    `inference_requests_total{model="${model}",outcome="client_error"} ${bad}`,
    `inference_inprogress_requests{model="${model}"} ${inProgress}`,
  ];
  for (const [label, n] of Object.entries(labels)) {
    lines.push(`inference_predictions_total{model="${model}",label="${label}"} ${n}`);
  }
  for (const [le, n] of buckets) {
    lines.push(`inference_request_latency_seconds_bucket{model="${model}",outcome="success",le="${le}"} ${n}`);
  }
  return core.parseText(lines.join("\n")).samples;
}

test("since-start numbers are the page's own", () => {
  const t = new core.Tracker(NAMES, 300000);
  t.observe(1000, page("loan", 6, 3, { approved: 4, rejected: 2 }, [["0.1", 4], ["1", 6], ["+Inf", 6]], 2));
  const now = t.current("loan");
  assert.equal(now.total, 9);
  assert.equal(now.outcomes.success, 6);
  assert.equal(now.outcomes.client_error, 3);
  assert.equal(now.errorRatio, 3 / 9);
  assert.equal(now.inProgress, 2);
  assert.equal(now.predictions, 6);
  assert.deepEqual(now.shares.map((s) => [s.label, s.count, s.share]), [
    ["approved", 4, 4 / 6],
    ["rejected", 2, 2 / 6],
  ]);
  assert.equal(now.p50, 0.1 * (3 / 4));
  assert.equal(core.formatPercent(now.errorRatio), "33.3%");
  assert.equal(t.current("other"), null);
});

test("rates over the window; a counter reset never gives a negative rate", () => {
  const t = new core.Tracker(NAMES, 300000);
  const b = (n) => [["0.1", n], ["+Inf", n]];
  t.observe(0, page("loan", 10, 0, { a: 10 }, b(10)));
  t.observe(1000, page("loan", 20, 0, { a: 20 }, b(20)));
  // The process restarted: the counters start again from 3.
  t.observe(2000, page("loan", 3, 1, { a: 3 }, b(3)));
  t.observe(3000, page("loan", 5, 1, { a: 5 }, b(5)));
  assert.equal(t.resets, 1);
  assert.equal(t.lastResetAt, 2000);
  const c = t.chart("loan", 1000);
  assert.deepEqual(c.times, [0, 1, 2, 3]);
  assert.deepEqual(c.rates.success, [null, 10, 3, 2]);
  assert.deepEqual(c.rates.client_error, [null, 0, 1, 0]);
  assert.deepEqual(c.errorRatio, [null, 0, 0.25, 0]);
  assert.deepEqual(c.shares.a, [null, 1, 1, 1]);
  assert.deepEqual(c.p50, [null, 0.05, 0.05, 0.05]);
  for (const series of Object.values(c.rates)) {
    for (const v of series) assert.ok(v === null || v >= 0, String(v));
  }
  // The since-start totals follow the new process.
  assert.equal(t.current("loan").total, 6);
  // Over a 3 s window the increase is 10 + 3 + 2 (+1 client error), not 5 - 10.
  assert.deepEqual(t.chart("loan", 3000).rates.success.slice(-1), [(10 + 3 + 2) / 3]);
});

test("a series that disappears and comes back counts from zero", () => {
  const t = new core.Tracker(NAMES, 300000);
  t.observe(0, page("loan", 4, 0, { a: 4, b: 2 }, []));
  t.observe(1000, page("loan", 5, 0, { a: 5 }, []));
  t.observe(2000, page("loan", 6, 0, { a: 6, b: 1 }, []));
  const c = t.chart("loan", 1000);
  assert.deepEqual(c.shares.b, [null, 0, 0.5]);
  assert.equal(t.resets, 1);
});

test("an unreadable page is a gap: no rate across it, data again after it", () => {
  const t = new core.Tracker(NAMES, 300000);
  t.observe(0, page("loan", 1, 0, {}, []));
  t.gap(1000);
  t.gap(2000);
  t.observe(3000, page("loan", 9, 0, {}, []));
  t.observe(4000, page("loan", 11, 0, {}, []));
  const c = t.chart("loan", 10000);
  assert.deepEqual(c.times, [0, 1, 3, 4]);
  assert.deepEqual(c.rates.success, [null, null, null, 2]);
  assert.equal(t.current("loan").total, 11);
});

test("history is trimmed", () => {
  const t = new core.Tracker(NAMES, 5000);
  for (let i = 0; i <= 20; i++) t.observe(i * 1000, page("loan", i, 0, {}, []));
  assert.deepEqual(t.snapshots.map((s) => s.t), [15000, 16000, 17000, 18000, 19000, 20000]);
  // Only the latest page keeps its raw values; the others keep what the charts need.
  assert.deepEqual(t.snapshots.map((s) => s.models.get("loan").raw === null), [true, true, true, true, true, false]);
  assert.equal(t.current("loan").total, 20);
  assert.deepEqual(t.chart("loan", 1000).rates.success, [null, 1, 1, 1, 1, 1]);
});

test("hundreds of series: every model and label is kept apart", () => {
  const lines = [];
  for (let m = 0; m < 150; m++) {
    lines.push(`inference_requests_total{model="m${m}",outcome="success"} ${m}`);
  }
  for (let l = 0; l < 300; l++) {
    lines.push(`inference_predictions_total{model="m7",label="l${l}"} 2`);
  }
  const t = new core.Tracker(NAMES, 300000);
  t.observe(0, core.parseText(lines.join("\n")).samples);
  assert.equal(t.models().length, 150);
  assert.equal(t.current("m149").total, 149);
  const shares = t.current("m7").shares;
  assert.equal(shares.length, 300);
  assert.ok(shares.every((s) => s.share === 1 / 300));
});

test("outcomes in display order, formats", () => {
  assert.deepEqual(core.orderOutcomes(["zzz", "cancelled", "success", "abc", "server_error"]), [
    "success",
    "server_error",
    "cancelled",
    "abc",
    "zzz",
  ]);
  assert.equal(core.formatSeconds(0.00025), "250 µs");
  assert.equal(core.formatSeconds(0.0123), "12.3 ms");
  assert.equal(core.formatSeconds(2.5), "2.50 s");
  assert.equal(core.formatSeconds(0), "0");
  assert.equal(core.formatSeconds(NaN), "–");
  assert.equal(core.formatPercent(2 / 3), "66.7%");
  assert.equal(core.formatPercent(null), "–");
});

let failed = 0;
for (const [name, body] of tests) {
  try {
    body();
    console.log("ok - " + name);
  } catch (error) {
    failed++;
    console.log("FAILED - " + name + "\n" + (error.stack || error));
  }
}
console.log(`${tests.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
