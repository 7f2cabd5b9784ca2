// Shared by the dashboard's modules: the filters (kept in the address so a view can be shared),
// the query strings for /v1/analytics, number formatting and CSV downloads.
import { $, T, el, fill } from "/console/console-util.js";
import { signedOut } from "/admin/admin-util.js";

export const LANG = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
const LOCALE = document.documentElement.lang || undefined;
export const FILTERS = ["since", "until", "skill", "channel", "language"];

// The filters as the address has them; empty means "the API's default" (the last 30 days).
export const filters = Object.fromEntries(FILTERS.map((k) => [k, ""]));

export function readAddress() {
  const params = new URLSearchParams(location.search);
  for (const key of FILTERS) filters[key] = (params.get(key) || "").trim();
}

// The address for these filters in a language (the page's own by default).
export function address(lang = LANG) {
  const params = new URLSearchParams({ lang });
  for (const key of FILTERS) if (filters[key]) params.set(key, filters[key]);
  return "/analytics?" + params;
}

// GET /v1/analytics/<path>?<filters>&<extra>; `extra` values that are null are left out.
export function endpoint(path, extra = {}) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (filters[key]) params.set(key, filters[key]);
  for (const [key, value] of Object.entries(extra)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return "/v1/analytics/" + path + (qs ? "?" + qs : "");
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const pct = new Intl.NumberFormat(LOCALE, {
  style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1,
});
const one = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });

export const DASH = "–";

// Days and hours are counted in the deployment's time zone (the API says which): times are
// shown in it too, so a conversation listed under "08:00" started at 08:xx, wherever the reader is.
export const zone = { name: undefined };

export function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23", timeZone: zone.name };
  try {
    return d.toLocaleString(LOCALE, options);
  } catch {  // a zone this browser doesn't know: its own
    return d.toLocaleString(LOCALE, { ...options, timeZone: undefined });
  }
}
export function count(v) { return isNum(v) ? integer.format(v) : DASH; }
export function percent(v) { return isNum(v) ? pct.format(v) : DASH; }
export function score(v) { return isNum(v) ? decimal.format(v) : DASH; }
export function signed(v) { return isNum(v) ? (v > 0 ? "+" : "") + decimal.format(v) : DASH; }

// Milliseconds as the unit a person would use: 850 ms, 2.5 s, 4.2 min, 1.5 h.
export function duration(ms) {
  if (!isNum(ms)) return DASH;
  if (ms < 1000) return fill(T.ms, { n: integer.format(ms) });
  if (ms < 60_000) return fill(T.s, { n: one.format(ms / 1000) });
  if (ms < 3_600_000) return fill(T.min, { n: one.format(ms / 60_000) });
  return fill(T.h, { n: one.format(ms / 3_600_000) });
}

export function skillName(skill) { return (skill && T["skill_" + skill]) || skill || DASH; }
export function langName(lang) { return (lang && T["lang_" + lang]) || lang || DASH; }
export function columnName(column) { return T["col_" + column] || column; }

// Why a request failed: our words for known codes, else the API's message (which names the
// field), else a generic error.
export function failure(res) {
  if (res.code && T["err_" + res.code]) return T["err_" + res.code];
  if (res.status === 0) return T.err_network;
  if (res.status === 403) return T.err_forbidden;
  const message = res.data && res.data.error && res.data.error.message;
  return message || T.error;
}

// A list of words (a gap cluster's label) or one text.
export function labelText(value) {
  return Array.isArray(value) ? value.join(" · ") : String(value ?? "");
}

// One table cell's text by its column's meaning.
export function cell(column, value) {
  if (value === null || value === undefined || value === "") return DASH;
  if (/(_rate|share)$/.test(column)) return percent(value);
  if (column.endsWith("_ms")) return duration(value);
  if (column.endsWith("_at")) return localTime(value);
  if (column === "hour") return fill(T.hour, { h: String(value).padStart(2, "0") });
  if (column === "satisfaction" || column === "ratio" || column === "expected") return score(value);
  if (column === "sentiment") return signed(value);
  if (column === "skill") return skillName(value);
  if (column === "language") return langName(value);
  if (column === "handed_off") return value ? T.yes : T.no;
  if (column === "status") return T["conv_" + value] || value;
  if (column === "kind") return T["kind_" + value] || value;
  if (column === "trend" && typeof value === "string") return T["trend_" + value] || value;
  if (Array.isArray(value)) return value.join(" · ");
  if (typeof value === "number") return Number.isInteger(value) ? count(value) : score(value);
  return String(value);
}

// A table's header row and body from the API's columns and rows; `actions(row)` adds a last cell
// and `render[column](value, row)` draws a column's cells as nodes of its own.
export function fillTable(table, columns, rows, actions, emptyText = T.no_data, render = {}) {
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: columnName(c) })));
  if (actions) head.append(el("th", { scope: "col" }, el("span", { class: "sr-only", text: T.list })));
  table.tHead.replaceChildren(head);
  const body = table.tBodies[0];
  body.replaceChildren(...rows.map((row) => {
    const tr = el("tr", {}, ...columns.map((c) => (render[c]
      ? el("td", {}, render[c](row[c], row))
      : el("td", { class: cellClass(c, row[c]), text: cell(c, row[c]) }))));
    if (actions) tr.append(el("td", { class: "actions" }, ...actions(row)));
    return tr;
  }));
  if (!rows.length) {
    const span = columns.length + (actions ? 1 : 0);
    body.append(el("tr", {}, el("td", { colspan: span, class: "empty", text: emptyText })));
  }
}

function cellClass(column, value) {
  if (typeof value === "number") return "num";
  return /(^day$|_day$|_at$)/.test(column) ? "nowrap" : null;
}

// Download an endpoint's CSV with the page's session (a fetch, so a failure is told, not saved).
export async function downloadCsv(url, name, status) {
  const sep = url.includes("?") ? "&" : "?";
  let res;
  try {
    res = await fetch(url + sep + "format=csv", {
      credentials: "same-origin", headers: { "Accept": "text/csv" },
    });
  } catch (err) {
    res = null;
  }
  if (!res || !res.ok) {
    const data = res ? await res.json().catch(() => null) : null;
    const outcome = { status: res ? res.status : 0, data, code: data && data.error ? data.error.code : null };
    if (signedOut(outcome)) return;
    status(fill(T.csv_failed, { why: failure(outcome) }), true);
    return;
  }
  const blob = await res.blob();
  const given = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(res.headers.get("Content-Disposition") || "");
  const file = given ? decodeURIComponent(given[1]) : `kefu-${name}.csv`;
  const link = el("a", { href: URL.createObjectURL(blob), download: file, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  status(fill(T.csv_done, { file }), false);
}

// Status lines: `#load-error` for failures, the polite `#announce` region for the rest.
export function tell(text, isError) {
  const node = isError ? $("load-error") : $("announce");
  node.textContent = "";
  setTimeout(() => { node.textContent = text; }, 30);
}
