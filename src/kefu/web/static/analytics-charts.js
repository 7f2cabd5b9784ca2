// The dashboard's charts (Chart.js, vendored: window.Chart from /analytics/vendor). Each has a
// text summary as the canvas's label and the same numbers as a table whose "List" buttons drill
// down to the conversations, so the keyboard and screen readers reach everything the mouse does.
import { $, T, api, el, fill, reasonText } from "/console/console-util.js";
import { signedOut } from "/admin/admin-util.js";
import { cell, columnName, endpoint, failure, fillTable, percent } from "./analytics-util.js";

const COLORS = ["#1677ff", "#ff7d00", "#16a34a", "#d4380d", "#722ed1", "#13a8a8"];
const REDUCED = matchMedia("(prefers-reduced-motion: reduce)").matches;
const TOP = 10;

// name -> what to fetch, how to label a row, which columns are drawn, and what a click lists.
export const SPECS = {
  "volume-day": {
    path: "volume", params: { by: "day" }, label: (r) => r.bucket,
    series: ["conversations", "messages"], kind: "bar",
    drill: (r) => [fill(T.drill_day, { v: r.bucket }), { day: r.bucket }],
  },
  "volume-hour": {
    path: "volume", params: { by: "hour" }, label: (r) => fill(T.hour, { h: r.bucket }),
    series: ["conversations"], kind: "bar",
    drill: (r) => [fill(T.drill_hour, { v: r.bucket }), { hour: r.bucket }],
  },
  "trend-rates": {
    path: "trend", label: (r) => r.day, kind: "line", rates: true,
    series: ["automated_resolution_rate", "handoff_rate", "fallback_rate", "negative_share"],
    drill: (r) => [fill(T.drill_day, { v: r.day }), { day: r.day }],
  },
  "trend-mood": {
    path: "trend", label: (r) => r.day, kind: "line", mood: true,
    series: ["satisfaction", "sentiment"],
    drill: (r) => [fill(T.drill_day, { v: r.day }), { day: r.day }],
  },
  handoffs: {
    path: "handoff-reasons", label: (r) => reasonText(r.reason), series: ["conversations"],
    kind: "bar", horizontal: true,
    drill: (r) => [fill(T.drill_reason, { v: reasonText(r.reason) }), { reason: r.reason }],
  },
  satisfaction: {
    path: "satisfaction", label: (r) => fill(T.stars, { n: r.score }), series: ["conversations"],
    kind: "bar",
    drill: (r) => [fill(T.drill_score, { v: r.score }), { score: r.score }],
  },
  intents: {
    path: "intents", params: { kind: "intent", limit: TOP }, label: (r) => r.key,
    series: ["conversations"], kind: "bar", horizontal: true,
    drill: (r) => [fill(T.drill_intent, { v: r.key }), { intent: r.key }],
  },
  faq: {
    path: "intents", params: { kind: "faq", limit: TOP }, label: (r) => r.key,
    series: ["conversations"], kind: "bar", horizontal: true,
    drill: (r) => [fill(T.drill_faq, { v: r.key }), { faq: r.key }],
  },
  flows: {
    path: "flows", label: (r) => r.flow, series: ["completed", "dropped"], kind: "bar",
    horizontal: true, stacked: true,
    drill: (r) => [fill(T.drill_flow, { v: r.flow }), { flow: r.flow }],
  },
  steps: {
    path: "flow-steps", label: (r) => r.step, series: ["dropped"], kind: "bar", horizontal: true,
    drill: (r) => [fill(T.drill_flow, { v: step.flow }) + " · " + fill(T.drill_step, { v: r.step }),
      { flow: step.flow, step: r.step }],
  },
};

const live = {};  // name -> Chart
const step = { flow: null };  // the flow whose drop-out steps are shown
let onDrill = () => {};
let fetched = new Map();  // one load's responses by URL: the two trend charts share one call

export function init(drill) {
  onDrill = drill;
  // The page's font (with its Chinese fallbacks) in the charts too.
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = "#4e5969";
}

// The URL a chart's CSV comes from (the same as its data).
export function csvUrl(name) {
  const spec = SPECS[name];
  if (name === "steps" && !step.flow) return null;
  return endpoint(spec.path, name === "steps" ? { flow: step.flow } : spec.params || {});
}

// Load every chart for the current filters; `current()` is false once a newer load started.
export async function loadAll(current) {
  fetched = new Map();
  const names = Object.keys(SPECS).filter((n) => n !== "steps");
  const results = await Promise.all(names.map((name) => load(name, current)));
  if (!current()) return [];
  // The steps card starts on the flow customers leave most (or the one chosen before).
  const flows = (fetched.get(csvUrl("flows")) && (await fetched.get(csvUrl("flows"))).data) || {};
  const worst = (flows.rows || []).filter((r) => r.dropped > 0).sort((a, b) => b.dropped - a.dropped)[0];
  const keep = step.flow && (flows.rows || []).some((r) => r.flow === step.flow);
  showSteps(keep ? step.flow : worst ? worst.flow : null);
  if (step.flow) results.push(await load("steps", current));
  return results.filter(Boolean);  // the failures' texts
}

async function get(url) {
  if (!fetched.has(url)) fetched.set(url, api("GET", url));
  return fetched.get(url);
}

async function load(name, current) {
  const url = csvUrl(name);
  const res = await get(url);
  if (!current()) return null;
  if (signedOut(res)) return null;
  if (res.status !== 200) {
    draw(name, { columns: [], rows: [] });
    return $(`c-${name}-h`).textContent + ": " + failure(res);
  }
  draw(name, res.data);
  return null;
}

function seriesLabel(column) { return T["series_" + column] || columnName(column); }

function draw(name, data) {
  const spec = SPECS[name];
  const rows = data.rows || [];
  const card = $("c-" + name);
  const canvas = $(`c-${name}-canvas`);
  const title = $(`c-${name}-h`).textContent;
  card.querySelector(".empty-note").hidden = rows.length > 0;
  card.querySelector(".chart-box").hidden = rows.length === 0;
  fillTable(card.querySelector("table"), data.columns || [], rows, (row) => actions(name, row));
  if (live[name]) live[name].destroy();
  delete live[name];
  canvas.setAttribute("aria-label", summary(spec, rows, title));
  if (!rows.length) return;
  live[name] = new window.Chart(canvas, config(name, spec, rows));
}

// "Conversations by day: 14 values; the highest is 2026-11-20 (45)."
function summary(spec, rows, title) {
  if (!rows.length) return fill(T.chart_empty, { title });
  const column = spec.series[0];
  const values = rows.map((r) => r[column]).filter((v) => typeof v === "number");
  if (!values.length) return fill(T.chart_empty, { title });
  const top = rows.find((r) => r[column] === Math.max(...values));
  return fill(T.chart_summary, {
    title, n: rows.length, label: spec.label(top), value: cell(column, top[column]),
  });
}

function actions(name, row) {
  const spec = SPECS[name];
  const [what, params] = spec.drill(row);
  if (spec.kind === "bar" && name !== "flows" && row[spec.series[0]] === 0) return [];  // none to list
  const buttons = [el("button", {
    type: "button", class: "ghost small", text: T.list, "aria-label": fill(T.list_label, { what }),
    onclick: () => onDrill(what, params),
  })];
  if (name === "flows") {
    buttons.unshift(el("button", {
      type: "button", class: "ghost small", text: T.col_step,
      "aria-label": fill(T.steps_of, { flow: row.flow }), onclick: () => pickFlow(row.flow, true),
    }));
  }
  return buttons;
}

function config(name, spec, rows) {
  const values = (column) => rows.map((r) => (typeof r[column] === "number" ? r[column] : null));
  const datasets = spec.series.map((column, i) => ({
    label: seriesLabel(column),
    data: values(column),
    backgroundColor: COLORS[i % COLORS.length] + (spec.kind === "line" ? "33" : "cc"),
    borderColor: COLORS[i % COLORS.length],
    borderWidth: spec.kind === "line" ? 2 : 0,
    pointRadius: spec.kind === "line" ? 2 : 0,
    spanGaps: true,
  }));
  // Messages are many times conversations: a line on its own axis, so the bars stay readable;
  // sentiment (-1..1) has its own axis beside satisfaction (1..5).
  if (name === "volume-day") {
    Object.assign(datasets[1], { type: "line", yAxisID: "y1", borderWidth: 2, pointRadius: 2,
      backgroundColor: COLORS[1] + "33" });
  }
  if (spec.mood) datasets[1].yAxisID = "y1";
  const valueAxis = spec.horizontal ? "x" : "y";
  const scales = {
    [valueAxis]: { beginAtZero: true, stacked: Boolean(spec.stacked) },
    [spec.horizontal ? "y" : "x"]: { stacked: Boolean(spec.stacked), ticks: { autoSkip: true } },
  };
  if (spec.rates) {
    scales.y = { min: 0, max: 1, ticks: { callback: (v) => percent(v) } };
  }
  if (spec.mood) {
    scales.y = { min: 1, max: 5, title: { display: true, text: seriesLabel("satisfaction") } };
    scales.y1 = { min: -1, max: 1, position: "right", grid: { drawOnChartArea: false },
      title: { display: true, text: seriesLabel("sentiment") } };
  }
  if (name === "volume-day") {
    scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } };
  }
  return {
    type: spec.kind,
    data: { labels: rows.map(spec.label), datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: REDUCED ? false : { duration: 250 },
      indexAxis: spec.horizontal ? "y" : "x",
      interaction: { mode: "index", intersect: spec.kind !== "line", axis: spec.horizontal ? "y" : "x" },
      plugins: {
        legend: { display: datasets.length > 1 },
        tooltip: {
          callbacks: { label: (ctx) => `${ctx.dataset.label}: ${cell(spec.series[ctx.datasetIndex], ctx.raw)}` },
        },
      },
      scales,
      onClick: (event, elements) => {
        if (!elements.length) return;
        const row = rows[elements[0].index];
        if (name === "flows") pickFlow(row.flow, false);
        else {
          const [what, params] = spec.drill(row);
          onDrill(what, params);
        }
      },
      onHover: (event, elements) => {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
    },
  };
}

// A flow chosen in the flows chart: its drop-out steps in the next card.
async function pickFlow(flow, focus) {
  showSteps(flow);
  await load("steps", () => step.flow === flow);
  if (focus) $("c-steps-h").focus();
}

function showSteps(flow) {
  step.flow = flow;
  $("c-steps-h").textContent = flow ? fill(T.steps_of, { flow }) : T.chart_steps;
  $("steps-note").hidden = Boolean(flow);
  const card = $("c-steps");
  card.querySelector(".csv").disabled = !flow;
  if (!flow) {
    if (live.steps) live.steps.destroy();
    delete live.steps;
    card.querySelector(".chart-box").hidden = true;
    card.querySelector(".empty-note").hidden = true;
    card.querySelector("table").tHead.replaceChildren();
    card.querySelector("table").tBodies[0].replaceChildren();
  }
}
