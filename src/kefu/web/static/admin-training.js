// Retraining the intent model (/v1/admin/training): start a run, follow its progress (polled
// every second), show the evaluation (candidate vs the live model) and kefu's decision, put a
// refused candidate live anyway, and list the recent runs.
import { $, T, api, can, el, fill } from "/console/console-util.js";
import { done, failure, percent, signedOut, when } from "./admin-util.js";

let followed = null;  // the id of the run on screen
let timer = null;

const url = (id) => "/v1/admin/training/" + encodeURIComponent(id);

export function init() {
  $("train-start").addEventListener("click", start);
  $("train-force").addEventListener("click", force);
}

export async function show() {
  const runs = await loadRuns();
  const running = runs && runs.find((r) => r.status === "running");
  if (running) follow(running);
}

async function start() {
  $("train-error").textContent = "";
  $("train-start").disabled = true;
  const res = await api("POST", "/v1/admin/training", { force: false });
  if (signedOut(res)) return;
  if (res.status === 202 || res.status === 200 || res.status === 201) {
    done(null, T.train_started);
    follow(res.data);
    loadRuns();
    return;
  }
  $("train-start").disabled = false;
  $("train-error").textContent = failure(res);
  if (res.code === "training_running") show();  // follow the one already running
}

function follow(run) {
  followed = run.id;
  clearTimeout(timer);
  render(run);
  if (run.status === "running") timer = setTimeout(() => poll(run.id), 1000);
}

async function poll(id) {
  if (id !== followed) return;
  const res = await api("GET", url(id));
  if (signedOut(res)) return;
  if (res.status !== 200) {
    timer = setTimeout(() => poll(id), 2000);  // a blip: keep following
    return;
  }
  follow(res.data);
  if (res.data.status !== "running") {
    done(null, statusText(res.data));
    loadRuns();
  }
}

function statusText(run) {
  return T["train_status_" + run.status] || run.status;
}

// One decimal: a candidate a tenth of a point worse is refused, so the table must show it.
function metric(value) {
  return typeof value === "number" && Number.isFinite(value) ? (value * 100).toFixed(1) + "%" : "–";
}

function why(reason) {
  return reason ? T["train_why_" + reason] || reason : "";
}

function render(run) {
  const running = run.status === "running";
  $("train-run").hidden = false;
  $("train-start").disabled = running;
  const progress = $("train-progress");
  progress.value = typeof run.progress === "number" ? run.progress : 0;
  progress.setAttribute("aria-valuetext", percent(progress.value));
  const stage = T["train_stage_" + run.stage] || run.stage || "";
  $("train-stage").textContent = fill(T.train_progress, { stage, pct: percent(progress.value) });
  $("train-status").textContent = statusText(run) + (run.forced ? " · " + T.train_forced : "")
    + (run.error ? " · " + run.error : "");
  $("train-run").dataset.status = run.status;
  const result = run.result;
  $("train-eval").hidden = !result;
  if (!result) return;
  const cand = result.candidate || {};
  const cur = result.current;
  $("train-c-acc").textContent = metric(cand.accuracy);
  $("train-c-f1").textContent = metric(cand.macro_f1);
  $("train-p-acc").textContent = cur ? metric(cur.accuracy) : T.train_no_current;
  $("train-p-f1").textContent = cur ? metric(cur.macro_f1) : "–";
  $("train-current-h").textContent = cur && cur.version
    ? fill(T.train_current_version, { version: cur.version }) : T.train_current;
  const decision = result.decision === "promoted" ? T.train_promoted : T.train_refused;
  $("train-decision").replaceChildren(
    el("strong", { class: "decision " + result.decision, text: decision }),
    result.reason ? " " + fill(T.train_because, { reason: why(result.reason) }) : "",
    el("span", { class: "muted", text: " " + fill(T.train_examples, {
      n: result.examples ?? "–", m: result.evaluation_examples ?? "–" }) }));
  // Per-intent F1 where it changed: what the candidate learned, and what it forgot.
  const changed = (result.intents || []).slice(0, 15);
  $("train-intents").hidden = !changed.length;
  $("train-intent-rows").replaceChildren(...changed.map((i) => el("tr", {},
    el("td", {}, el("code", { text: i.intent })),
    el("td", { text: metric(i.candidate) }),
    el("td", { text: metric(i.current) }))));
  $("train-force").hidden = run.status !== "refused" || !can("knowledge:write");
}

async function force() {
  if (!followed) return;
  $("train-force").disabled = true;
  const res = await api("POST", url(followed) + "/promote");
  $("train-force").disabled = false;
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("train-error").textContent = failure(res);
    return;
  }
  follow(res.data);
  done(null, T.train_forced_done);
  loadRuns();
}

async function loadRuns() {
  const res = await api("GET", "/v1/admin/training");
  if (signedOut(res)) return null;
  if (res.status !== 200) {
    $("train-runs").replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted", text: failure(res) })));
    return null;
  }
  const runs = res.data;
  $("train-runs").replaceChildren(...runs.map((run) => {
    const r = run.result || {};
    const pair = (m) => (m ? `${metric(m.accuracy)} / ${metric(m.macro_f1)}` : "–");
    return el("tr", { "data-id": run.id },
      el("td", { class: "small", text: when(run.started_at) }),
      el("td", { text: statusText(run) + (run.forced ? " · " + T.train_forced : "") }),
      el("td", { text: pair(r.candidate) }),
      el("td", { text: pair(r.current) }),
      el("td", { class: "small", text: why(r.reason) || run.error || "" }));
  }));
  if (!runs.length) {
    $("train-runs").append(el("tr", {}, el("td", { colspan: 5, class: "muted", text: T.train_none })));
  }
  return runs;
}
