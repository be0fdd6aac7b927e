#!/usr/bin/env node
// Checks the Grafana dashboard deploy/grafana/dashboards/inference-monitor.json offline:
//
//   1. structure: unique panel ids, every gridPos inside the 24-column grid, a `type` on every
//      panel, the `${datasource}` data source on every panel and target, a refId and a non-empty
//      expr on every target, the `datasource` and `model` variables;
//   2. PromQL hygiene: no `or vector(0)` (it turns a misspelled metric into a flat zero), only
//      known template variables, and every metric name in the list below;
//   3. Grafana's own schema: the JSON is written into generated/dashboard.ts as a literal typed
//      with `Dashboard` from @grafana/schema and type-checked by `tsc --strict`;
//   4. PromQL syntax: every expression (variables substituted) becomes a recording rule in
//      generated/dashboard_rules.yml, checked by `promtool check rules` when promtool exists.
//
// It also writes generated/dashboard_queries.json ([{panel, title, refId, expr}]) for tests that
// run each query against a live Prometheus.
//
// Usage (from this folder):  npm ci && node check.mjs [path/to/dashboard.json]
// Exit status: 0 when every check passed, 1 otherwise (each problem is printed).
// Environment: PROMTOOL=/path/to/promtool to use another promtool; REQUIRE_PROMTOOL=1 (or
// CI=true) makes a missing promtool an error instead of a skip.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const GENERATED = join(HERE, 'generated');
const DASHBOARD = resolve(process.argv[2] ?? join(HERE, '..', 'dashboards', 'inference-monitor.json'));
const SHOWN = relative(process.cwd(), DASHBOARD).startsWith('..') ? DASHBOARD : relative(process.cwd(), DASHBOARD);

/** The data source every panel and target must use: the dashboard's `datasource` variable. */
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/**
 * Metrics the dashboard may query: what inference-monitor (its four metrics and the opt-in
 * signals), metrics-process and node exporter export, and the series recorded by
 * deploy/prometheus/recording_rules.yml.
 */
const KNOWN_METRICS = new Set([
  'inference_requests_total',
  'inference_request_latency_seconds_bucket',
  'inference_request_latency_seconds_sum',
  'inference_request_latency_seconds_count',
  'inference_predictions_total',
  'inference_inprogress_requests',
  // opt-in signals
  'inference_stage_duration_seconds_bucket',
  'inference_stage_duration_seconds_sum',
  'inference_stage_duration_seconds_count',
  'inference_batch_size_bucket',
  'inference_batch_size_sum',
  'inference_batch_size_count',
  'inference_prediction_confidence_bucket',
  'inference_prediction_confidence_sum',
  'inference_prediction_confidence_count',
  'inference_time_to_first_token_seconds_bucket',
  'inference_time_per_output_token_seconds_bucket',
  'inference_tokens_total',
  'inference_model_info',
  'inference_model_load_duration_seconds',
  // recorded by deploy/prometheus/recording_rules.yml
  'model:inference_predictions:psi_1h_7d',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_open_fds',
  'process_start_time_seconds',
  'node_cpu_seconds_total',
  'node_memory_MemAvailable_bytes',
  'node_memory_MemTotal_bytes',
  'node_filesystem_avail_bytes',
  'node_filesystem_size_bytes',
]);

/**
 * Template variables an expression may use, and the value they get offline (recording rules,
 * the query list): every model, and a one-minute window (four 15 s scrapes).
 */
const SUBSTITUTIONS = [
  ['${model:regex}', '.*'],
  ['${model}', '.*'],
  ['$model', '.*'],
  ['${__rate_interval}', '1m'],
  ['$__rate_interval', '1m'],
  ['${__interval}', '1m'],
  ['$__interval', '1m'],
];

/** PromQL words that look like metric names but are not. */
const PROMQL_KEYWORDS = new Set([
  'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'bool', 'offset', 'inf', 'nan',
]);

const problems = [];
const problem = (where, message) => problems.push(`${where}: ${message}`);
const note = (message) => console.log(message);

// ---------------------------------------------------------------------------------------------
// 1 and 2: structure and PromQL hygiene
// ---------------------------------------------------------------------------------------------

let text;
let dashboard;
try {
  text = readFileSync(DASHBOARD, 'utf8');
} catch (e) {
  console.error(`FAIL: cannot read ${SHOWN}: ${e.message}`);
  process.exit(1);
}
try {
  dashboard = JSON.parse(text);
} catch (e) {
  console.error(`FAIL: ${SHOWN} is not valid JSON: ${e.message}`);
  process.exit(1);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const sameDatasource = (ds) => isObject(ds) && ds.type === DATASOURCE.type && ds.uid === DATASOURCE.uid;
const hasVectorZeroFallback = (expr) => /\bor\s+vector\s*\(\s*0*\.?0*\s*\)/i.test(expr);

/** Replaces the known template variables; returns the result and any variable left over. */
function substitute(expr) {
  let out = expr;
  for (const [from, to] of SUBSTITUTIONS) out = out.split(from).join(to);
  const unknown = out.match(/\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?/g) ?? [];
  return { expr: out, unknown };
}

/** The metric names an expression selects (functions, keywords, labels and numbers removed). */
function metricNames(expr) {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/#[^\n]*/g, ' ') // comments
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery windows
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ') // label lists
    .replace(/(?<![A-Za-z0-9_:.])(?:\d+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_:])/g, ' ') // durations
    .replace(/(?<![A-Za-z0-9_:])(?:0x[0-9a-f]+|\d*\.?\d+(?:e[+-]?\d+)?)/gi, ' '); // numbers
  const names = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    if (PROMQL_KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

if (!isObject(dashboard)) {
  console.error(`FAIL: ${SHOWN}: the top level is not a JSON object`);
  process.exit(1);
}

// Variables.
const variables = Array.isArray(dashboard.templating?.list) ? dashboard.templating.list : [];
const variable = (name) => variables.find((v) => v?.name === name);
const dsVar = variable('datasource');
if (!dsVar) problem('templating', 'no `datasource` variable');
else if (dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') {
  problem('templating.datasource', 'must be `"type": "datasource"` with `"query": "prometheus"`');
}
const modelVar = variable('model');
if (!modelVar) problem('templating', 'no `model` variable');
else {
  const q = typeof modelVar.query === 'string' ? modelVar.query : modelVar.query?.query;
  if (modelVar.type !== 'query') problem('templating.model', 'must be a query variable');
  if (!/^label_values\(\s*inference_requests_total\s*,\s*model\s*\)$/.test(q ?? '')) {
    problem('templating.model', `query ${JSON.stringify(q)} is not label_values(inference_requests_total, model)`);
  }
  if (modelVar.multi !== true || modelVar.includeAll !== true) problem('templating.model', 'must be multi-value with "All"');
  if (!sameDatasource(modelVar.datasource)) problem('templating.model', 'datasource must be {"type":"prometheus","uid":"${datasource}"}');
}
for (const v of variables) {
  const q = typeof v?.query === 'string' ? v.query : '';
  if (hasVectorZeroFallback(q)) problem(`templating.${v?.name}`, 'uses `or vector(0)`');
}

// Panels, rows' nested panels included.
const panels = [];
for (const p of Array.isArray(dashboard.panels) ? dashboard.panels : []) {
  panels.push(p);
  if (Array.isArray(p?.panels)) panels.push(...p.panels);
}
if (panels.length === 0) problem('panels', 'the dashboard has no panels');

const ids = new Map();
const queries = [];
for (const [index, panel] of panels.entries()) {
  const where = `panel ${panel?.id ?? `#${index}`} (${JSON.stringify(panel?.title ?? '')})`;
  if (!isObject(panel)) {
    problem(`panels[${index}]`, 'is not an object');
    continue;
  }
  if (!Number.isInteger(panel.id)) problem(where, 'has no integer `id`');
  else if (ids.has(panel.id)) problem(where, `duplicate id ${panel.id}, already used by ${ids.get(panel.id)}`);
  else ids.set(panel.id, JSON.stringify(panel.title ?? ''));

  const typed = typeof panel.type === 'string' && panel.type !== '';
  if (!typed) problem(where, 'has no `type`');
  if (typeof panel.title !== 'string' || panel.title.trim() === '') problem(where, 'has no `title`');

  const g = panel.gridPos;
  if (!isObject(g) || !['x', 'y', 'w', 'h'].every((k) => Number.isInteger(g[k]))) {
    problem(where, 'gridPos must have integer x, y, w and h');
  } else {
    if (g.x < 0 || g.y < 0) problem(where, `gridPos x=${g.x} y=${g.y} is negative`);
    if (g.w < 1 || g.h < 1) problem(where, `gridPos w=${g.w} h=${g.h} must be at least 1`);
    if (g.x + g.w > 24) problem(where, `gridPos x + w = ${g.x} + ${g.w} = ${g.x + g.w} > 24 (the grid is 24 columns wide)`);
  }

  if (!typed) continue;
  if (panel.type === 'row') {
    if (Array.isArray(panel.targets) && panel.targets.length > 0) problem(where, 'a row has targets');
    continue;
  }
  if (!sameDatasource(panel.datasource)) problem(where, 'datasource must be {"type":"prometheus","uid":"${datasource}"}');
  if (!Array.isArray(panel.targets) || panel.targets.length === 0) {
    problem(where, 'has no targets');
    continue;
  }
  const refIds = new Set();
  for (const [t, target] of panel.targets.entries()) {
    const tw = `${where} target ${target?.refId ?? `#${t}`}`;
    if (typeof target?.refId !== 'string' || target.refId === '') problem(tw, 'has no `refId`');
    else if (refIds.has(target.refId)) problem(tw, `duplicate refId ${target.refId}`);
    else refIds.add(target.refId);
    if (target?.datasource !== undefined && !sameDatasource(target.datasource)) {
      problem(tw, 'datasource must be {"type":"prometheus","uid":"${datasource}"}');
    }
    if (typeof target?.expr !== 'string' || target.expr.trim() === '') {
      problem(tw, 'has no `expr`');
      continue;
    }
    if (hasVectorZeroFallback(target.expr)) {
      problem(tw, '`or vector(0)` hides a misspelled or missing metric behind a flat zero; remove it');
    }
    const { expr, unknown } = substitute(target.expr);
    if (unknown.length > 0) problem(tw, `unknown template variable(s) ${[...new Set(unknown)].join(', ')}`);
    const names = metricNames(expr);
    if (names.length === 0) problem(tw, `references no metric: ${target.expr}`);
    for (const name of new Set(names)) {
      if (!KNOWN_METRICS.has(name)) problem(tw, `unknown metric \`${name}\` (known: ${[...KNOWN_METRICS].join(', ')})`);
    }
    queries.push({ panel: panel.id, title: panel.title, refId: target.refId, expr });
  }
}
note(`structure: ${panels.length} panels, ${queries.length} queries checked`);

mkdirSync(GENERATED, { recursive: true });
writeFileSync(join(GENERATED, 'dashboard_queries.json'), JSON.stringify(queries, null, 2) + '\n');

// ---------------------------------------------------------------------------------------------
// 3: Grafana's schema, through TypeScript
// ---------------------------------------------------------------------------------------------

// The schema's enums are TypeScript string enums (FieldColorModeId, ThresholdsMode,
// MappingType, ...), to which a plain string literal is not assignable, although the JSON
// model stores exactly those strings. `AsJson<T>` is `T` with every string enum replaced by the
// union of its values (`${Enum}`) and nothing else changed: required fields, property types,
// literal unions and excess-property checks stay Grafana's.
const HEADER = [
  '// Generated by check.mjs from the dashboard JSON: do not edit.',
  "import type { Dashboard } from '@grafana/schema';",
  '',
  '/** A schema type as stored in JSON: string enums become the union of their values. */',
  'export type AsJson<T> = T extends string',
  '  ? `${T}`',
  '  : T extends readonly (infer E)[]',
  '    ? AsJson<E>[]',
  '    : T extends object',
  '      ? { [K in keyof T]: AsJson<T[K]> }',
  '      : T;',
  '',
  '/** The JSON model of a dashboard, per @grafana/schema. */',
  'export type DashboardJson = AsJson<Dashboard>;',
  '',
];
// The literal starts on the line after the header, so dashboard line N is TS line N + offset.
const offset = HEADER.length;
writeFileSync(
  join(GENERATED, 'dashboard.ts'),
  `${HEADER.join('\n')}\nexport const dashboard: DashboardJson = ${text.trim()};\n`,
);
// Canaries: dashboards the schema must reject. Should @grafana/schema stop resolving or its
// types degrade to `any`, the `@ts-expect-error` lines become errors themselves, so the check
// can never pass vacuously.
writeFileSync(
  join(GENERATED, 'canary.ts'),
  [
    '// Generated by check.mjs: dashboards the schema must reject (see check.mjs).',
    "import type { DashboardJson } from './dashboard';",
    '// @ts-expect-error: schemaVersion is required',
    "export const noSchemaVersion: DashboardJson = { title: 'x' };",
    '// @ts-expect-error: `gridpos` is not a panel property',
    "export const misspelled: DashboardJson = { schemaVersion: 39, panels: [{ type: 'stat', gridpos: { x: 0, y: 0, w: 1, h: 1 } }] };",
    '// @ts-expect-error: no such colour mode',
    "export const badEnum: DashboardJson = { schemaVersion: 39, panels: [{ type: 'stat', fieldConfig: { defaults: { color: { mode: 'palette-clasic' } }, overrides: [] } }] };",
    '// @ts-expect-error: a gridPos needs h',
    "export const noHeight: DashboardJson = { schemaVersion: 39, panels: [{ type: 'stat', gridPos: { x: 0, y: 0, w: 1 } }] };",
    '',
  ].join('\n'),
);

const tsc = join(HERE, 'node_modules', 'typescript', 'bin', 'tsc');
const schemaTypes = join(HERE, 'node_modules', '@grafana', 'schema', 'package.json');
if (!existsSync(tsc) || !existsSync(schemaTypes)) {
  problem('schema', `typescript or @grafana/schema is not installed: run \`npm ci\` in ${relative(process.cwd(), HERE) || '.'}`);
} else {
  const started = Date.now();
  const run = spawnSync(process.execPath, [tsc, '-p', join(HERE, 'tsconfig.json'), '--pretty', 'false'], {
    cwd: HERE,
    encoding: 'utf8',
  });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.error) problem('schema', `cannot run tsc: ${run.error.message}`);
  else if (run.status !== 0) {
    // Point errors in the literal at the dashboard's own lines.
    for (const line of output.split('\n')) {
      const m = line.match(/^generated[\\/]dashboard\.ts\((\d+),(\d+)\): (.*)$/);
      if (m && Number(m[1]) > offset) problem(`schema ${SHOWN}:${Number(m[1]) - offset}:${m[2]}`, m[3]);
      else if (line.trim() !== '') problem('schema', line);
    }
    if (output === '') problem('schema', `tsc exited with status ${run.status}`);
  } else {
    const schemaVersion = JSON.parse(readFileSync(schemaTypes, 'utf8')).version;
    note(`schema: valid against @grafana/schema ${schemaVersion} (tsc --strict, ${Date.now() - started} ms)`);
  }
}

// ---------------------------------------------------------------------------------------------
// 4: PromQL syntax, through promtool
// ---------------------------------------------------------------------------------------------

// YAML double-quoted scalars accept JSON string escapes, so JSON.stringify quotes safely.
const rules = [
  '# Generated by check.mjs: every panel expression of the dashboard as a recording rule,',
  '# so that `promtool check rules` parses the PromQL offline. Not for loading into Prometheus.',
  'groups:',
  '  - name: dashboard',
  '    rules:',
  ...queries.flatMap((q) => [
    `      - record: ${JSON.stringify(`dashboard:panel_${q.panel}_${String(q.refId).replace(/[^A-Za-z0-9_]/g, '_')}`)}`,
    `        expr: ${JSON.stringify(q.expr)}`,
  ]),
  '',
].join('\n');
const rulesFile = join(GENERATED, 'dashboard_rules.yml');
writeFileSync(rulesFile, rules);

const promtool = process.env.PROMTOOL || findOnPath('promtool');
if (!promtool) {
  const required = process.env.REQUIRE_PROMTOOL === '1' || process.env.CI === 'true';
  if (required) problem('promql', 'promtool not found (install the `prometheus` package, or set PROMTOOL)');
  else note('promql: skipped: promtool not found (install the `prometheus` package to check the PromQL syntax)');
} else if (queries.length > 0) {
  const run = spawnSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.error) problem('promql', `cannot run ${promtool}: ${run.error.message}`);
  else if (run.status !== 0) {
    for (const line of output.split('\n')) {
      if (line.trim() !== '' && !/^(Checking |\s*FAILED:\s*$)/.test(line)) problem('promql', line.trim());
    }
  } else note(`promql: ${queries.length} expressions parsed by ${promtool} check rules`);
}

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------

if (problems.length > 0) {
  console.error(`\nFAIL: ${SHOWN}: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
note(`OK: ${SHOWN} (generated: ${relative(process.cwd(), GENERATED) || GENERATED})`);
