// The conversations behind a number (GET /v1/analytics/conversations with the chart's filter) in
// a dialog, each opening its masked transcript (GET /v1/console/conversations/{id}); and the two
// insight tables: knowledge gaps (each can become a draft FAQ entry in the admin console) and
// hot topics.
import { $, T, api, can, el, fill } from "/console/console-util.js";
import { signedOut } from "/admin/admin-util.js";
import {
  LANG, downloadCsv, endpoint, failure, fillTable, labelText, localTime, tell,
} from "./analytics-util.js";

const PAGE = 50;
// The admin console's entry editor takes a draft from here (admin-kb.js); nothing is saved
// until the admin publishes it there.
export const DRAFT_KEY = "kefu.admin.draft";

const state = { what: "", params: null, offset: 0, rows: [], opener: null, latest: 0 };

export function init() {
  const dialog = $("drill");
  $("drill-close").addEventListener("click", () => dialog.close());
  $("drill-more").addEventListener("click", () => more());
  $("drill-csv").addEventListener("click", () => {
    if (state.params) downloadCsv(endpoint("conversations", { ...state.params, limit: 500 }), "conversations", tell);
  });
  $("transcript-close").addEventListener("click", closeTranscript);
  dialog.addEventListener("close", () => {
    state.latest++;
    if (state.opener && state.opener.isConnected) state.opener.focus();
  });
  // A click on the backdrop (outside the dialog's box) closes it, as Escape does.
  dialog.addEventListener("click", (ev) => {
    if (ev.target === dialog) {
      const box = dialog.getBoundingClientRect();
      const inside = ev.clientX >= box.left && ev.clientX <= box.right
        && ev.clientY >= box.top && ev.clientY <= box.bottom;
      if (!inside) dialog.close();
    }
  });
}

function show(title) {
  const dialog = $("drill");
  state.opener = document.activeElement instanceof HTMLElement && document.activeElement !== document.body
    ? document.activeElement : null;
  $("drill-h").textContent = title;
  $("drill-caption").textContent = title;
  $("drill-error").textContent = "";
  $("drill-count").textContent = "";
  $("drill-rows").replaceChildren();
  $("drill-more").hidden = true;
  closeTranscript();
  if (!dialog.open) dialog.showModal();
  $("drill-h").focus();
}

// The conversations behind one bar, point or row: `params` adds to the page's filters.
export async function open(what, params) {
  state.what = what;
  state.params = params;
  state.offset = 0;
  $("drill-csv").hidden = false;
  show(fill(T.drill_of, { what }));
  await load(false);
}

// A cluster's or topic's example conversations, known by id only.
export function samples(label, ids) {
  state.params = null;
  $("drill-csv").hidden = true;
  show(fill(T.drill_of, { what: fill(T.drill_samples, { v: label }) }));
  const table = $("drill-rows").closest("table");
  fillTable(table, ["id"], ids.map((id) => ({ id })), null, T.drill_none, { id: idCell });
  $("drill-count").textContent = fill(T.drill_shown, { shown: ids.length });
}

async function more() {
  state.offset += PAGE;
  await load(true);
}

async function load(append) {
  const mine = ++state.latest;
  const table = $("drill-rows").closest("table");
  table.setAttribute("aria-busy", "true");
  const res = await api("GET", endpoint("conversations", { ...state.params, limit: PAGE, offset: state.offset }));
  if (mine !== state.latest) return;
  table.setAttribute("aria-busy", "false");
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("drill-error").textContent = failure(res);
    return;
  }
  const rows = res.data.rows || [];
  const kept = append ? [...state.rows, ...rows] : rows;
  state.rows = kept;
  fillTable(table, res.data.columns || ["id"], kept, null, T.drill_none, { id: idCell });
  const total = typeof res.data.total === "number" ? res.data.total : null;
  $("drill-count").textContent = total === null
    ? fill(T.drill_shown, { shown: kept.length })
    : fill(T.drill_count, { shown: kept.length, total });
  $("drill-more").hidden = total === null ? rows.length < PAGE : kept.length >= total;
  // After "Show more", focus goes to the first new conversation, not back to the top.
  const first = append && rows.length && table.tBodies[0].rows[kept.length - rows.length];
  const button = first && first.querySelector("button");
  if (button) button.focus();
}

// A conversation's id: a button that opens its transcript for those who may read it.
function idCell(id) {
  const short = String(id).slice(0, 8);
  if (!can("conversations:read")) return el("span", { class: "mono", title: id, text: short });
  return el("button", {
    type: "button", class: "ghost small mono", "aria-label": fill(T.drill_open, { id }),
    "data-conversation": id, text: short, onclick: () => transcript(String(id)),
  });
}

async function transcript(id) {
  const box = $("transcript");
  box.hidden = false;
  $("transcript-h").textContent = fill(T.transcript, { id: id.slice(0, 8) });
  $("transcript-note").textContent = "";
  $("transcript-messages").replaceChildren();
  const res = await api("GET", "/v1/console/conversations/" + encodeURIComponent(id));
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("transcript-note").textContent = failure(res);
    $("transcript-h").focus();
    return;
  }
  const messages = res.data.messages || [];
  $("transcript-note").textContent = [
    localTime(res.data.conversation && res.data.conversation.created_at),
    res.data.masked ? T.transcript_masked : "",
    messages.length ? "" : T.transcript_none,
  ].filter(Boolean).join(" · ");
  $("transcript-messages").replaceChildren(...messages.map((m) => el("li", { class: "msg " + m.role },
    el("span", { class: "who", text: T["role_" + m.role] || m.role }),
    el("time", { datetime: m.created_at, text: localTime(m.created_at) }),
    el("p", { text: m.text }))));
  $("transcript-h").focus();
}

function closeTranscript() {
  $("transcript").hidden = true;
  $("transcript-messages").replaceChildren();
}

// Knowledge gaps and hot topics for the current filters; returns failure texts.
export async function loadInsights(current) {
  const [gaps, hot] = await Promise.all([api("GET", endpoint("gaps")), api("GET", endpoint("hot-topics"))]);
  if (!current()) return [];
  const problems = [];
  for (const [res, section, fillIt] of [[gaps, "gaps", fillGaps], [hot, "hot", fillHot]]) {
    if (signedOut(res)) return [];
    const table = $(section).querySelector("table");
    if (res.status === 200) {
      fillIt(table, res.data);
    } else {
      fillTable(table, [], [], null, failure(res));
      problems.push($(section + "-h").textContent + ": " + failure(res));
    }
  }
  return problems;
}

// The API's representative questions ("questions"; "representatives" in the first contract).
const SHOWN_GAP_COLUMNS = ["label", "size", "conversations", "trend", "first_day", "last_day",
  "questions", "representatives"];

// A cluster's name: its top words, else (a cluster of one-off words) its first question.
function gapName(row) {
  const asked = row.questions || row.representatives;
  return labelText(row.label) || (Array.isArray(asked) && asked[0]) || row.id;
}

function fillGaps(table, data) {
  const columns = SHOWN_GAP_COLUMNS.filter((c) => (data.columns || []).includes(c));
  fillTable(table, columns, data.rows || [], (row) => {
    const buttons = [];
    const ids = row.sample_conversations || [];
    if (ids.length) {
      buttons.push(el("button", {
        type: "button", class: "ghost small", text: T.examples,
        "aria-label": fill(T.examples_label, { label: gapName(row) }),
        onclick: () => samples(gapName(row), ids),
      }));
    }
    if (row.draft && can("knowledge:write")) {
      buttons.push(el("button", {
        type: "button", class: "small", text: T.draft,
        "aria-label": fill(T.draft_label, { label: gapName(row) }),
        onclick: () => draft(row.draft),
      }));
    }
    return buttons;
  }, T.gaps_none, {
    questions, representatives: questions, label: (value, row) => gapName(row),
  });
}

function questions(value) {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return el("ul", { class: "questions" }, ...list.slice(0, 3).map((q) => el("li", { text: q })));
}

// Hand the draft to the admin console's editor in this tab; the admin reviews and publishes it.
function draft(body) {
  sessionStorage.setItem(DRAFT_KEY, JSON.stringify(body));
  location.assign("/admin?lang=" + LANG + "#knowledge");
}

// The spike score stays in the CSV: the ratio to the usual level says the same to a person.
const SHOWN_HOT_COLUMNS = ["kind", "value", "intent", "day", "hour", "count", "expected", "ratio"];

function fillHot(table, data) {
  const columns = SHOWN_HOT_COLUMNS.filter((c) => (data.columns || []).includes(c));
  fillTable(table, columns, data.rows || [], (row) => {
    const buttons = [];
    const label = row.value + (row.day ? " · " + row.day : "");
    if (row.kind === "intent") {
      const what = fill(T.drill_intent, { v: row.intent || row.value }) + (row.day ? " · " + row.day : "");
      const params = { intent: row.intent || row.value, day: row.day, hour: row.hour };
      buttons.push(el("button", {
        type: "button", class: "ghost small", text: T.list,
        "aria-label": fill(T.list_label, { what }), onclick: () => open(what, params),
      }));
    }
    const ids = row.sample_conversations || [];
    if (ids.length) {
      buttons.push(el("button", {
        type: "button", class: "ghost small", text: T.examples,
        "aria-label": fill(T.examples_label, { label }), onclick: () => samples(label, ids),
      }));
    }
    return buttons;
  }, T.hot_none);
}
