// The live dashboard's logic, without the DOM: the Prometheus text-format parser, counters
// made monotone across resets, windowed increases and histogram quantiles. The page loads it as
// `InferenceDashboardCore`; tests/dashboard_core.rs runs tests/dashboard/core.test.js on it
// with node.
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.InferenceDashboardCore = api;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

  /// A sample value of the text format: a float, `+Inf`, `-Inf` or `NaN`; `undefined` for
  /// anything else.
  function parseValue(text) {
    switch (text) {
      case "+Inf":
      case "Inf":
        return Infinity;
      case "-Inf":
        return -Infinity;
      case "NaN":
        return NaN;
      default:
        return NUMBER.test(text) ? Number(text) : undefined;
    }
  }

  /// One sample line: `{ key, name, labels, value }`, where `key` is the series as written
  /// (name and labels), or `null` for a line that is not a valid sample. Label values are
  /// unescaped (`\\`, `\"`, `\n`); an unknown escape is kept as written.
  function parseLine(line) {
    const n = line.length;
    let i = 0;
    while (i < n && line[i] !== "{" && line[i] !== " " && line[i] !== "\t") i++;
    const name = line.slice(0, i);
    if (!METRIC_NAME.test(name)) return null;
    const labels = Object.create(null);
    if (line[i] === "{") {
      i++;
      for (;;) {
        while (i < n && (line[i] === " " || line[i] === ",")) i++;
        if (i >= n) return null;
        if (line[i] === "}") {
          i++;
          break;
        }
        const keyStart = i;
        while (i < n && line[i] !== "=") i++;
        const key = line.slice(keyStart, i).trim();
        if (i >= n || !LABEL_NAME.test(key)) return null;
        i++;
        while (i < n && line[i] === " ") i++;
        if (line[i] !== '"') return null;
        i++;
        let value = "";
        for (;;) {
          if (i >= n) return null;
          const c = line[i];
          if (c === "\\") {
            const e = line[i + 1];
            if (e === "n") value += "\n";
            else if (e === "\\") value += "\\";
            else if (e === '"') value += '"';
            else if (e === undefined) return null;
            else value += "\\" + e;
            i += 2;
          } else if (c === '"') {
            i++;
            break;
          } else {
            value += c;
            i++;
          }
        }
        labels[key] = value;
      }
    }
    const key = line.slice(0, i);
    const fields = line.slice(i).trim().split(/\s+/);
    const value = parseValue(fields[0]);
    if (value === undefined) return null;
    return { key, name, labels, value };
  }

  /// A whole `/metrics` page: `{ samples, skipped }`, `skipped` counting the lines that are
  /// neither comments, blank nor valid samples.
  function parseText(text) {
    const samples = [];
    let skipped = 0;
    for (const raw of text.split("\n")) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line.trim() === "" || line.startsWith("#")) continue;
      const sample = parseLine(line);
      if (sample) samples.push(sample);
      else skipped++;
    }
    return { samples, skipped };
  }

  /// The `q` quantile of a histogram given as cumulative buckets `[[le, count], ...]`, the way
  /// Prometheus' `histogram_quantile` computes it (linear interpolation inside the bucket; the
  /// highest finite bound when the rank falls in the `+Inf` bucket). `NaN` without
  /// observations or without a `+Inf` bucket.
  function histogramQuantile(q, buckets) {
    if (q < 0) return -Infinity;
    if (q > 1) return Infinity;
    const sorted = buckets
      .filter((b) => !Number.isNaN(b[0]))
      .slice()
      .sort((a, b) => a[0] - b[0]);
    if (sorted.length < 2 || sorted[sorted.length - 1][0] !== Infinity) return NaN;
    // Counts read at slightly different moments can dip; a cumulative count never does.
    let max = -Infinity;
    const counts = sorted.map((b) => (max = Math.max(max, b[1])));
    const observations = counts[counts.length - 1];
    if (!(observations > 0)) return NaN;
    let rank = q * observations;
    let b = 0;
    while (b < counts.length - 1 && counts[b] < rank) b++;
    if (b === counts.length - 1) return sorted[counts.length - 2][0];
    if (b === 0 && sorted[0][0] <= 0) return sorted[0][0];
    let start = 0;
    const end = sorted[b][0];
    let count = counts[b];
    if (b > 0) {
      start = sorted[b - 1][0];
      count -= counts[b - 1];
      rank -= counts[b - 1];
    }
    return start + (end - start) * (rank / count);
  }

  const OUTCOME_ORDER = ["success", "client_error", "server_error", "cancelled"];

  /// Outcomes in display order: the four known ones first, then any other, sorted.
  function orderOutcomes(outcomes) {
    const known = OUTCOME_ORDER.filter((o) => outcomes.includes(o));
    const other = outcomes.filter((o) => !OUTCOME_ORDER.includes(o)).sort();
    return known.concat(other);
  }

  function sumValues(object) {
    let sum = 0;
    for (const k in object) sum += object[k];
    return sum;
  }

  function newModel() {
    return {
      outcomes: Object.create(null), // outcome -> value
      buckets: new Map(), // le -> cumulative count, summed over outcomes
      labels: Object.create(null), // predicted label -> value
      inProgress: 0,
    };
  }

  function add(object, key, value) {
    object[key] = (object[key] || 0) + value;
  }

  /// Follows one `/metrics` page after another.
  ///
  /// Each page becomes a snapshot per model with two views of every counter: `raw`, the values
  /// as the page shows them (the "since start" numbers), and `mono`, the same counters made
  /// monotone: a counter that goes down was reset (the process restarted), and its new value
  /// is an increase, as Prometheus' `rate` counts it. Increases over a window are differences
  /// of `mono` values, so they are never negative.
  class Tracker {
    /// `names`: `{ requests, latency, predictions, inProgress }` metric names;
    /// `historyMs`: how much history to keep.
    constructor(names, historyMs) {
      this.names = names;
      this.historyMs = historyMs;
      this.series = new Map(); // series key -> { last, mono }
      // { t, models: Map(model -> { raw, mono, inProgress }) | null for a gap }; `raw` is kept
      // on the latest page with data only (the charts need `mono` and `inProgress`).
      this.snapshots = [];
      this.lastData = null;
      this.resets = 0;
      this.lastResetAt = null;
    }

    /// The monotone value of series `key` now that it reads `value`; sets `this.reset` when
    /// it went down. `target` says where the series adds up: `[model, field, key]`.
    monotone(key, value, seen, target) {
      seen.add(key);
      let entry = this.series.get(key);
      if (!entry) {
        entry = { last: 0, mono: 0, target };
        this.series.set(key, entry);
      }
      if (value < entry.last) {
        entry.mono += value;
        this.reset = true;
      } else {
        entry.mono += value - entry.last;
      }
      entry.last = value;
      return entry.mono;
    }

    /// Takes in the parsed `samples` of a page read at time `t` (milliseconds).
    observe(t, samples) {
      const n = this.names;
      const bucketName = n.latency + "_bucket";
      const models = new Map();
      const model = (name) => {
        let m = models.get(name);
        if (!m) {
          m = { raw: newModel(), mono: newModel(), inProgress: 0 };
          models.set(name, m);
        }
        return m;
      };
      const seen = new Set();
      this.reset = false;
      for (const s of samples) {
        const name = s.labels.model;
        if (name === undefined || !Number.isFinite(s.value)) continue;
        if (s.name === n.requests) {
          const outcome = s.labels.outcome ?? "unknown";
          const m = model(name);
          add(m.raw.outcomes, outcome, s.value);
          add(m.mono.outcomes, outcome, this.monotone(s.key, s.value, seen, [name, "outcomes", outcome]));
        } else if (s.name === bucketName) {
          const le = parseValue(s.labels.le ?? "");
          if (le === undefined || Number.isNaN(le)) continue;
          const m = model(name);
          m.raw.buckets.set(le, (m.raw.buckets.get(le) || 0) + s.value);
          const mono = this.monotone(s.key, s.value, seen, [name, "buckets", le]);
          m.mono.buckets.set(le, (m.mono.buckets.get(le) || 0) + mono);
        } else if (s.name === n.predictions) {
          const label = s.labels.label ?? "unknown";
          const m = model(name);
          add(m.raw.labels, label, s.value);
          add(m.mono.labels, label, this.monotone(s.key, s.value, seen, [name, "labels", label]));
        } else if (s.name === n.inProgress) {
          const m = model(name);
          m.raw.inProgress += s.value;
          m.inProgress += s.value;
        }
      }
      // A series missing from this page (a restarted process that has not seen it yet)
      // counts from zero when it comes back; meanwhile its monotone count stays in its
      // model's sums, so increases across its absence are not negative.
      for (const [key, entry] of this.series) {
        if (seen.has(key)) continue;
        if (entry.last > 0) this.reset = true;
        entry.last = 0;
        const [name, field, sub] = entry.target;
        const m = models.get(name);
        if (!m) continue;
        if (field === "buckets") m.mono.buckets.set(sub, (m.mono.buckets.get(sub) || 0) + entry.mono);
        else add(m.mono[field], sub, entry.mono);
      }
      if (this.reset && this.snapshots.length > 0) {
        this.resets++;
        this.lastResetAt = t;
      }
      if (this.lastData) {
        for (const m of this.lastData.models.values()) m.raw = null;
      }
      this.lastData = { t, models };
      this.snapshots.push(this.lastData);
      this.trim(t);
    }

    /// Records that the page could not be read at time `t`: the charts show a gap.
    gap(t) {
      const last = this.snapshots[this.snapshots.length - 1];
      if (last && last.models !== null) this.snapshots.push({ t, models: null });
      this.trim(t);
    }

    trim(t) {
      const oldest = t - this.historyMs;
      let drop = 0;
      while (drop < this.snapshots.length - 1 && this.snapshots[drop].t < oldest) drop++;
      if (drop > 0) this.snapshots.splice(0, drop);
    }

    /// The models of the latest page, sorted.
    models() {
      const latest = this.latest();
      return latest ? [...latest.models.keys()].sort() : [];
    }

    /// The latest snapshot that has data, or `null`.
    latest() {
      return this.lastData;
    }

    /// The "since start" numbers of `model` on the latest page, or `null` when that page does
    /// not have the model.
    current(model) {
      const latest = this.latest();
      const m = latest && latest.models.get(model);
      if (!m) return null;
      const raw = m.raw;
      const total = sumValues(raw.outcomes);
      const errors = (raw.outcomes.client_error || 0) + (raw.outcomes.server_error || 0);
      const predictions = sumValues(raw.labels);
      const buckets = [...raw.buckets];
      const shares = Object.keys(raw.labels)
        .sort()
        .map((label) => ({
          label,
          count: raw.labels[label],
          share: predictions > 0 ? raw.labels[label] / predictions : NaN,
        }));
      return {
        total,
        outcomes: raw.outcomes,
        errorRatio: total > 0 ? errors / total : NaN,
        inProgress: raw.inProgress,
        p50: histogramQuantile(0.5, buckets),
        p95: histogramQuantile(0.95, buckets),
        p99: histogramQuantile(0.99, buckets),
        predictions,
        shares,
      };
    }

    /// Chart data for `model` over the kept history, each point computed from the increases
    /// over the `windowMs` before it: `{ times (seconds), outcomes, rates{outcome: []},
    /// errorRatio[], p50[], p95[], p99[], inProgress[], labels, shares{label: []} }`. A point
    /// without data (a gap, no earlier page in the window, no requests) is `null`.
    chart(model, windowMs) {
      const outcomeSet = new Set();
      const labelSet = new Set();
      for (const s of this.snapshots) {
        const m = s.models && s.models.get(model);
        if (!m) continue;
        for (const o in m.mono.outcomes) outcomeSet.add(o);
        for (const l in m.mono.labels) labelSet.add(l);
      }
      const outcomes = orderOutcomes([...outcomeSet]);
      const labels = [...labelSet].sort();
      const out = {
        times: [],
        outcomes,
        rates: Object.fromEntries(outcomes.map((o) => [o, []])),
        errorRatio: [],
        p50: [],
        p95: [],
        p99: [],
        inProgress: [],
        labels,
        shares: Object.fromEntries(labels.map((l) => [l, []])),
      };
      const snaps = this.snapshots;
      let j = 0; // the earliest snapshot inside the window of snapshot i
      for (let i = 0; i < snaps.length; i++) {
        const s = snaps[i];
        out.times.push(s.t / 1000);
        while (j < i && snaps[j].t < s.t - windowMs) j++;
        const now = s.models && s.models.get(model);
        // The base: the earliest page with data in the window, not across a gap.
        let base = null;
        for (let k = i - 1; k >= j; k--) {
          if (snaps[k].models === null) break;
          base = snaps[k];
        }
        const then = base && base.models.get(model);
        if (!now) {
          for (const o of outcomes) out.rates[o].push(null);
          for (const l of labels) out.shares[l].push(null);
          out.errorRatio.push(null);
          out.p50.push(null);
          out.p95.push(null);
          out.p99.push(null);
          out.inProgress.push(null);
          continue;
        }
        out.inProgress.push(now.inProgress);
        if (!base) {
          for (const o of outcomes) out.rates[o].push(null);
          for (const l of labels) out.shares[l].push(null);
          out.errorRatio.push(null);
          out.p50.push(null);
          out.p95.push(null);
          out.p99.push(null);
          continue;
        }
        const seconds = (s.t - base.t) / 1000;
        const inc = (field, key) =>
          (now.mono[field][key] || 0) - ((then && then.mono[field][key]) || 0);
        let total = 0;
        for (const o of outcomes) {
          const d = inc("outcomes", o);
          total += d;
          out.rates[o].push(d / seconds);
        }
        const errors = inc("outcomes", "client_error") + inc("outcomes", "server_error");
        out.errorRatio.push(total > 0 ? errors / total : null);
        const buckets = [...now.mono.buckets].map(([le, c]) => [
          le,
          c - ((then && then.mono.buckets.get(le)) || 0),
        ]);
        for (const [q, series] of [
          [0.5, out.p50],
          [0.95, out.p95],
          [0.99, out.p99],
        ]) {
          const v = histogramQuantile(q, buckets);
          series.push(Number.isFinite(v) ? v : null);
        }
        let predictions = 0;
        const incs = labels.map((l) => {
          const d = inc("labels", l);
          predictions += d;
          return d;
        });
        labels.forEach((l, k) => out.shares[l].push(predictions > 0 ? incs[k] / predictions : null));
      }
      return out;
    }
  }

  /// A duration in seconds as text: microseconds, milliseconds or seconds, 3 significant
  /// digits; `–` for no value.
  function formatSeconds(s) {
    if (s === null || !Number.isFinite(s)) return "–";
    if (s === 0) return "0";
    if (s < 1e-3) return (s * 1e6).toPrecision(3) + " µs";
    if (s < 1) return (s * 1e3).toPrecision(3) + " ms";
    return s.toPrecision(3) + " s";
  }

  /// A ratio as a percentage with one decimal; `–` for no value.
  function formatPercent(r) {
    if (r === null || !Number.isFinite(r)) return "–";
    return (r * 100).toFixed(1) + "%";
  }

  return {
    parseValue,
    parseLine,
    parseText,
    histogramQuantile,
    orderOutcomes,
    Tracker,
    formatSeconds,
    formatPercent,
  };
});
