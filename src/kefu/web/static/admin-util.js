// Helpers the admin console's sections share, on top of console-util.js (strings, the API
// helper with CSRF, DOM building). Text from the server always goes in as text nodes.
import { $, T, announce, can, el, fill } from "/console/console-util.js";

// Textarea "one per line" -> list (blank lines dropped).
export function lines(text) {
  return String(text).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
}

// "a, b，c、d" -> ["a", "b", "c", "d"]: the Chinese comma and enumeration comma count too.
export function words(text) {
  return String(text).split(/[,，、\n]/).map((s) => s.trim()).filter(Boolean);
}

export function number(value, digits = 2) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

export function percent(value) {
  return typeof value === "number" && Number.isFinite(value) ? Math.round(value * 100) + "%" : "–";
}

// A 0..1 value as a bar with its number beside it; `label` names it for screen readers.
export function bar(value, label) {
  const v = typeof value === "number" && Number.isFinite(value) ? Math.max(0, Math.min(1, value)) : 0;
  return el("span", { class: "bar" },
    el("meter", { min: 0, max: 1, value: v, "aria-label": label, low: 0.4, high: 0.7, optimum: 1 }),
    el("span", { class: "num", text: number(value) }));
}

const LOCALE = document.documentElement.lang || undefined;

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const thisYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(LOCALE, {
    year: thisYear ? undefined : "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
}

// What to tell the person when a request failed: our own words for known codes, else the API's
// message (which names the field) after "Not saved:".
export function failure(res) {
  if (res.code && T["err_" + res.code]) return T["err_" + res.code];
  if (res.status === 0) return T.err_network;
  if (res.status === 403) return T.err_forbidden;
  const message = res.data && res.data.error && res.data.error.message;
  return message ? fill(T.rejected, { message }) : T.error;
}

export function signedOut(res) {
  if (res.status !== 401) return false;
  dispatchEvent(new Event("kefu:signed-out"));
  return true;
}

// Mark a section read-only for accounts without `knowledge:write`: its editing controls hide and
// its fields can't be changed (they stay readable).
export function applyWrite(section, permission = "knowledge:write") {
  const writable = can(permission);
  for (const node of section.querySelectorAll(".can-write")) node.hidden = !writable;
  for (const node of section.querySelectorAll(".readonly-note")) node.hidden = writable;
  for (const node of section.querySelectorAll("fieldset.edit")) node.disabled = !writable;
  return writable;
}

// Tell a short result: in `node` (a visible live region), else to screen readers only.
export function done(node, text) {
  if (node) {
    node.textContent = "";
    setTimeout(() => { node.textContent = text; }, 30);  // the same words twice are read twice
  } else {
    announce(text);
  }
}

export function option(value, text, selected = false) {
  return el("option", { value, text: text ?? value, selected });
}

// Replace a <select>'s options after its first (the "any" choice), keeping the chosen value.
export function refill(select, values) {
  const chosen = select.value;
  const first = select.options[0];
  select.replaceChildren(first, ...values.map((v) => option(v, v, v === chosen)));
}

// An inline "Delete X? [Delete] [Cancel]" instead of window.confirm: keyboard and screen reader
// friendly, and the page never blocks.
export function confirmer(prefix, onYes) {
  const box = $(prefix + "-confirm");
  const ask = $(prefix + "-delete");
  const close = () => { box.hidden = true; ask.hidden = false; ask.focus(); };
  ask.addEventListener("click", () => {
    box.hidden = false;
    ask.hidden = true;
    $(prefix + "-delete-no").focus();
  });
  $(prefix + "-delete-no").addEventListener("click", close);
  $(prefix + "-delete-yes").addEventListener("click", async () => {
    box.hidden = true;
    ask.hidden = false;
    await onYes();
  });
  return (text) => { $(prefix + "-confirm-text").textContent = text; box.hidden = true; ask.hidden = false; };
}

export function decisionText(decision) {
  return T["decision_" + decision] || decision || "–";
}

export function sentimentText(sentiment) {
  if (!sentiment) return "–";
  if (typeof sentiment === "string") return T["mood_" + sentiment] || sentiment;
  const mood = sentiment.polarity || sentiment.mood || sentiment.label;
  const text = mood ? (T["mood_" + mood] || mood) : "";
  const positive = typeof sentiment.positive === "number" ? " " + fill(T.positive, { p: percent(sentiment.positive) }) : "";
  return (text + positive).trim() || "–";
}
