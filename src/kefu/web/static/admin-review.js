// Conversation review (GET /v1/admin/review): the turns worth a look (low confidence, fallback,
// negative, low rating, handoff), and for each a "mark": the FAQ entry that should have answered
// (its text becomes a similar question of it at once) and/or the right intent (an example for
// the next retraining), POST /v1/admin/review/{turn_id}.
import { $, T, announce, api, can, el, fill, session } from "/console/console-util.js";
import {
  applyWrite, decisionText, failure, number, option, percent, sentimentText, signedOut, when,
} from "./admin-util.js";
import * as intents from "./admin-intents.js";

const PAGE = 20;
const LANG = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
let offset = 0;
let latest = 0;

export function init() {
  for (const chip of document.querySelectorAll("#review .toggle")) {
    chip.addEventListener("click", () => {
      chip.setAttribute("aria-pressed", String(chip.getAttribute("aria-pressed") !== "true"));
      offset = 0;
      load();
    });
  }
  for (const radio of document.querySelectorAll("#review input[name=reviewed]")) {
    radio.addEventListener("change", () => { offset = 0; load(); });
  }
  $("review-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  $("review-next").addEventListener("click", () => { offset += PAGE; load(); });
}

export function show() {
  applyWrite($("review"));
  load();
}

async function load() {
  const mine = ++latest;
  $("review-list").setAttribute("aria-busy", "true");  // until the newest answer is shown
  const params = new URLSearchParams();
  for (const chip of document.querySelectorAll("#review .toggle[aria-pressed=true]")) {
    params.append("filter", chip.dataset.filter);
  }
  params.set("reviewed", document.querySelector("#review input[name=reviewed]:checked").value);
  params.set("offset", String(offset));
  params.set("limit", String(PAGE));
  const [res, names] = await Promise.all([
    api("GET", "/v1/admin/review?" + params),
    can("knowledge:write") ? intents.names() : Promise.resolve([]),
  ]);
  if (mine !== latest || signedOut(res)) return;
  $("review-list").setAttribute("aria-busy", "false");
  if (res.status !== 200) {
    $("review-count").textContent = failure(res);
    $("review-list").replaceChildren();
    return;
  }
  const { total, items } = res.data;
  $("review-list").replaceChildren(...items.map((item) => card(item, names)));
  if (!items.length) $("review-list").append(el("li", { class: "empty", text: T.review_none }));
  $("review-count").textContent = fill(T.review_count, { n: total });
  const last = Math.min(offset + items.length, total);
  $("review-page").textContent = total ? fill(T.page_range, { from: offset + 1, to: last, total }) : "";
  $("review-prev").disabled = offset === 0;
  $("review-next").disabled = last >= total;
}

function fact(list, term, ...value) {
  list.append(el("dt", { text: term }), el("dd", {}, ...value));
}

function card(item, names) {
  const id = String(item.turn_id);
  const head = "turn-" + id;
  const facts = el("dl", { class: "facts" });
  fact(facts, T.review_customer, el("span", { class: "said", text: item.text || "" }));
  fact(facts, T.review_reply, el("span", { class: "answered", text: item.reply || "–" }));
  fact(facts, T.decision, el("span", { class: "decision " + item.decision, text: decisionText(item.decision) }),
    item.reason ? el("code", { class: "small", text: " " + item.reason }) : null);
  fact(facts, T.intent, item.intent
    ? fill(T.review_intent, { intent: item.intent, confidence: percent(item.intent_confidence) }) : "–");
  fact(facts, T.score, item.faq_entry_id
    ? fill(T.review_score, { entry: item.faq_entry_id, score: number(item.score) }) : number(item.score));
  fact(facts, T.sentiment, sentimentText(item.sentiment));
  fact(facts, T.review_rating, item.rating === null || item.rating === undefined ? "–" : String(item.rating));
  fact(facts, T.review_handoff, item.handoff ? T.yes : T.no);
  const node = el("li", { "data-turn": id, class: item.review ? "reviewed" : null },
    el("article", { "aria-labelledby": head },
      el("h3", { id: head, class: "turn-head" },
        el("time", { datetime: item.created_at, text: when(item.created_at) }),
        el("span", { class: "tag", text: item.language }),
        ...(item.tags || []).map((tag) => el("span", { class: "tag warn", text: T["review_f_" + tag] || tag }))),
      facts,
      reviewed(item),
      can("knowledge:write") ? markForm(item, names) : null));
  return node;
}

function reviewed(item) {
  const r = item.review;
  if (!r) return null;
  const what = [
    r.entry_id ? fill(T.review_marked_entry, { entry: r.entry_id }) : null,
    r.intent ? fill(T.review_marked_intent, { intent: r.intent }) : null,
  ].filter(Boolean).join(T.list_separator);
  // The reviewer's name; an account since deleted shows by its number.
  const who = r.by_name || (r.by === null || r.by === undefined ? "–" : fill(T.review_account, { id: r.by }));
  return el("p", { class: "review-done", text: fill(T.review_done, { who, when: when(r.at), what }) });
}

function markForm(item, names) {
  const id = String(item.turn_id);
  const entry = el("select", { id: "mark-entry-" + id, class: "mark-entry" },
    option("", T.review_no_entry));
  if (item.review && item.review.entry_id) entry.append(option(item.review.entry_id, item.review.entry_id, true));
  const intent = el("select", { id: "mark-intent-" + id, class: "mark-intent" },
    option("", T.review_no_intent),
    ...names.map((n) => option(n, n, item.review ? item.review.intent === n : false)));
  const find = el("input", {
    id: "mark-q-" + id, type: "search", class: "mark-q", maxlength: 200, autocomplete: "off",
    "aria-controls": entry.id,
  });
  const error = el("p", { class: "error", role: "alert" });
  let typing = null;
  let asked = 0;
  // The entry list is fed by the knowledge search as the reviewer types.
  const search = async () => {
    const mine = ++asked;
    const params = new URLSearchParams({ limit: "20" });
    if (find.value.trim()) params.set("q", find.value.trim());
    const res = await api("GET", "/v1/admin/knowledge?" + params);
    if (mine !== asked || res.status !== 200) return;
    const chosen = entry.value;
    entry.replaceChildren(option("", T.review_no_entry), ...res.data.items.map((e) =>
      option(e.id, e.id + " — " + (e.question[LANG] || e.question.zh), e.id === chosen)));
    if (res.data.items.length === 1) entry.value = res.data.items[0].id;
    entry.dataset.loaded = String(res.data.items.length);
  };
  find.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(search, 250); });
  entry.addEventListener("focus", () => { if (!entry.dataset.loaded) search(); }, { once: true });
  const form = el("form", { class: "mark" },
    el("fieldset", {},
      el("legend", { text: T.review_mark_legend }),
      el("div", { class: "row" },
        el("label", {}, T.review_find_entry, find),
        el("label", {}, T.review_right_entry, entry),
        el("label", {}, T.review_right_intent, intent),
        el("button", { type: "submit", text: T.review_mark }))),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const body = {};
    if (entry.value) body.entry_id = entry.value;
    if (intent.value) body.intent = intent.value;
    if (!body.entry_id && !body.intent) {
      error.textContent = T.review_pick_one;
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    const res = await api("POST", "/v1/admin/review/" + encodeURIComponent(id), body);
    button.disabled = false;
    if (signedOut(res)) return;
    if (res.status !== 200 && res.status !== 201) {
      error.textContent = failure(res);
      return;
    }
    const updated = card({ ...item, ...res.data }, names);
    const old = form.closest("li");
    old.replaceWith(updated);
    const note = updated.querySelector(".review-done");
    note.tabIndex = -1;
    note.focus();
    announce(note.textContent);
  });
  return form;
}
