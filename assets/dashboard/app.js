// The live dashboard's page: polls the same-origin metrics endpoint, feeds the Tracker
// (core.js) and draws the cards, the table and the uPlot charts. Every value read from the
// metrics reaches the page through `textContent` or `setAttribute`, never as markup.
(function () {
  "use strict";
  const core = window.InferenceDashboardCore;
  const body = document.body;
  const config = {
    metricsPath: body.dataset.metricsPath,
    refreshMs: Number(body.dataset.refreshMs),
    historyMs: Number(body.dataset.historyMs),
    windowMs: Number(body.dataset.windowMs),
    names: {
      requests: body.dataset.requests,
      latency: body.dataset.latency,
      predictions: body.dataset.predictions,
      inProgress: body.dataset.inProgress,
    },
  };
  const TOKEN_KEY = "inference-monitor-dashboard-token:" + config.metricsPath;
  const COLORS = {
    success: "#2f9e44",
    client_error: "#e8890c",
    server_error: "#d9480f",
    cancelled: "#868e96",
  };
  const PALETTE = ["#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#c2255c", "#0c8599",
    "#5c940d", "#f08c00", "#3b5bdb", "#862e9c"];
  // The share chart draws this many labels (the most frequent); the table lists them all.
  const MAX_SHARE_LINES = 10;

  const $ = (id) => document.getElementById(id);
  const byTestId = (id) => document.querySelector('[data-testid="' + id + '"]');

  // A token given as `#token=...` (the fragment never reaches the server) is kept for this tab
  // and removed from the address bar.
  (function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, "", location.pathname + location.search);
    }
  })();

  const tracker = new core.Tracker(config.names, config.historyMs + config.windowMs);
  let selected = new URLSearchParams(location.search).get("model");
  let charts = {}; // id -> { plot, signature }

  $("source").textContent = config.metricsPath;
  $("refresh").textContent = config.refreshMs / 1000 + " s";
  $("history").textContent = Math.round(config.historyMs / 60000) + " minutes";
  $("window").textContent = config.windowMs / 1000 + " s";

  function setStatus(state, text) {
    const status = $("status");
    status.dataset.state = state;
    status.textContent = text;
    body.classList.toggle("stale", state !== "live");
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    poll();
  });

  $("model").addEventListener("change", (event) => {
    selected = event.target.value;
    const url = new URL(location.href);
    url.searchParams.set("model", selected);
    history.replaceState(null, "", url.pathname + url.search);
    render();
  });

  async function fetchMetrics() {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(5000, config.refreshMs));
    try {
      const response = await fetch(config.metricsPath, {
        headers,
        cache: "no-store",
        credentials: "same-origin",
        signal: abort.signal,
      });
      return { status: response.status, text: response.ok ? await response.text() : "" };
    } finally {
      clearTimeout(timer);
    }
  }

  async function poll() {
    clearTimeout(poll.timer);
    const t = Date.now();
    try {
      const answer = await fetchMetrics();
      if (answer.status === 401 || answer.status === 403) {
        tracker.gap(t);
        $("token-form").hidden = false;
        const had = sessionStorage.getItem(TOKEN_KEY);
        setStatus("unauthorized", had
          ? "no data: the token was refused (" + answer.status + "); enter the right one"
          : "no data: " + config.metricsPath + " wants a bearer token; enter it below");
      } else if (answer.status !== 200) {
        tracker.gap(t);
        setStatus("no-data", "no data: " + config.metricsPath + " answered " + answer.status + "; retrying");
      } else {
        $("token-form").hidden = true;
        const page = core.parseText(answer.text);
        tracker.observe(t, page.samples);
        if (tracker.models().length === 0) {
          setStatus("no-data", "no data: no inference metrics in " + config.metricsPath + " yet");
        } else {
          setStatus("live", "live · updated " + new Date(t).toLocaleTimeString());
        }
      }
    } catch (error) {
      tracker.gap(t);
      setStatus("no-data", "no data: " + config.metricsPath + " is unreachable; retrying");
    }
    render();
    poll.timer = setTimeout(poll, config.refreshMs);
  }

  function renderModels(models) {
    if (models.length > 0 && !models.includes(selected)) selected = models[0];
    const select = $("model");
    const options = [...select.options].map((o) => o.value);
    if (options.join("\n") !== models.join("\n")) {
      select.replaceChildren(...models.map((m) => {
        const option = document.createElement("option");
        option.value = m;
        option.textContent = m;
        return option;
      }));
    }
    if (selected !== null) select.value = selected;
    $("model-picker").hidden = models.length < 2;
    $("model-name").textContent = models.length === 1 ? "model: " + selected : "";
  }

  function renderCards(now) {
    const set = (id, text) => (byTestId(id).textContent = text);
    const count = (v) => (v === undefined ? "0" : String(v));
    if (!now) {
      for (const id of ["total-requests", "success", "client-error", "server-error", "cancelled",
        "error-ratio", "in-progress", "p50", "p95", "p99"]) set(id, "–");
      return;
    }
    set("total-requests", String(now.total));
    set("success", count(now.outcomes.success));
    set("client-error", count(now.outcomes.client_error));
    set("server-error", count(now.outcomes.server_error));
    set("cancelled", count(now.outcomes.cancelled));
    set("error-ratio", core.formatPercent(now.errorRatio));
    set("in-progress", String(now.inProgress));
    for (const q of ["p50", "p95", "p99"]) {
      const element = byTestId(q);
      element.textContent = core.formatSeconds(now[q]);
      element.dataset.value = String(now[q]);
    }
  }

  function renderShares(now) {
    const rows = (now ? now.shares : []).map((s) => {
      const row = document.createElement("tr");
      const label = document.createElement("td");
      label.className = "label";
      label.textContent = s.label;
      const count = document.createElement("td");
      count.className = "n";
      count.textContent = String(s.count);
      count.setAttribute("data-testid", "count-" + s.label);
      const share = document.createElement("td");
      share.className = "n";
      share.textContent = core.formatPercent(s.share);
      share.setAttribute("data-testid", "share-" + s.label);
      row.append(label, count, share);
      return row;
    });
    $("shares").replaceChildren(...rows);
  }

  function chartWidth(element) {
    return Math.max(300, element.clientWidth || 560);
  }

  /// Draws (or updates) chart `id` with `series` ([{ label, values, color }]); recreated when
  /// the set of series changes.
  function draw(id, series, times, yFormat, yRange, yMinTop) {
    const element = $(id);
    const signature = series.map((s) => s.label).join("\u0000");
    const data = [times, ...series.map((s) => s.values)];
    const existing = charts[id];
    if (existing && existing.signature === signature) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    const options = {
      width: chartWidth(element),
      height: 160,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: yRange || ((u, min, max) => [0, Math.max(max || 0, yMinTop || 1) * 1.1]) } },
      axes: [{}, { values: (u, ticks) => ticks.map(yFormat), size: 70 }],
      series: [{}, ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? "–" : yFormat(v)),
      }))],
    };
    element.replaceChildren();
    charts[id] = { plot: new uPlot(options, data, element), signature };
  }

  const rateFormat = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(2).replace(/\.?0+$/, "")) ;
  const percentFormat = (v) => (v * 100).toFixed(0) + "%";
  const secondsFormat = (v) => core.formatSeconds(v);
  const countFormat = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

  function renderCharts(model) {
    const c = tracker.chart(model, config.windowMs);
    draw("chart-rate", c.outcomes.map((o, i) => ({
      label: o, values: c.rates[o], color: COLORS[o] || PALETTE[i % PALETTE.length],
    })), c.times, rateFormat);
    draw("chart-errors", [{ label: "error ratio", values: c.errorRatio, color: COLORS.server_error }],
      c.times, percentFormat, [0, 1]);
    draw("chart-latency", [
      { label: "p50", values: c.p50, color: PALETTE[0] },
      { label: "p95", values: c.p95, color: PALETTE[1] },
      { label: "p99", values: c.p99, color: PALETTE[3] },
    ], c.times, secondsFormat, null, 1e-3);
    draw("chart-inprogress", [{ label: "in progress", values: c.inProgress, color: PALETTE[5] }],
      c.times, countFormat);
    const now = tracker.current(model);
    const top = (now ? now.shares : [])
      .slice()
      .sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : 1))
      .slice(0, MAX_SHARE_LINES)
      .map((s) => s.label)
      .filter((l) => c.shares[l])
      .sort();
    draw("chart-shares", top.map((l, i) => ({
      label: l, values: c.shares[l], color: PALETTE[i % PALETTE.length],
    })), c.times, percentFormat, [0, 1]);
  }

  function render() {
    const models = tracker.models();
    renderModels(models);
    const now = selected === null ? null : tracker.current(selected);
    renderCards(now);
    renderShares(now);
    if (tracker.resets > 0) {
      const resets = $("resets");
      resets.hidden = false;
      resets.textContent = "counters reset " + tracker.resets + "× (process restarted), last at "
        + new Date(tracker.lastResetAt).toLocaleTimeString();
      resets.dataset.count = String(tracker.resets);
    }
    if (selected !== null) renderCharts(selected);
  }

  window.addEventListener("resize", () => {
    for (const id in charts) {
      const element = $(id);
      charts[id].plot.setSize({ width: chartWidth(element), height: 160 });
    }
  });

  poll();
})();
