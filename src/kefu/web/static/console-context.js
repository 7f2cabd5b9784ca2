// The right column: what the bot knew when it handed over (wants, intent, flow, slots, what it
// tried, the mood of each turn, reason and priority), the customer's profile and recent orders.
import { $, T, clock, el, fill, priorityBadge, reasonText } from "./console-util.js";

const MOODS = ["positive", "neutral", "negative", "angry"];

export function clear() {
  $("context").hidden = true;
  for (const id of ["summary", "moods", "tried", "profile", "recent"]) $(id).replaceChildren();
}

function pair(dl, label, value) {
  if (value === null || value === undefined || value === "") return;
  dl.append(el("dt", { text: label }), el("dd", {}, value));
}

// Values from the operator's backend are shown as they are, as text; money is in cents.
function plain(key, value) {
  if (value === null || value === undefined) return "";
  if (key.endsWith("_cents") && typeof value === "number") return (value / 100).toFixed(2);
  if (typeof value === "boolean") return value ? T.yes : T.no;
  if (Array.isArray(value)) return value.map((v) => plain("", v)).join(", ");
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => label(k) + ": " + plain(k, v)).join(", ");
  }
  return String(value);
}

function label(key) {
  return T["field_" + key] || key.replace(/_/g, " ");
}

function moodMark(entry) {
  const mood = MOODS.includes(entry.mood) ? entry.mood : "unknown";
  const words = fill(T.mood_turn, { turn: entry.turn, mood: T["mood_" + entry.mood] || entry.mood });
  return el("li", { class: "mood " + mood, title: words, "aria-label": words });
}

// One line per bot turn: "3 · faq · bike.deposit_refund (low_confidence)".
function triedLine(item) {
  if (typeof item !== "object" || item === null) return String(item);
  const parts = [item.turn ? "#" + item.turn : null, item.decision, item.what].filter(Boolean);
  return parts.join(" · ") + (item.reason ? " (" + item.reason + ")" : "");
}

const ORDER_LINES = {
  rides: (r) => [r.bike_code, [r.start_place, r.end_place].filter(Boolean).join(" → "),
    r.started_at && clock(r.started_at), r.ride_id].filter(Boolean).join(" · "),
  bookings: (b) => [b.listing_name, [b.check_in, b.check_out].filter(Boolean).join(" – "),
    b.status, b.booking_id].filter(Boolean).join(" · "),
};

export function render(context, handoff) {
  clear();
  if (!context) return;
  $("context").hidden = false;
  const s = context.summary || {};
  const dl = $("summary");
  pair(dl, T.field_wants, s.wants);
  pair(dl, T.field_intent, s.intent);
  pair(dl, T.field_flow, s.flow);
  pair(dl, T.field_topic, s.topic);
  const reason = s.reason || (handoff && handoff.reason);
  pair(dl, T.field_reason, reason ? reasonText(reason) : null);
  const priority = s.priority || (handoff && handoff.priority);
  if (priority) {
    pair(dl, T.field_priority, priorityBadge(priority) || T["priority_" + priority] || priority);
  }
  if (s.verified !== undefined && s.verified !== null) pair(dl, T.field_verified, plain("", s.verified));
  pair(dl, T.field_tier, s.tier);
  if (s.fallbacks) pair(dl, T.field_fallbacks, String(s.fallbacks));
  const slots = Object.entries(s.slots || {});
  if (slots.length) {
    const inner = el("dl", { class: "slots" });
    for (const [name, value] of slots) pair(inner, label(name), plain(name, value));
    pair(dl, T.field_slots, inner);
  }
  if (!dl.children.length) dl.append(el("dd", { class: "muted", text: T.no_summary }));

  const moods = s.sentiment || [];
  $("moods").replaceChildren(...moods.map(moodMark));
  $("moods").previousElementSibling.hidden = !moods.length;
  const tried = s.tried || [];
  $("tried").replaceChildren(...tried.map((item) => el("li", { text: triedLine(item) })));
  $("tried").previousElementSibling.hidden = !tried.length;

  const profile = Object.entries(context.profile || {}).filter(([, v]) => v !== null && v !== "");
  for (const [key, value] of profile) pair($("profile"), label(key), plain(key, value));
  if (!profile.length) $("profile").append(el("dd", { class: "muted", text: T.no_profile }));

  const box = $("recent");
  for (const [kind, rows] of Object.entries(context.recent || {})) {
    if (!Array.isArray(rows) || !rows.length) continue;
    const line = ORDER_LINES[kind] || ((row) => plain("", row));
    box.append(el("h3", { text: T["recent_" + kind] || label(kind) }),
      el("ul", { class: "orders" }, ...rows.slice(0, 5).map((row) => el("li", { text: line(row) }))));
  }
  if (!box.children.length) box.append(el("p", { class: "muted", text: T.none_recent }));
}
