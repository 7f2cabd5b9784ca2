// kefu analytics dashboard: sign in (the consoles' accounts; `analytics:read` to see it), the
// filters kept in the address (?since=&until=&skill=&channel=&language=, so a view can be
// shared), the key numbers, charts and tables from /v1/analytics, CSV of each. Modules:
//   analytics-util.js    filters, endpoints, number formatting, tables, CSV downloads
//   analytics-charts.js  the charts (vendored Chart.js), their summaries and data tables
//   analytics-drill.js   the conversations behind a number, transcripts, gaps, hot topics
import { $, T, api, can, canAdmin, el, fill, session, signIn } from "/console/console-util.js";
import { signedOut } from "/admin/admin-util.js";
import * as charts from "./analytics-charts.js";
import * as drill from "./analytics-drill.js";
import {
  FILTERS, address, count, downloadCsv, duration, endpoint, failure, filters, localTime, percent,
  readAddress, score, signed, tell, zone,
} from "./analytics-util.js";

const ROLE_NAMES = { admin: T.account_admin, supervisor: T.account_supervisor,
  agent: T.account_agent, analyst: T.account_analyst };
let latest = 0;  // a slow answer for older filters must not overwrite a newer one

charts.init(drill.open);
drill.init();

function show(signedIn) {
  const me = session.me;
  const allowed = signedIn && can("analytics:read");
  $("login").hidden = signedIn;
  $("signout").hidden = !signedIn;
  $("main").hidden = !allowed;
  $("not-allowed").hidden = !signedIn || allowed;
  $("admin-link").hidden = !signedIn || !canAdmin();
  $("who").textContent = signedIn && me
    ? me.name + (me.role ? " · " + (ROLE_NAMES[me.role] || me.role) : "") : "";
}

async function enter() {
  show(true);
  if (can("analytics:read")) await load();
}

// The form shows the address's filters; dates the address leaves out are the API's defaults.
function toForm() {
  for (const key of FILTERS) $("f-" + key).value = filters[key];
}

function fromForm() {
  for (const key of FILTERS) filters[key] = $("f-" + key).value.trim();
}

async function load() {
  const mine = ++latest;
  const current = () => mine === latest && Boolean(session.me);
  toForm();
  $("lang-link").href = address($("lang-link").getAttribute("lang").startsWith("zh") ? "zh" : "en");
  $("main").setAttribute("aria-busy", "true");
  $("status").textContent = T.loading;
  $("load-error").textContent = "";
  const [summaryProblem, chartProblems, insightProblems] = await Promise.all([
    kpis(current), charts.loadAll(current), drill.loadInsights(current),
  ]);
  if (!current()) return;
  $("main").setAttribute("aria-busy", "false");
  const problems = [summaryProblem, ...chartProblems, ...insightProblems].filter(Boolean);
  if (problems.length) $("load-error").textContent = fill(T.load_failed, { why: problems[0] });
}

async function kpis(current) {
  const res = await api("GET", endpoint("summary"));
  if (!current() || signedOut(res)) return null;
  if (res.status !== 200) {
    $("kpi-tiles").replaceChildren();
    $("status").textContent = "";
    if (res.status === 400 || res.status === 422) $("filter-error").textContent = failure(res);
    return $("kpis-h").textContent + ": " + failure(res);
  }
  const s = res.data;
  zone.name = s.timezone || undefined;
  // The dates the API chose (the last 30 days when the address names none) fill the form.
  for (const key of ["since", "until"]) if (!filters[key]) $("f-" + key).value = s.filters[key] || "";
  $("status").textContent = s.refreshed_at
    ? fill(T.refreshed, { when: localTime(s.refreshed_at), tz: s.timezone })
    : fill(T.never_refreshed, { tz: s.timezone });
  $("kpi-tiles").replaceChildren(...tiles(s).map(tile));
  return null;
}

const median = (t) => (t && typeof t.avg === "number" ? fill(T.kpi_median_avg, { avg: duration(t.avg) }) : "");

// Each tile: its metric's name, the raw value (data-value, for tests and BI comparison), its text.
function tiles(s) {
  const sat = s.satisfaction || {};
  const mood = s.sentiment || {};
  const p50 = (t) => (t ? t.p50 : null);
  return [
    ["conversations", T.kpi_conversations, s.conversations, count(s.conversations), ""],
    ["messages", T.kpi_messages, s.messages, count(s.messages),
      fill(T.kpi_customer_messages, { n: count(s.customer_messages) })],
    ["automated_resolution_rate", T.kpi_automated, s.automated_resolution_rate, percent(s.automated_resolution_rate), ""],
    ["first_contact_resolution_rate", T.kpi_fcr, s.first_contact_resolution_rate, percent(s.first_contact_resolution_rate), ""],
    ["handoff_rate", T.kpi_handoff, s.handoff_rate, percent(s.handoff_rate), ""],
    ["fallback_rate", T.kpi_fallback, s.fallback_rate, percent(s.fallback_rate), ""],
    ["clarification_rate", T.kpi_clarification, s.clarification_rate, percent(s.clarification_rate), ""],
    ["bot_first_response_ms", T.kpi_bot_first, p50(s.bot_first_response_ms), duration(p50(s.bot_first_response_ms)), median(s.bot_first_response_ms)],
    ["agent_first_response_ms", T.kpi_agent_first, p50(s.agent_first_response_ms), duration(p50(s.agent_first_response_ms)), median(s.agent_first_response_ms)],
    ["handle_ms", T.kpi_handle, p50(s.handle_ms), duration(p50(s.handle_ms)), median(s.handle_ms)],
    ["agent_handle_ms", T.kpi_agent_handle, p50(s.agent_handle_ms), duration(p50(s.agent_handle_ms)), median(s.agent_handle_ms)],
    ["satisfaction", T.kpi_satisfaction, sat.average, score(sat.average) + (typeof sat.average === "number" ? " / 5" : ""),
      fill(T.kpi_rated, { n: count(sat.count || 0) })],
    ["sentiment", T.kpi_sentiment, mood.average, signed(mood.average),
      fill(T.kpi_negative, { p: percent(mood.negative_share) })],
  ];
}

function tile([metric, label, value, text, note]) {
  return el("li", { class: "tile", "data-metric": metric, "data-value": value ?? "" },
    el("span", { class: "label", text: label }),
    el("strong", { class: "value", text }),
    note ? el("span", { class: "note", text: note }) : null);
}

$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  $("filter-error").textContent = "";
  if ($("f-since").value && $("f-until").value && $("f-since").value > $("f-until").value) {
    $("filter-error").textContent = T.bad_range;
    $("f-since").focus();
    return;
  }
  fromForm();
  history.pushState(null, "", address());
  load();
});

$("f-reset").addEventListener("click", () => {
  for (const key of FILTERS) filters[key] = "";
  $("filter-error").textContent = "";
  history.pushState(null, "", address());
  load();
});

// Back and forward walk through the filters tried, like any page's history.
addEventListener("popstate", () => {
  readAddress();
  if (session.me && can("analytics:read")) load();
});

// Every CSV button downloads its own chart's or table's numbers for the current filters.
document.addEventListener("click", (ev) => {
  const button = ev.target.closest("button.csv");
  if (!button) return;
  const name = button.dataset.chart;
  const url = name === "summary" ? endpoint("summary")
    : name === "gaps" ? endpoint("gaps")
      : name === "hot" ? endpoint("hot-topics") : charts.csvUrl(name);
  if (url) downloadCsv(url, name, tell);
});
for (const button of document.querySelectorAll("button.csv")) {
  const title = button.closest("section").querySelector("h2, h3").textContent;
  button.setAttribute("aria-label", fill(T.csv_of, { name: title }));
}

const start = signIn(enter, show);

$("signout").addEventListener("click", async () => {
  await api("POST", "/v1/auth/logout");
  session.me = null;
  show(false);
  $("username").focus();
});

addEventListener("kefu:signed-out", () => {
  session.me = null;
  if ($("drill").open) $("drill").close();
  show(false);
});

readAddress();
start();
