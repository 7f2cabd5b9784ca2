// "Try it": what kefu would answer a message, and why (POST /v1/admin/try). Nothing is stored
// and the operator's systems are never called.
import { $, T, api, el, fill } from "/console/console-util.js";
import { bar, decisionText, failure, number, percent, sentimentText, signedOut } from "./admin-util.js";

export function init() {
  $("try-form").addEventListener("submit", run);
}

export function show() {}

async function run(ev) {
  ev.preventDefault();
  const text = $("try-text").value.trim();
  if (!text) return;
  $("try-error").textContent = "";
  const body = { text };
  if ($("try-lang").value) body.language = $("try-lang").value;
  const button = ev.submitter || $("try-form").querySelector("button");
  button.disabled = true;
  const res = await api("POST", "/v1/admin/try", body);
  button.disabled = false;
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("try-error").textContent = failure(res);
    return;
  }
  render(res.data);
}

function fact(list, term, ...value) {
  list.append(el("dt", { text: term }), el("dd", {}, ...value));
}

function render(data) {
  const replies = data.replies || [];
  $("try-replies").replaceChildren(...replies.map((r) => el("li", { class: "reply", text: r.text })));
  if (!replies.length) $("try-replies").append(el("li", { class: "muted", text: T.try_silent }));
  const facts = $("try-decision");
  facts.replaceChildren();
  fact(facts, T.decision, el("span", { class: "decision " + data.decision, text: decisionText(data.decision) }));
  fact(facts, T.reason, el("code", { text: data.reason || "–" }));
  if (data.flow) fact(facts, T.try_flow, el("code", { text: data.flow }));
  fact(facts, T.try_faq_outcome, data.faq_outcome || "–");
  fact(facts, T.language, data.language || "–");
  fact(facts, T.try_latency, fill(T.ms, { n: number(data.latency_ms, 0) }));

  const faq = data.faq || [];
  $("try-faq").replaceChildren(...faq.map((c) => el("tr", {},
    el("td", {}, el("code", { text: c.entry_id }), el("br"), el("span", { class: "small", text: c.question || "" })),
    el("td", {}, bar(c.score, fill(T.score_of, { name: c.entry_id }))),
    el("td", { class: "small", text: [c.method, c.matched].filter(Boolean).join(" · ") })),
  ));
  if (!faq.length) $("try-faq").append(empty(3));

  const ranking = data.intent_ranking && data.intent_ranking.length ? data.intent_ranking
    : data.intent ? [{ intent: data.intent, confidence: data.intent_confidence }] : [];
  $("try-intents").replaceChildren(...ranking.map((r) => el("tr", { class: r.intent === data.intent ? "top" : null },
    el("td", {}, el("code", { text: r.intent })),
    el("td", {}, bar(r.confidence, fill(T.confidence_of, { name: r.intent }))))));
  if (!ranking.length) $("try-intents").append(empty(2));

  const entities = data.entities || [];
  $("try-entities").replaceChildren(...entities.map((e) => el("li", {},
    el("code", { text: e.type }), " ", el("q", { text: e.text }),
    e.value !== undefined && e.value !== null && String(e.value) !== e.text
      ? el("span", { class: "muted", text: " → " + (typeof e.value === "object" ? JSON.stringify(e.value) : e.value) }) : null)));
  if (!entities.length) $("try-entities").append(el("li", { class: "muted", text: T.nothing }));

  const mood = $("try-sentiment");
  mood.replaceChildren();
  const s = data.sentiment;
  fact(mood, T.sentiment, sentimentText(s));
  if (s && typeof s === "object") {
    if (typeof s.positive === "number") fact(mood, T.try_positive, bar(s.positive, T.try_positive));
    for (const [name, score] of Object.entries(s.emotions || {})) {
      const level = (s.levels || {})[name];
      fact(mood, T["emotion_" + name] || name, percent(score) + (level ? " · " + (T["level_" + level] || level) : ""));
    }
  }
  $("try-result").hidden = false;
}

function empty(span) {
  return el("tr", {}, el("td", { colspan: span, class: "muted", text: T.nothing }));
}
